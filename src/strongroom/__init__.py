"""Strongroom: a double-entry ledger for platforms that hold money for their users.

The library API (see API.md, "Python library")::

    from strongroom import Ledger, Line, StrongroomError

    ledger = Ledger.open("sqlite:///books.db")
    ledger.create_account("@world", currency="USD", overdraft_limit=None)
    ledger.create_account("user:1", currency="USD")
    ledger.transfer("@world", "user:1", 1000, "USD", idempotency_key="dep-1")
"""

from strongroom._version import __version__
from strongroom.domain.accounts import Account, AccountStatus, Balance, Side, Sums
from strongroom.domain.errors import (
    AccountClosed,
    AccountFrozen,
    AlreadyExists,
    AmountExceedsHold,
    AmountOverflow,
    BatchAborted,
    Conflict,
    CurrencyMismatch,
    Forbidden,
    HoldNotPending,
    IdempotencyInProgress,
    IdempotencyKeyReused,
    InsufficientFunds,
    InvalidState,
    NotFound,
    QuotaExceeded,
    RateLimited,
    Rejected,
    StorageUnavailable,
    StrongroomError,
    TooManyRequests,
    Unauthenticated,
    UnbalancedTransaction,
    UnknownCurrency,
    ValidationError,
)
from strongroom.domain.money import Currency
from strongroom.domain.transactions import Line, StatementLine, Transaction, TxStatus
from strongroom.engine.ledger import Ledger
from strongroom.engine.pages import Page
from strongroom.engine.requests import BatchResult, TransactionRequest, TransferRequest
from strongroom.engine.uow import UnitOfWork
from strongroom.engine.verify import Drift, VerifyReport

__all__ = [
    "Account",
    "AccountClosed",
    "AccountFrozen",
    "AccountStatus",
    "AlreadyExists",
    "AmountExceedsHold",
    "AmountOverflow",
    "Balance",
    "BatchAborted",
    "BatchResult",
    "Conflict",
    "Currency",
    "CurrencyMismatch",
    "Drift",
    "Forbidden",
    "HoldNotPending",
    "IdempotencyInProgress",
    "IdempotencyKeyReused",
    "InsufficientFunds",
    "InvalidState",
    "Ledger",
    "Line",
    "NotFound",
    "Page",
    "QuotaExceeded",
    "RateLimited",
    "Rejected",
    "Side",
    "StatementLine",
    "StorageUnavailable",
    "StrongroomError",
    "Sums",
    "TooManyRequests",
    "Transaction",
    "TransactionRequest",
    "TransferRequest",
    "TxStatus",
    "Unauthenticated",
    "UnbalancedTransaction",
    "UnitOfWork",
    "UnknownCurrency",
    "ValidationError",
    "VerifyReport",
    "__version__",
]
