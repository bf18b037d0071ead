"""Lines, postings, transactions and holds: the rules of a journal entry.

A *transaction* is what a client asks for: two or more lines whose debits equal
credits in one currency, posted at once or held as pending. A *journal entry*
is what the ledger appends: a transaction's creation, or a later change of a
hold (post in full or in part, void, expiry). Each entry is a list of
*postings*: a line plus its *effect* on the account's running sums.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from typing import Any

from strongroom.domain.accounts import (
    Account,
    AccountStatus,
    Balance,
    Side,
    Sums,
    _rfc3339,
    check_account_id,
    check_side,
    is_label,
    is_text,
)
from strongroom.domain.errors import (
    AccountClosed,
    AccountFrozen,
    AmountExceedsHold,
    AmountOverflow,
    CurrencyMismatch,
    HoldNotPending,
    InsufficientFunds,
    InvalidState,
    NotFound,
    UnbalancedTransaction,
    ValidationError,
)
from strongroom.domain.money import MAX_AMOUNT, check_amount

MAX_LINES = 256
MAX_DESCRIPTION = 1024
MAX_KIND = 64
MAX_TIMEOUT_SECONDS = 366 * 24 * 3600
LABELS = frozenset({"kind"})
"""Text fields that name rather than describe (a list filters on them, matching exactly):
:func:`check_text` holds them to :func:`is_label`, with no control character."""


class Effect(StrEnum):
    """How a posting moves an account's running sums."""

    POST = "post"  # posted_<side> += amount
    PEND = "pend"  # pending_<side> += amount
    RELEASE = "release"  # pending_<side> -= amount


class EntryType(StrEnum):
    POSTED = "posted"  # a transaction posted at once (reversals included)
    PENDING = "pending"  # a hold created
    POST_PENDING = "post_pending"  # a hold posted, in full or in part
    VOID = "void"  # a hold released by request
    EXPIRE = "expire"  # a hold released at its deadline


class TxStatus(StrEnum):
    POSTED = "posted"
    PENDING = "pending"
    VOIDED = "voided"
    EXPIRED = "expired"


@dataclass(frozen=True, slots=True)
class Line:
    """One line of a transaction: an account, a side and a positive amount."""

    account: str
    side: str
    amount: int

    def to_dict(self) -> dict[str, Any]:
        return {"account": self.account, "side": str(self.side), "amount": self.amount}


@dataclass(frozen=True, slots=True)
class Posting:
    account: str
    side: Side
    amount: int
    effect: Effect


@dataclass(frozen=True, slots=True)
class Transaction:
    """A transaction as clients see it. ``balances`` is filled on the result of a write."""

    id: str
    seq: int
    status: TxStatus
    currency: str
    lines: tuple[Line, ...]
    description: str
    metadata: Mapping[str, str]
    kind: str | None
    hash: str
    created_at: datetime
    pending_amount_posted: int | None = None
    reverses: str | None = None
    expires_at: datetime | None = None
    balances: Mapping[str, Balance] = field(default_factory=dict, compare=False)
    replayed: bool = field(compare=False, default=False)
    """True when this is the stored result of an earlier request with the same key."""

    @property
    def amount(self) -> int:
        """The sum of the debit lines (the amount of a transfer)."""
        return sum(line.amount for line in self.lines if line.side == Side.DEBIT)

    def to_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "id": self.id,
            "seq": self.seq,
            "status": self.status.value,
            "currency": self.currency,
            "lines": [line.to_dict() for line in self.lines],
            "description": self.description,
            "metadata": dict(self.metadata),
            "kind": self.kind,
            "hash": self.hash,
            "created_at": _rfc3339(self.created_at),
        }
        if self.pending_amount_posted is not None:
            body["pending_amount_posted"] = self.pending_amount_posted
        if self.reverses is not None:
            body["reverses"] = self.reverses
        if self.expires_at is not None:
            body["expires_at"] = _rfc3339(self.expires_at)
        if self.balances:
            body["balances"] = {k: v.to_dict() for k, v in sorted(self.balances.items())}
        return body


@dataclass(frozen=True, slots=True)
class StatementLine:
    """A posted line of an account's statement, with the balance right after it."""

    transaction_id: str
    seq: int
    side: str
    amount: int
    balance_after: int
    posted_at: datetime
    description: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "transaction_id": self.transaction_id,
            "seq": self.seq,
            "side": self.side,
            "amount": self.amount,
            "balance_after": self.balance_after,
            "posted_at": _rfc3339(self.posted_at),
            "description": self.description,
        }


