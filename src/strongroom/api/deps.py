"""Dependencies: the caller's key, its scopes, and its tenant's ledger."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Header, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from strongroom.access.service import Access, Principal, admin_token_matches
from strongroom.api.settings import Settings
from strongroom.domain.errors import Unauthenticated
from strongroom.engine.ledger import Ledger
from strongroom.events.endpoints import Webhooks

bearer = HTTPBearer(auto_error=False, description="An API key: `Authorization: Bearer sr_...`")
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]


def _token(credentials: HTTPAuthorizationCredentials | None) -> str:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Unauthenticated("missing credential: send Authorization: Bearer <api key>")
    return credentials.credentials


def principal_with(scope: str) -> Callable[..., Awaitable[Principal]]:
    """A dependency that authenticates the key and requires ``scope``.

    A key in the app's key cache is checked on the event loop, with no I/O;
    any other goes to the database on a worker thread.
    """

    async def dependency(request: Request, credentials: Credentials) -> Principal:
        access: Access = request.app.state.access
        token = _token(credentials)
        principal = access.cached(token)
        if principal is None:
            principal = await run_in_threadpool(access.authenticate, token)
        principal.require(scope)
        request.state.tenant = principal.tenant
        return principal

    return dependency


def ledger_with(scope: str) -> Callable[..., Awaitable[Ledger]]:
    """A dependency giving the caller's tenant ledger, once ``scope`` is checked."""
    authenticate = principal_with(scope)

    async def dependency(request: Request, credentials: Credentials) -> Ledger:
        principal = await authenticate(request, credentials)
        root: Ledger = request.app.state.ledger
        return root.for_tenant(principal.tenant, create=False)

    return dependency


async def platform_admin(request: Request, credentials: Credentials) -> None:
    """Only the holder of STRONGROOM_ADMIN_TOKEN (tenant keys never qualify)."""
    settings: Settings = request.app.state.settings
    if not admin_token_matches(settings.admin_token, _token(credentials)):
        raise Unauthenticated("this endpoint needs the platform admin token")


ReadLedger = Annotated[Ledger, Depends(ledger_with("ledger:read"))]
WriteLedger = Annotated[Ledger, Depends(ledger_with("ledger:write"))]
AdminLedger = Annotated[Ledger, Depends(ledger_with("admin"))]
Admin = Annotated[Principal, Depends(principal_with("admin"))]
PlatformAdmin = Annotated[None, Depends(platform_admin)]
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        description="1 to 255 printable characters; the same key and request replay the result",
    ),
]


def access_of(request: Request) -> Access:
    access: Access = request.app.state.access
    return access


async def webhooks_of(request: Request) -> Webhooks:
    """The webhook endpoints service of the app."""
    webhooks: Webhooks = request.app.state.webhooks
    return webhooks


WebhookService = Annotated[Webhooks, Depends(webhooks_of)]
