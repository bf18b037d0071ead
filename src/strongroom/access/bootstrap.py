"""The first tenant of an empty database, which ``strongroom serve`` creates.

Its key is printed once, on the server's standard output, with a request that
works; it is never logged.
"""

from __future__ import annotations

from strongroom.access.service import Access, Tenant
from strongroom.domain.errors import AlreadyExists

FIRST_TENANT = "first tenant"


def create_first_tenant(access: Access) -> tuple[Tenant, str] | None:
    """A first tenant and its key when the database has no tenant; else None.

    Several server processes may try at once: the unique name lets one win.
    """
    if access.has_tenants():
        return None
    try:
        return access.create_tenant(FIRST_TENANT)
    except AlreadyExists:
        return None


def banner(base_url: str, tenant: Tenant, secret: str) -> str:
    """What a newcomer reads once: the tenant, its key, and a request to try."""
    return (
        f"created tenant {tenant.id} ({tenant.name}); its API key, shown once:\n"
        f"  {secret}\n"
        "try:\n"
        f"  curl -s -X POST {base_url}/v1/accounts -H 'Authorization: Bearer {secret}' "
        """-H 'Content-Type: application/json' -d '{"id": "user:1", "currency": "USD"}'"""
    )
