"""Transactions, transfers, batches, holds and reversals."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from strongroom.api.deps import IDEMPOTENT, ReadLedger, WriteLedger, idempotency_key
from strongroom.api.problems import problem_body
from strongroom.api.routes._common import KEYED, in_read_thread, mark_replay, problems
from strongroom.api.schemas import (
    BatchCreate,
    BatchOut,
    PostPending,
    ReverseCreate,
    TransactionCreate,
    TransactionOut,
    TransactionPage,
    TransferCreate,
)
from strongroom.domain.errors import (
    AccountClosed,
    AccountFrozen,
    AmountExceedsHold,
    AmountOverflow,
    CurrencyMismatch,
    HoldNotPending,
    IdempotencyKeyReused,
    InsufficientFunds,
    InvalidState,
    NotFound,
    PayloadTooLarge,
    UnbalancedTransaction,
    UnknownCurrency,
)
from strongroom.domain.transactions import Transaction
from strongroom.engine.requests import TransactionRequest

router = APIRouter(tags=["transactions"])
NEW_TRANSACTION = (
    *KEYED,
    NotFound,
    PayloadTooLarge,
    InsufficientFunds,
    CurrencyMismatch,
    AccountFrozen,
    AccountClosed,
    UnknownCurrency,
    AmountOverflow,
    IdempotencyKeyReused,
)
"""What a new transaction can answer, as a transaction or as a transfer."""


def _tx(tx: Transaction, response: Response) -> dict[str, Any]:
    mark_replay(response, tx.replayed)
    return tx.to_dict()


@router.post(
    "/v1/transactions",
    status_code=201,
    response_model=TransactionOut,
    responses=problems(*NEW_TRANSACTION, UnbalancedTransaction),
    openapi_extra=IDEMPOTENT,
)
async def create_transaction(
    body: TransactionCreate, ledger: WriteLedger, request: Request, response: Response
) -> dict[str, Any]:
    """Post (or hold, with ``pending``) a transaction whose debits equal its credits."""
    tx = await ledger.post_async(
        [line.model_dump() for line in body.lines],
        currency=body.currency,
        description=body.description,
        metadata=body.metadata,
        kind=body.kind,
        pending=body.pending,
        timeout_seconds=body.timeout_seconds,
        idempotency_key=idempotency_key(request),
    )
    return _tx(tx, response)


@router.post(
    "/v1/transfers",
    status_code=201,
    response_model=TransactionOut,
    responses=problems(*NEW_TRANSACTION),
    openapi_extra=IDEMPOTENT,
)
async def create_transfer(
    body: TransferCreate, ledger: WriteLedger, request: Request, response: Response
) -> dict[str, Any]:
    """Debit ``from`` and credit ``to`` by ``amount``."""
    tx = await ledger.transfer_async(
        body.from_,
        body.to,
        body.amount,
        body.currency,
        description=body.description,
        metadata=body.metadata,
        kind=body.kind,
        pending=body.pending,
        timeout_seconds=body.timeout_seconds,
        idempotency_key=idempotency_key(request),
    )
    return _tx(tx, response)


@router.post(
    "/v1/transactions/batch",
    response_model=BatchOut,
    # An item's refusal is its result (in a 200), not the batch's problem.
    responses=problems(*KEYED, PayloadTooLarge, IdempotencyKeyReused),
    openapi_extra=IDEMPOTENT,
)
async def create_batch(
    body: BatchCreate, ledger: WriteLedger, request: Request, response: Response
) -> dict[str, Any]:
    """Up to 1,000 transactions in one database transaction, a result each, in order.

    With ``atomic`` all commit or none does (the others answer BATCH_ABORTED).
    """
    requests = [
        TransactionRequest(
            lines=[line.model_dump() for line in item.lines],
            currency=item.currency,
            description=item.description,
            metadata=item.metadata,
            kind=item.kind,
            pending=item.pending,
            timeout_seconds=item.timeout_seconds,
            idempotency_key=item.idempotency_key,
        )
        for item in body.transactions
    ]
    results = await run_in_threadpool(
        ledger.batch, requests, atomic=body.atomic, idempotency_key=idempotency_key(request)
    )
    mark_replay(response, any(r.replayed for r in results))
    return {
        "results": [
            {"status": r.status, "transaction": r.transaction.to_dict()}
            if r.transaction is not None
            else {"status": r.status, "error": problem_body(r.error) if r.error else None}
            for r in results
        ]
    }


@router.post(
    "/v1/transactions/{transaction_id}/post",
    response_model=TransactionOut,
    responses=problems(
        *KEYED,
        NotFound,
        HoldNotPending,
        InvalidState,
        PayloadTooLarge,
        AmountExceedsHold,
        AccountFrozen,
        AmountOverflow,
        IdempotencyKeyReused,
    ),
    openapi_extra=IDEMPOTENT,
)
async def post_pending(
    transaction_id: str,
    ledger: WriteLedger,
    request: Request,
    response: Response,
    body: PostPending | None = None,
) -> dict[str, Any]:
    """Post a pending transaction in full, or ``amount`` of it (the rest is released)."""
    amount = body.amount if body is not None else None
    tx = await run_in_threadpool(
        ledger.post_pending, transaction_id, amount, idempotency_key=idempotency_key(request)
    )
    return _tx(tx, response)


@router.post(
    "/v1/transactions/{transaction_id}/void",
    response_model=TransactionOut,
    responses=problems(*KEYED, NotFound, HoldNotPending, IdempotencyKeyReused),
    openapi_extra=IDEMPOTENT,
)
async def void_pending(
    transaction_id: str, ledger: WriteLedger, request: Request, response: Response
) -> dict[str, Any]:
    """Release a pending transaction."""
    tx = await run_in_threadpool(
        ledger.void_pending, transaction_id, idempotency_key=idempotency_key(request)
    )
    return _tx(tx, response)


@router.post(
    "/v1/transactions/{transaction_id}/reverse",
    status_code=201,
    response_model=TransactionOut,
    responses=problems(
        *KEYED,
        NotFound,
        InvalidState,
        PayloadTooLarge,
        InsufficientFunds,
        AccountFrozen,
        AccountClosed,
        AmountOverflow,
        IdempotencyKeyReused,
    ),
    openapi_extra=IDEMPOTENT,
)
async def reverse(
    transaction_id: str,
    ledger: WriteLedger,
    request: Request,
    response: Response,
    body: ReverseCreate | None = None,
) -> dict[str, Any]:
    """A new posted transaction with every line's side swapped, linked by ``reverses``."""
    description = body.description if body is not None else None
    tx = await run_in_threadpool(
        ledger.reverse,
        transaction_id,
        description=description,
        idempotency_key=idempotency_key(request),
    )
    return _tx(tx, response)


@router.get(
    "/v1/transactions/{transaction_id}",
    response_model=TransactionOut,
    responses=problems(*KEYED, NotFound),
)
async def get_transaction(
    transaction_id: str, ledger: ReadLedger, request: Request
) -> dict[str, Any]:
    return (await in_read_thread(request, ledger.get_transaction, transaction_id)).to_dict()


@router.get("/v1/transactions", response_model=TransactionPage, responses=problems(*KEYED))
async def list_transactions(
    ledger: ReadLedger,
    request: Request,
    account: Annotated[str | None, Query(max_length=128)] = None,
    kind: Annotated[str | None, Query(max_length=64)] = None,
    start: Annotated[datetime | None, Query(alias="from")] = None,
    end: Annotated[datetime | None, Query(alias="to")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    cursor: Annotated[str | None, Query()] = None,
) -> dict[str, Any]:
    """Transactions in sequence order, filtered by an account they touch, kind, or time."""
    page = await in_read_thread(
        request,
        ledger.list_transactions,
        account=account,
        kind=kind,
        start=start,
        end=end,
        limit=limit,
        cursor=cursor,
    )
    return {"data": [tx.to_dict() for tx in page.data], "next_cursor": page.next_cursor}
