"""The event feed: ``GET /v1/events``, the outbox in commit order for consumers that pull."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from strongroom.api.deps import ReadLedger
from strongroom.api.routes._common import KEYED, in_read_thread, problems
from strongroom.api.schemas import EventPage
from strongroom.domain.errors import ValidationError

router = APIRouter(prefix="/v1/events", tags=["events"])

AfterQ = Annotated[
    str | None,
    Query(
        max_length=512,
        description="The id of the last event handled (evt_...) or a next_cursor; "
        "absent: from the first event",
    ),
]


@router.get("", response_model=EventPage, responses=problems(*KEYED))
async def list_events(
    ledger: ReadLedger,
    request: Request,
    after: AfterQ = None,
    cursor: Annotated[
        str | None, Query(max_length=512, description="Same as `after` (for list helpers)")
    ] = None,
    types: Annotated[
        str | None,
        Query(max_length=4000, description="Comma-separated event types to keep; absent: all"),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000, description="Page size, 1 to 1000")] = 100,
) -> dict[str, Any]:
    """Events in commit order (the order their changes committed), after `after`.

    A consumer resumes where it stopped by passing the id of the last event it
    handled, or the last `next_cursor` it got; `next_cursor` is null when no
    more events exist yet. An unknown event id in `after` (another tenant's
    too) answers 400 `VALIDATION_ERROR`. Consumers dedupe by event `id`.
    """
    if after is not None and cursor is not None:
        raise ValidationError("give after or cursor, not both", loc=("after",))
    page = await in_read_thread(
        request,
        ledger.list_events,
        after=after if after is not None else cursor,
        types=types,
        limit=limit,
    )
    return {"data": [e.to_dict() for e in page.data], "next_cursor": page.next_cursor}
