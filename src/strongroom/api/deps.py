"""Dependencies: the caller's key, its scopes, and its tenant's ledger."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from strongroom.access.service import Access, Principal, admin_token_matches
from strongroom.api.settings import Settings
from strongroom.domain.errors import Unauthenticated
from strongroom.engine.ledger import Ledger
from strongroom.events.endpoints import Webhooks

_BEARER = "An API key: `Authorization: Bearer sr_...`"


def _token(credentials: HTTPAuthorizationCredentials | None) -> str:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Unauthenticated("missing credential: send Authorization: Bearer <api key>")
    return credentials.credentials


class _Bearer(HTTPBearer):
    """The bearer scheme as the route's one dependency, with what it guards.

    FastAPI documents a ``SecurityBase`` dependency as the scheme it is, and
    resolves every further dependency of a route's tree for each request: the
    scheme nested under our dependency cost a second level of that on every
    request. Each subclass reads the header as ``HTTPBearer`` does, then checks
    it, in one call. All answer to one scheme, ``HTTPBearer``, in the OpenAPI
    document.
    """

    def __init__(self) -> None:
        super().__init__(auto_error=False, scheme_name="HTTPBearer", description=_BEARER)

    async def token(self, request: Request) -> str:
        return _token(await HTTPBearer.__call__(self, request))


class _PrincipalWith(_Bearer):
    """Authenticate the key and require ``scope``.

    A key in the app's key cache is checked on the event loop, with no I/O;
    any other goes to the database on a worker thread.
    """

    def __init__(self, scope: str) -> None:
        super().__init__()
        self.scope = scope

    async def principal(self, request: Request) -> Principal:
        access: Access = request.app.state.access
        token = await self.token(request)
        principal = access.cached(token)
        if principal is None:
            principal = await run_in_threadpool(access.authenticate, token)
        principal.require(self.scope)
        request.state.tenant = principal.tenant
        return principal

    async def __call__(self, request: Request) -> Principal:  # type: ignore[override]
        return await self.principal(request)


class _LedgerWith(_PrincipalWith):
    """The caller's tenant ledger, once ``scope`` is checked."""

    async def __call__(self, request: Request) -> Ledger:  # type: ignore[override]
        principal = await self.principal(request)
        root: Ledger = request.app.state.ledger
        return root.for_tenant(principal.tenant, create=False)


class _PlatformAdmin(_Bearer):
    """Only the holder of STRONGROOM_ADMIN_TOKEN (tenant keys never qualify)."""

    async def __call__(self, request: Request) -> None:  # type: ignore[override]
        settings: Settings = request.app.state.settings
        if not admin_token_matches(settings.admin_token, await self.token(request)):
            raise Unauthenticated("this endpoint needs the platform admin token")


ReadLedger = Annotated[Ledger, Depends(_LedgerWith("ledger:read"))]
WriteLedger = Annotated[Ledger, Depends(_LedgerWith("ledger:write"))]
AdminLedger = Annotated[Ledger, Depends(_LedgerWith("admin"))]
Admin = Annotated[Principal, Depends(_PrincipalWith("admin"))]
PlatformAdmin = Annotated[None, Depends(_PlatformAdmin())]
_IDEMPOTENCY_KEY = "1 to 255 printable characters; the same key and request replay the result"
IDEMPOTENT: dict[str, Any] = {
    "parameters": [
        {
            "name": "Idempotency-Key",
            "in": "header",
            "required": False,
            "description": _IDEMPOTENCY_KEY,
            "schema": {
                "anyOf": [{"type": "string"}, {"type": "null"}],
                "title": "Idempotency-Key",
                "description": _IDEMPOTENCY_KEY,
            },
        }
    ]
}
"""``openapi_extra`` of a route that reads :func:`idempotency_key`: the header in its docs."""


def idempotency_key(request: Request) -> str | None:
    """The request's ``Idempotency-Key`` header, as sent (the engine checks it).

    Read from the request rather than declared as a FastAPI ``Header`` parameter:
    FastAPI validates a declared header through its generic parameter code on
    every request, about a fifth of solving a write route's dependencies. A
    route that reads it documents it with ``openapi_extra=IDEMPOTENT``.
    """
    return request.headers.get("idempotency-key")


def access_of(request: Request) -> Access:
    access: Access = request.app.state.access
    return access


async def webhooks_of(request: Request) -> Webhooks:
    """The webhook endpoints service of the app."""
    webhooks: Webhooks = request.app.state.webhooks
    return webhooks


WebhookService = Annotated[Webhooks, Depends(webhooks_of)]
