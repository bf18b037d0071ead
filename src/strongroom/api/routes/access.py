"""Tenants (platform admin) and API keys (a tenant's admin)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from strongroom.api.deps import IDEMPOTENT, Admin, PlatformAdmin, access_of, idempotency_key
from strongroom.api.routes._common import KEYED, mark_replay, problems
from strongroom.api.schemas import (
    ApiKeyCreate,
    ApiKeyCreated,
    ApiKeyOut,
    ApiKeyPage,
    TenantCreate,
    TenantCreated,
)
from strongroom.domain.errors import (
    AlreadyExists,
    IdempotencyKeyReused,
    NotFound,
    PayloadTooLarge,
    StorageUnavailable,
    Unauthenticated,
)

router = APIRouter(tags=["access"])


@router.post(
    "/v1/tenants",
    status_code=201,
    response_model=TenantCreated,
    responses=problems(Unauthenticated, AlreadyExists, PayloadTooLarge, StorageUnavailable),
)
def create_tenant(body: TenantCreate, request: Request, _: PlatformAdmin) -> dict[str, Any]:
    """Create a tenant and its first API key (every scope; shown once)."""
    tenant, secret = access_of(request).create_tenant(body.name)
    return {"tenant": tenant.to_dict(), "api_key": secret}


@router.post(
    "/v1/api-keys",
    status_code=201,
    response_model=ApiKeyCreated,
    responses=problems(*KEYED, PayloadTooLarge, IdempotencyKeyReused),
    openapi_extra=IDEMPOTENT,
)
def create_key(
    body: ApiKeyCreate, request: Request, principal: Admin, response: Response
) -> dict[str, Any]:
    """Create a key with the given scopes; its secret is in this response only.

    An idempotent replay answers the same key with ``"key": null``.
    """
    key, secret = access_of(request).create_key(
        principal.tenant,
        body.name,
        body.scopes,
        body.expires_at,
        idempotency_key=idempotency_key(request),
    )
    mark_replay(response, secret is None)
    return {**key.to_dict(), "key": secret}


@router.get("/v1/api-keys", response_model=ApiKeyPage, responses=problems(*KEYED))
def list_keys(
    request: Request, principal: Admin, limit: int = 100, cursor: str | None = None
) -> dict[str, Any]:
    """The tenant's keys, never their secrets."""
    page = access_of(request).list_keys(principal.tenant, limit=limit, cursor=cursor)
    return {"data": [k.to_dict() for k in page.data], "next_cursor": page.next_cursor}


@router.delete(
    "/v1/api-keys/{key_id}", response_model=ApiKeyOut, responses=problems(*KEYED, NotFound)
)
def revoke_key(key_id: str, request: Request, principal: Admin) -> dict[str, Any]:
    """Revoke a key at once: its next request answers 401."""
    return access_of(request).revoke(principal.tenant, key_id).to_dict()