# -- validation of requests ---------------------------------------------------


def check_lines(raw: Any) -> tuple[Line, ...]:
    """Validate the shape of each line (not yet the accounts or the balance)."""
    if not isinstance(raw, Sequence) or isinstance(raw, str | bytes):
        raise ValidationError("lines must be a list", loc=("lines",))
    if not 2 <= len(raw) <= MAX_LINES:
        raise ValidationError(f"a transaction has 2 to {MAX_LINES} lines", loc=("lines",))
    lines: list[Line] = []
    for i, item in enumerate(raw):
        account: Any
        side: Any
        amount: Any
        if isinstance(item, Line):
            account, side, amount = item.account, item.side, item.amount
        elif isinstance(item, Mapping):
            account, side, amount = item.get("account"), item.get("side"), item.get("amount")
        else:
            raise ValidationError("each line is {account, side, amount}", loc=("lines", i))
        lines.append(
            Line(
                check_account_id(account, loc=("lines", i, "account")),
                check_side(side, loc=("lines", i, "side")).value,
                check_amount(amount, loc=("lines", i, "amount")),
            )
        )
    check_balanced(lines)
    return tuple(lines)


def check_balanced(lines: Sequence[Line]) -> None:
    debits = sum(line.amount for line in lines if line.side == Side.DEBIT)
    credits = sum(line.amount for line in lines if line.side == Side.CREDIT)
    if debits > MAX_AMOUNT or credits > MAX_AMOUNT:
        raise AmountOverflow("the total of a transaction's debits must be less than 2^63")
    if debits != credits:
        raise UnbalancedTransaction(
            f"debits ({debits}) do not equal credits ({credits})",
            debits=debits,
            credits=credits,
        )


def check_text(value: Any, name: str, limit: int, *, optional: bool) -> str | None:
    if value is None:
        if optional:
            return None
        return ""
    if not is_text(value) or len(value) > limit:
        raise ValidationError(
            f"{name} must be a UTF-8 string of at most {limit} characters", loc=(name,)
        )
    if name in LABELS and not is_label(value):
        raise ValidationError(f"{name} must not hold a control character", loc=(name,))
    return value


def check_timeout(pending: Any, timeout_seconds: Any) -> int | None:
    if type(pending) is not bool:
        raise ValidationError("pending must be true or false", loc=("pending",))
    if timeout_seconds is None:
        return None
    if not pending:
        raise ValidationError(
            "timeout_seconds applies only to pending transactions", loc=("timeout_seconds",)
        )
    if type(timeout_seconds) is not int or not 0 < timeout_seconds <= MAX_TIMEOUT_SECONDS:
        raise ValidationError(
            f"timeout_seconds must be an integer from 1 to {MAX_TIMEOUT_SECONDS}",
            loc=("timeout_seconds",),
        )
    return timeout_seconds


# -- postings and their effect on accounts ------------------------------------


def postings_for(lines: Sequence[Line], effect: Effect) -> list[Posting]:
    return [Posting(line.account, Side(line.side), line.amount, effect) for line in lines]


def check_accounts(
    lines: Sequence[Line], currency: str, accounts: Mapping[str, Account | None]
) -> None:
    """Every line's account exists and is in the transaction's currency."""
    for i, line in enumerate(lines):
        account = accounts.get(line.account)
        if account is None:
            raise NotFound(f"account {line.account!r} not found", loc=["lines", i, "account"])
        if account.currency != currency:
            raise CurrencyMismatch(
                f"account {account.id} is in {account.currency}, the transaction in {currency}",
                account=account.id,
            )


def apply_postings(
    postings: Sequence[Posting], accounts: Mapping[str, Account]
) -> tuple[dict[str, Sums], list[Sums]]:
    """Apply postings to the accounts' sums, enforcing status, limits and overflow.

    Returns the new sums per account and, per posting, the account's sums right
    after it. Raises without side effects when any rule is broken.
    """
    sums: dict[str, Sums] = {}
    after: list[Sums] = []
    for posting in postings:
        account = accounts[posting.account]
        _check_status(account, posting)
        current = sums.get(posting.account, account.sums)
        updated = move_sums(current, posting)
        if not updated.fits():
            if min(updated.pending_debits, updated.pending_credits) < 0:
                # Only a store altered behind the ledger's back gets here.
                raise InvalidState(
                    f"the pending sums of account {account.id} disagree with its holds; "
                    "run strongroom verify"
                )
            raise AmountOverflow(f"a running sum of account {account.id} would overflow")
        sums[posting.account] = updated
        after.append(updated)
    for account_id, new in sums.items():
        _check_limit(accounts[account_id], new)
    return sums, after


