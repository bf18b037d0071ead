"""Webhook endpoints, their deliveries, and manual retries.

Every route needs the ``admin`` scope and only translates between HTTP and
:class:`strongroom.events.endpoints.Webhooks`. The routes are plain ``def``
(run in the thread pool): saving a URL resolves its host, which the service
does on an event loop of its own.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response

from strongroom.api.deps import IDEMPOTENT, Admin, WebhookService, idempotency_key
from strongroom.api.routes._common import KEYED, mark_replay, problems
from strongroom.api.schemas import (
    DeliveryStatus,
    RotateSecret,
    WebhookDeliveryOut,
    WebhookDeliveryPage,
    WebhookEndpointCreate,
    WebhookEndpointCreated,
    WebhookEndpointOut,
    WebhookEndpointPage,
    WebhookEndpointUpdate,
)
from strongroom.domain.errors import IdempotencyKeyReused, InvalidState, NotFound, PayloadTooLarge

router = APIRouter(tags=["webhooks"])
ENDPOINTS = "/v1/webhook-endpoints"
DELIVERIES = "/v1/webhook-deliveries"
LimitQ = Annotated[int, Query(ge=1, le=1000, description="Page size, 1 to 1000")]
CursorQ = Annotated[str | None, Query(description="next_cursor of the previous page")]


@router.post(
    ENDPOINTS,
    status_code=201,
    response_model=WebhookEndpointCreated,
    responses=problems(*KEYED, PayloadTooLarge, IdempotencyKeyReused),
    openapi_extra=IDEMPOTENT,
)
def create_endpoint(
    body: WebhookEndpointCreate,
    principal: Admin,
    webhooks: WebhookService,
    request: Request,
    response: Response,
) -> dict[str, Any]:
    """Register a URL for the given event types (`["*"]`: all of them).

    The answer holds the signing secret (`whsec_...`), shown this once; an
    idempotent replay answers the same endpoint with `"secret": null`. A URL
    whose host is not public (loopback, private, link-local...) is refused
    with 400 unless the operator allowed it.
    """
    endpoint, secret = webhooks.create(
        principal.tenant,
        body.url,
        body.events,
        body.description,
        idempotency_key=idempotency_key(request),
    )
    mark_replay(response, secret is None)
    return {**endpoint.to_dict(), "secret": secret}


@router.get(ENDPOINTS, response_model=WebhookEndpointPage, responses=problems(*KEYED))
def list_endpoints(
    principal: Admin, webhooks: WebhookService, limit: LimitQ = 100, cursor: CursorQ = None
) -> dict[str, Any]:
    """The tenant's endpoints in id order, never their secrets."""
    page = webhooks.list(principal.tenant, limit=limit, cursor=cursor)
    return {"data": [e.to_dict() for e in page.data], "next_cursor": page.next_cursor}


@router.get(
    ENDPOINTS + "/{endpoint_id}",
    response_model=WebhookEndpointOut,
    responses=problems(*KEYED, NotFound),
)
def get_endpoint(endpoint_id: str, principal: Admin, webhooks: WebhookService) -> dict[str, Any]:
    """One endpoint, without its secret."""
    return webhooks.get(principal.tenant, endpoint_id).to_dict()


@router.patch(
    ENDPOINTS + "/{endpoint_id}",
    response_model=WebhookEndpointOut,
    responses=problems(*KEYED, NotFound, PayloadTooLarge),
)
def update_endpoint(
    endpoint_id: str, body: WebhookEndpointUpdate, principal: Admin, webhooks: WebhookService
) -> dict[str, Any]:
    """Change the URL, event types, description or status; absent or null fields stay.

    `"status": "enabled"` re-enables an endpoint disabled by a user or by a 410
    Gone answer; deliveries dead-lettered meanwhile can then be retried.
    """
    endpoint = webhooks.update(
        principal.tenant,
        endpoint_id,
        url=body.url,
        events=body.events,
        description=body.description,
        status=body.status,
    )
    return endpoint.to_dict()


@router.delete(
    ENDPOINTS + "/{endpoint_id}",
    response_model=WebhookEndpointOut,
    responses=problems(*KEYED, NotFound),
)
def delete_endpoint(endpoint_id: str, principal: Admin, webhooks: WebhookService) -> dict[str, Any]:
    """Delete the endpoint (answered as it was): nothing more is sent to it."""
    return webhooks.delete(principal.tenant, endpoint_id).to_dict()


@router.post(
    ENDPOINTS + "/{endpoint_id}/rotate-secret",
    response_model=WebhookEndpointCreated,
    responses=problems(*KEYED, NotFound, PayloadTooLarge),
)
def rotate_secret(
    endpoint_id: str,
    principal: Admin,
    webhooks: WebhookService,
    body: RotateSecret | None = None,
) -> dict[str, Any]:
    """A new signing secret, shown this once.

    The previous secret keeps signing too (a second signature in
    `webhook-signature`) for `overlap_seconds`, a day by default, so receivers
    can switch without losing a delivery.
    """
    overlap = body.overlap_seconds if body is not None else None
    endpoint, secret = webhooks.rotate_secret(
        principal.tenant, endpoint_id, overlap_seconds=overlap
    )
    return {**endpoint.to_dict(), "secret": secret}


@router.get(
    ENDPOINTS + "/{endpoint_id}/deliveries",
    response_model=WebhookDeliveryPage,
    responses=problems(*KEYED, NotFound),
)
def list_deliveries(
    endpoint_id: str,
    principal: Admin,
    webhooks: WebhookService,
    status: Annotated[DeliveryStatus | None, Query(description="Only this status")] = None,
    limit: LimitQ = 100,
    cursor: CursorQ = None,
) -> dict[str, Any]:
    """The endpoint's deliveries, newest event first, each with its attempts."""
    page = webhooks.deliveries(
        principal.tenant, endpoint_id, status=status, limit=limit, cursor=cursor
    )
    return {"data": [d.to_dict() for d in page.data], "next_cursor": page.next_cursor}


@router.get(
    DELIVERIES + "/{delivery_id}",
    response_model=WebhookDeliveryOut,
    responses=problems(*KEYED, NotFound),
)
def get_delivery(delivery_id: str, principal: Admin, webhooks: WebhookService) -> dict[str, Any]:
    """One delivery: its status, schedule and every attempt."""
    return webhooks.get_delivery(principal.tenant, delivery_id).to_dict()


@router.post(
    DELIVERIES + "/{delivery_id}/retry",
    response_model=WebhookDeliveryOut,
    responses=problems(*KEYED, NotFound, InvalidState),
)
def retry_delivery(delivery_id: str, principal: Admin, webhooks: WebhookService) -> dict[str, Any]:
    """Send a finished (dead or succeeded) delivery again, at once.

    A delivery still pending, or one whose endpoint is disabled, answers 409
    `INVALID_STATE`.
    """
    return webhooks.retry(principal.tenant, delivery_id).to_dict()
