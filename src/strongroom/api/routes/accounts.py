"""Accounts: create, read, list, update, balance (now or then), statement."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from strongroom.api.deps import IDEMPOTENT, ReadLedger, WriteLedger, idempotency_key
from strongroom.api.routes._common import KEYED, in_read_thread, mark_replay, problems
from strongroom.api.schemas import (
    AccountBalanceOut,
    AccountCreate,
    AccountOut,
    AccountPage,
    AccountUpdate,
    StatementPage,
)
from strongroom.domain.accounts import Account, Balance
from strongroom.domain.errors import (
    AlreadyExists,
    IdempotencyKeyReused,
    InvalidState,
    NotFound,
    PayloadTooLarge,
    UnknownCurrency,
)

router = APIRouter(prefix="/v1/accounts", tags=["accounts"])
LimitQ = Annotated[int, Query(ge=1, le=1000, description="Page size, 1 to 1000")]
CursorQ = Annotated[str | None, Query(description="next_cursor of the previous page")]


@router.post(
    "",
    status_code=201,
    response_model=AccountOut,
    responses=problems(
        *KEYED, AlreadyExists, PayloadTooLarge, UnknownCurrency, IdempotencyKeyReused
    ),
    openapi_extra=IDEMPOTENT,
)
async def create_account(
    body: AccountCreate, ledger: WriteLedger, request: Request, response: Response
) -> dict[str, Any]:
    """Create an account; the same id again answers 409 ALREADY_EXISTS."""
    account = await run_in_threadpool(
        ledger.create_account,
        body.id,
        currency=body.currency,
        normal_balance=body.normal_balance,
        overdraft_limit=body.overdraft_limit,
        metadata=body.metadata,
        idempotency_key=idempotency_key(request),
    )
    mark_replay(response, account.replayed)
    return account.to_dict()


@router.get("", response_model=AccountPage, responses=problems(*KEYED))
async def list_accounts(
    ledger: ReadLedger,
    request: Request,
    prefix: Annotated[str | None, Query(max_length=128)] = None,
    limit: LimitQ = 100,
    cursor: CursorQ = None,
) -> dict[str, Any]:
    """Accounts in id order, optionally those whose id starts with ``prefix``."""
    page = await in_read_thread(
        request, ledger.list_accounts, prefix=prefix, limit=limit, cursor=cursor
    )
    return {"data": [a.to_dict() for a in page.data], "next_cursor": page.next_cursor}


@router.get("/{account_id}", response_model=AccountOut, responses=problems(*KEYED, NotFound))
async def get_account(account_id: str, ledger: ReadLedger, request: Request) -> dict[str, Any]:
    return (await in_read_thread(request, ledger.get_account, account_id)).to_dict()


@router.patch(
    "/{account_id}",
    response_model=AccountOut,
    responses=problems(*KEYED, NotFound, InvalidState, PayloadTooLarge, IdempotencyKeyReused),
    openapi_extra=IDEMPOTENT,
)
async def update_account(
    account_id: str,
    body: AccountUpdate,
    ledger: WriteLedger,
    request: Request,
    response: Response,
) -> dict[str, Any]:
    """Change status, overdraft limit (null: unlimited) or metadata (replaced whole)."""
    changes: dict[str, Any] = {}
    if body.status is not None:
        changes["status"] = body.status
    if "overdraft_limit" in body.model_fields_set:
        changes["overdraft_limit"] = body.overdraft_limit
    if body.metadata is not None:
        changes["metadata"] = body.metadata
    account = await run_in_threadpool(
        ledger.update_account, account_id, idempotency_key=idempotency_key(request), **changes
    )
    mark_replay(response, account.replayed)
    return account.to_dict()


@router.get(
    "/{account_id}/balance",
    response_model=AccountBalanceOut,
    responses=problems(*KEYED, NotFound),
)
async def get_balance(
    account_id: str,
    ledger: ReadLedger,
    request: Request,
    at: Annotated[datetime | None, Query(description="RFC 3339 time; absent: now")] = None,
) -> dict[str, Any]:
    """The balance now, or as it stood at ``at``."""

    def read() -> tuple[Account, Balance]:
        return ledger.get_account(account_id), ledger.balance(account_id, at=at)

    account, balance = await in_read_thread(request, read)
    return {**balance.to_dict(), "account": account.id, "currency": account.currency, "at": at}


@router.get(
    "/{account_id}/statement",
    response_model=StatementPage,
    responses=problems(*KEYED, NotFound),
)
async def get_statement(
    account_id: str,
    ledger: ReadLedger,
    request: Request,
    start: Annotated[datetime | None, Query(alias="from")] = None,
    end: Annotated[datetime | None, Query(alias="to")] = None,
    limit: LimitQ = 100,
    cursor: CursorQ = None,
) -> dict[str, Any]:
    """Posted lines in sequence order, each with the balance right after it."""
    page = await in_read_thread(
        request, ledger.statement, account_id, start=start, end=end, limit=limit, cursor=cursor
    )
    return {"data": [line.to_dict() for line in page.data], "next_cursor": page.next_cursor}