def _check_status(account: Account, posting: Posting) -> None:
    if posting.effect is Effect.RELEASE:
        return  # a frozen account still releases its own holds
    if account.status is AccountStatus.FROZEN:
        raise AccountFrozen(f"account {account.id} is frozen", account=account.id)
    if account.status is AccountStatus.CLOSED:
        raise AccountClosed(f"account {account.id} is closed", account=account.id)


def move_sums(s: Sums, p: Posting) -> Sums:
    """The sums after one posting (no checks: see ``apply_postings``)."""
    amount = p.amount if p.effect is not Effect.RELEASE else -p.amount
    posted = p.effect is Effect.POST
    debit = p.side is Side.DEBIT
    return Sums(
        s.posted_debits + (amount if posted and debit else 0),
        s.posted_credits + (amount if posted and not debit else 0),
        s.pending_debits + (amount if not posted and debit else 0),
        s.pending_credits + (amount if not posted and not debit else 0),
    )


def _check_limit(account: Account, new: Sums) -> None:
    """Refuse a change that lowers available below the limit (raising it is always fine)."""
    if account.overdraft_limit is None:
        return
    before = account.sums.available(account.normal_balance)
    after = new.available(account.normal_balance)
    if after < before and after < -account.overdraft_limit:
        raise InsufficientFunds(
            f"account {account.id} has {before} available; this needs {before - after}",
            account=account.id,
            available=before,
            required=before - after,
        )


# -- holds ----------------------------------------------------------------------


def past_deadline(tx: Transaction, now: datetime) -> bool:
    """Whether ``tx`` is a hold still recorded as pending whose deadline has come.

    Such a hold is expired in all but its journal entry: post and void refuse it
    (:func:`check_pending`), reads show it expired (:func:`as_seen_at`), and the
    sweeper writes the entry that releases its funds.
    """
    return tx.status is TxStatus.PENDING and tx.expires_at is not None and tx.expires_at <= now


def as_seen_at(tx: Transaction, now: datetime) -> Transaction:
    """The transaction as a read at ``now`` shows it: a hold past its deadline is
    ``expired``, as it reads once the sweeper has expired it.

    Only the status changes. The hold's amount stays in the accounts' pending
    sums until the sweeper's expiry entry releases it: until then a write cannot
    spend it either, so a balance read shows it held (a balance always equals
    what the journal records).
    """
    return replace(tx, status=TxStatus.EXPIRED) if past_deadline(tx, now) else tx


def check_pending(tx: Transaction, now: datetime) -> None:
    """A hold can change only while pending and before its deadline.

    An expired hold is refused alike (``expired=True``) before and after the
    sweeper has written its expiry.
    """
    if tx.status is TxStatus.EXPIRED or past_deadline(tx, now):
        at = "" if tx.expires_at is None else f" at {_rfc3339(tx.expires_at)}"
        raise HoldNotPending(f"transaction {tx.id} expired{at}", expired=True)
    if tx.status is not TxStatus.PENDING:
        raise HoldNotPending(f"transaction {tx.id} is {tx.status.value}, not pending")


def settle_lines(tx: Transaction, amount: Any) -> tuple[Line, ...]:
    """The lines that posting ``amount`` of a hold posts (``None``: all of it).

    Part of a hold can be posted only when it has one debit and one credit line;
    the rest is released.
    """
    if amount is None:
        return tx.lines
    value = check_amount(amount)
    if value > tx.amount:
        raise AmountExceedsHold(
            f"amount {value} exceeds the pending amount {tx.amount}", pending_amount=tx.amount
        )
    if value == tx.amount:
        return tx.lines
    if len(tx.lines) != 2:
        raise InvalidState("only a two-line pending transaction can be posted in part")
    return tuple(Line(line.account, line.side, value) for line in tx.lines)


def reversal_lines(tx: Transaction) -> tuple[Line, ...]:
    """The lines of a reversal: every posted line with its side swapped."""
    if tx.status is not TxStatus.POSTED:
        raise InvalidState(f"transaction {tx.id} is {tx.status.value}; only posted ones reverse")
    if tx.reverses is not None:
        raise InvalidState(f"transaction {tx.id} is itself a reversal")
    lines = tx.lines
    if tx.pending_amount_posted is not None and tx.pending_amount_posted != tx.amount:
        lines = tuple(Line(x.account, x.side, tx.pending_amount_posted) for x in tx.lines)
    return tuple(Line(x.account, Side(x.side).opposite.value, x.amount) for x in lines)
