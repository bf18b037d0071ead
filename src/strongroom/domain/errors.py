"""The error hierarchy of Strongroom, with stable machine-readable codes.

Every error a caller can see is a subclass of :class:`StrongroomError`. Each
class carries a ``code`` (stable UPPER_SNAKE, never renamed or reused), the
``http_status`` the HTTP layer answers with, and the ``exit_code`` the CLI
exits with. The committed list of codes lives in ``tests/domain/test_errors.py``.

::

    StrongroomError                      INTERNAL_ERROR            500
    ├── ValidationError                  VALIDATION_ERROR          400
    ├── Unauthenticated                  UNAUTHENTICATED           401
    ├── Forbidden                        FORBIDDEN                 403
    ├── NotFound                         NOT_FOUND                 404
    ├── MethodNotAllowed                 METHOD_NOT_ALLOWED        405
    ├── PayloadTooLarge                  PAYLOAD_TOO_LARGE         413
    ├── Conflict
    │   ├── AlreadyExists                ALREADY_EXISTS            409
    │   ├── IdempotencyInProgress        IDEMPOTENCY_IN_PROGRESS   409
    │   ├── HoldNotPending               HOLD_NOT_PENDING          409
    │   └── InvalidState                 INVALID_STATE             409
    ├── Rejected
    │   ├── InsufficientFunds            INSUFFICIENT_FUNDS        422
    │   ├── UnbalancedTransaction        UNBALANCED_TRANSACTION    422
    │   ├── CurrencyMismatch             CURRENCY_MISMATCH         422
    │   ├── AccountFrozen                ACCOUNT_FROZEN            422
    │   ├── AccountClosed                ACCOUNT_CLOSED            422
    │   ├── IdempotencyKeyReused         IDEMPOTENCY_KEY_REUSED    422
    │   ├── AmountExceedsHold            AMOUNT_EXCEEDS_HOLD       422
    │   ├── UnknownCurrency              UNKNOWN_CURRENCY          422
    │   ├── AmountOverflow               AMOUNT_OVERFLOW           422
    │   └── BatchAborted                 BATCH_ABORTED             422
    ├── TooManyRequests
    │   ├── QuotaExceeded                QUOTA_EXCEEDED            429
    │   └── RateLimited                  RATE_LIMITED              429
    └── StorageUnavailable               STORAGE_UNAVAILABLE       503

``Conflict``, ``Rejected`` and ``TooManyRequests`` are groups to catch, not
errors raised themselves; they carry the status of their members.
"""

from __future__ import annotations

from typing import Any, ClassVar

PROBLEM_TYPE_BASE = "https://strongroom.dev/problems/"
"""Problem documents' ``type`` is this and the code in kebab case."""


class StrongroomError(Exception):
    """Base of every error Strongroom raises on purpose."""

    code: ClassVar[str] = "INTERNAL_ERROR"
    http_status: ClassVar[int] = 500
    exit_code: ClassVar[int] = 1
    title: ClassVar[str] = "Internal error"

    def __init__(self, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra: dict[str, Any] = extra
        self.replayed = False
        """True when raised again from an idempotency key's stored first response."""

    def to_dict(self) -> dict[str, Any]:
        """The error as the body of a problem document (RFC 9457), minus ``type``."""
        body: dict[str, Any] = {
            "title": self.title,
            "status": self.http_status,
            "detail": self.detail,
            "code": self.code,
        }
        body.update(self.extra)
        return body

    def to_problem(self) -> dict[str, Any]:
        """The whole problem document: :meth:`to_dict` with its ``type`` URI."""
        return {"type": PROBLEM_TYPE_BASE + self.code.lower().replace("_", "-"), **self.to_dict()}

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.code}: {self.detail!r})"


class ValidationError(StrongroomError):
    """The request is malformed: a field is missing, of the wrong type or out of range."""

    code = "VALIDATION_ERROR"
    http_status = 400
    exit_code = 2
    title = "Invalid request"

    def __init__(self, detail: str, *, loc: tuple[str | int, ...] = ()) -> None:
        super().__init__(detail, errors=[{"loc": list(loc), "msg": detail}])
        self.loc = loc


class Unauthenticated(StrongroomError):
    code = "UNAUTHENTICATED"
    http_status = 401
    exit_code = 2
    title = "Unauthenticated"


class Forbidden(StrongroomError):
    code = "FORBIDDEN"
    http_status = 403
    exit_code = 2
    title = "Forbidden"


