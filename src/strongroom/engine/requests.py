"""Requests of a batch, and their per-item results."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from strongroom.domain.errors import StrongroomError, ValidationError, error_from_dict
from strongroom.domain.snapshots import transaction_from_dict
from strongroom.domain.transactions import Line, Transaction
from strongroom.engine.uow import UnitOfWork


@dataclass(frozen=True, slots=True)
class TransactionRequest:
    """A multi-line transaction, as ``Ledger.post`` takes it."""

    lines: Sequence[Line | Mapping[str, Any]]
    currency: str
    description: str | None = None
    metadata: Mapping[str, str] | None = None
    kind: str | None = None
    pending: bool = False
    timeout_seconds: int | None = None
    idempotency_key: str | None = None

    def apply(self, uow: UnitOfWork) -> Transaction:
        return uow.post(
            self.lines,
            currency=self.currency,
            description=self.description,
            metadata=self.metadata,
            kind=self.kind,
            pending=self.pending,
            timeout_seconds=self.timeout_seconds,
            idempotency_key=self.idempotency_key,
        )


@dataclass(frozen=True, slots=True)
class TransferRequest:
    """A transfer, as ``Ledger.transfer`` takes it."""

    source: str
    destination: str
    amount: int
    currency: str
    description: str | None = None
    metadata: Mapping[str, str] | None = None
    kind: str | None = None
    pending: bool = False
    timeout_seconds: int | None = None
    idempotency_key: str | None = None

    def apply(self, uow: UnitOfWork) -> Transaction:
        return uow.transfer(
            self.source,
            self.destination,
            self.amount,
            self.currency,
            description=self.description,
            metadata=self.metadata,
            kind=self.kind,
            pending=self.pending,
            timeout_seconds=self.timeout_seconds,
            idempotency_key=self.idempotency_key,
        )


@dataclass(frozen=True, slots=True)
class BatchResult:
    """One item's outcome: ``status`` 201 with a transaction, or an error's status."""

    status: int
    transaction: Transaction | None = None
    error: StrongroomError | None = field(default=None)
    replayed: bool = field(default=False, compare=False)

    @property
    def ok(self) -> bool:
        return self.error is None

    def to_dict(
        self, tx_body: Callable[[Transaction], dict[str, Any]] | None = None
    ) -> dict[str, Any]:
        """The item as a batch response shows it; ``tx_body`` renders its transaction
        (a unit of work's :meth:`~strongroom.engine.uow.UnitOfWork.tx_body`)."""
        body: dict[str, Any] = {"status": self.status}
        if self.transaction is not None:
            tx = self.transaction
            body["transaction"] = tx.to_dict() if tx_body is None else tx_body(tx)
        if self.error is not None:
            body["error"] = self.error.to_dict()
        return body

    @classmethod
    def from_dict(cls, body: Mapping[str, Any], *, replayed: bool = False) -> BatchResult:
        tx = body.get("transaction")
        error = None if body.get("error") is None else error_from_dict(body["error"])
        if error is not None:
            error.replayed = replayed
        return cls(
            status=body["status"],
            transaction=None if tx is None else transaction_from_dict(tx, replayed=replayed),
            error=error,
            replayed=replayed,
        )

    @classmethod
    def created(cls, tx: Transaction) -> BatchResult:
        return cls(201, tx, None)

    @classmethod
    def failed(cls, error: StrongroomError) -> BatchResult:
        return cls(error.http_status, None, error)


_TX_FIELDS = {
    "lines", "currency", "description", "metadata", "kind", "pending", "timeout_seconds",
    "idempotency_key",
}  # fmt: skip
_TRANSFER_FIELDS = (_TX_FIELDS - {"lines"}) | {"from", "to", "amount"}


def as_request(raw: Any, *, index: int) -> TransactionRequest | TransferRequest:
    """A batch item: a request object, or a mapping shaped like the HTTP bodies."""
    if isinstance(raw, TransactionRequest | TransferRequest):
        return raw
    if not isinstance(raw, Mapping):
        raise ValidationError("a batch item is a transaction or a transfer", loc=(index,))
    if "lines" in raw:
        unknown = set(raw) - _TX_FIELDS
        fields = {k: raw[k] for k in _TX_FIELDS & set(raw)}
        if unknown:
            raise ValidationError(f"unknown fields: {sorted(unknown)}", loc=(index,))
        return TransactionRequest(**fields)
    unknown = set(raw) - _TRANSFER_FIELDS
    if unknown or not {"from", "to", "amount", "currency"} <= set(raw):
        raise ValidationError(
            "a transfer item has from, to, amount and currency and nothing unknown",
            loc=(index,),
        )
    fields = {k: raw[k] for k in _TRANSFER_FIELDS & set(raw) - {"from", "to"}}
    return TransferRequest(source=raw["from"], destination=raw["to"], **fields)


def describe(item: TransactionRequest | TransferRequest | StrongroomError) -> Any:
    """A JSON-able description of a parsed batch item, for hashing the batch request."""
    if isinstance(item, StrongroomError):
        return {"invalid": item.to_dict()}
    body = {
        name: getattr(item, name)
        for name in item.__dataclass_fields__  # noqa: RUF100
    }
    if isinstance(item, TransactionRequest):
        body["lines"] = [
            line.to_dict() if isinstance(line, Line) else dict(line) for line in item.lines
        ]
    body["metadata"] = dict(item.metadata) if item.metadata is not None else None
    body["type"] = type(item).__name__
    return body


def accounts_of(item: TransactionRequest | TransferRequest | StrongroomError) -> list[Any]:
    """The account ids a parsed batch item names (unchecked: for prefetching only)."""
    if isinstance(item, TransferRequest):
        return [item.source, item.destination]
    if isinstance(item, TransactionRequest) and isinstance(item.lines, Sequence):
        return [
            line.account if isinstance(line, Line) else line.get("account")
            for line in item.lines
            if isinstance(line, Line | Mapping)
        ]
    return []