class NotFound(StrongroomError):
    """The resource does not exist in this tenant (or belongs to another one)."""

    code = "NOT_FOUND"
    http_status = 404
    exit_code = 3
    title = "Not found"


class MethodNotAllowed(StrongroomError):
    code = "METHOD_NOT_ALLOWED"
    http_status = 405
    exit_code = 2
    title = "Method not allowed"


class PayloadTooLarge(StrongroomError):
    code = "PAYLOAD_TOO_LARGE"
    http_status = 413
    exit_code = 2
    title = "Request body too large"


class Conflict(StrongroomError):
    http_status = 409
    exit_code = 4
    title = "Conflict"


class AlreadyExists(Conflict):
    code = "ALREADY_EXISTS"
    title = "Already exists"


class IdempotencyInProgress(Conflict):
    code = "IDEMPOTENCY_IN_PROGRESS"
    title = "A request with this idempotency key is in progress"


class HoldNotPending(Conflict):
    code = "HOLD_NOT_PENDING"
    title = "The transaction is not pending"


class InvalidState(Conflict):
    code = "INVALID_STATE"
    title = "Invalid state for this operation"


class Rejected(StrongroomError):
    """A well-formed request that the ledger's rules refuse."""

    http_status = 422
    exit_code = 5
    title = "Rejected"


class InsufficientFunds(Rejected):
    code = "INSUFFICIENT_FUNDS"
    title = "Insufficient funds"


class UnbalancedTransaction(Rejected):
    code = "UNBALANCED_TRANSACTION"
    title = "Debits do not equal credits"


class CurrencyMismatch(Rejected):
    code = "CURRENCY_MISMATCH"
    title = "Currency mismatch"


class AccountFrozen(Rejected):
    code = "ACCOUNT_FROZEN"
    title = "Account frozen"


class AccountClosed(Rejected):
    code = "ACCOUNT_CLOSED"
    title = "Account closed"


class IdempotencyKeyReused(Rejected):
    code = "IDEMPOTENCY_KEY_REUSED"
    title = "Idempotency key reused with a different request"


class AmountExceedsHold(Rejected):
    code = "AMOUNT_EXCEEDS_HOLD"
    title = "Amount exceeds the pending amount"


class UnknownCurrency(Rejected):
    code = "UNKNOWN_CURRENCY"
    title = "Unknown currency"


class AmountOverflow(Rejected):
    code = "AMOUNT_OVERFLOW"
    title = "A running sum would exceed 2^63 - 1"


class BatchAborted(Rejected):
    """An item of an atomic batch that was not applied because another item failed."""

    code = "BATCH_ABORTED"
    title = "Atomic batch aborted"


class TooManyRequests(StrongroomError):
    http_status = 429
    exit_code = 6
    title = "Too many requests"


class QuotaExceeded(TooManyRequests):
    code = "QUOTA_EXCEEDED"
    title = "Quota exceeded"


class RateLimited(TooManyRequests):
    code = "RATE_LIMITED"
    title = "Rate limited"


class StorageUnavailable(StrongroomError):
    """The database could not complete the write after retries; nothing was applied."""

    code = "STORAGE_UNAVAILABLE"
    http_status = 503
    exit_code = 7
    title = "Storage unavailable"


def all_error_classes() -> list[type[StrongroomError]]:
    """Every concrete error class (those with a code of their own), base first."""
    seen: list[type[StrongroomError]] = [StrongroomError]
    stack: list[type[StrongroomError]] = [StrongroomError]
    while stack:
        cls = stack.pop()
        for sub in cls.__subclasses__():
            seen.append(sub)
            stack.append(sub)
    return [c for c in seen if "code" in c.__dict__]


def error_class(code: str) -> type[StrongroomError]:
    """The error class of a code (the base class for a code it does not know)."""
    for cls in all_error_classes():
        if cls.code == code:
            return cls
    return StrongroomError


def error_from_dict(body: dict[str, Any]) -> StrongroomError:
    """Rebuild an error from its problem body (replays, and the HTTP client)."""
    cls = error_class(str(body.get("code", "")))
    extra = {
        k: v
        for k, v in body.items()
        if k not in {"type", "title", "status", "detail", "code", "instance"}
    }
    error = cls.__new__(cls)
    StrongroomError.__init__(error, str(body.get("detail", "")), **extra)
    if isinstance(error, ValidationError):
        first = (extra.get("errors") or [{}])[0]
        error.loc = tuple(first.get("loc", ()))
    return error
