"""Accounts, their four running sums, and the balances derived from them."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from typing import Any, TypeGuard

from strongroom.domain.errors import InvalidState, ValidationError
from strongroom.domain.money import MAX_AMOUNT

# Matched with fullmatch: "^...$" with match() let one trailing "\n" through.
_ACCOUNT_ID = re.compile(r"[A-Za-z0-9@][A-Za-z0-9@:_.+=\-]{0,127}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
MAX_METADATA_KEYS = 50
MAX_METADATA_KEY = 64
MAX_METADATA_VALUE = 512


class Side(StrEnum):
    DEBIT = "debit"
    CREDIT = "credit"

    @property
    def opposite(self) -> Side:
        return Side.CREDIT if self is Side.DEBIT else Side.DEBIT


class AccountStatus(StrEnum):
    ACTIVE = "active"
    FROZEN = "frozen"
    CLOSED = "closed"


@dataclass(frozen=True, slots=True)
class Sums:
    """The four running sums of an account (all >= 0, each < 2^63)."""

    posted_debits: int = 0
    posted_credits: int = 0
    pending_debits: int = 0
    pending_credits: int = 0

    def fits(self) -> bool:
        return (
            0 <= self.posted_debits <= MAX_AMOUNT
            and 0 <= self.posted_credits <= MAX_AMOUNT
            and 0 <= self.pending_debits <= MAX_AMOUNT
            and 0 <= self.pending_credits <= MAX_AMOUNT
        )

    def available(self, normal: Side) -> int:
        """``Balance.of(self, normal).available``, without making the Balance (every
        write checks it for each limited account, before and after)."""
        if normal is Side.CREDIT:
            return self.posted_credits - self.posted_debits - self.pending_debits
        return self.posted_debits - self.posted_credits - self.pending_credits


@dataclass(frozen=True, slots=True)
class Balance:
    """An account's balance in its normal sign.

    ``posted`` is credits - debits for a credit-normal account (debits - credits
    for a debit-normal one); ``available`` is ``posted`` minus what pending
    holds would take out of it.
    """

    posted: int
    pending_debits: int
    pending_credits: int
    available: int

    @classmethod
    def of(cls, sums: Sums, normal: Side) -> Balance:
        if normal is Side.CREDIT:
            posted = sums.posted_credits - sums.posted_debits
            available = posted - sums.pending_debits
        else:
            posted = sums.posted_debits - sums.posted_credits
            available = posted - sums.pending_credits
        return cls(posted, sums.pending_debits, sums.pending_credits, available)

    def to_dict(self) -> dict[str, int]:
        return {
            "posted": self.posted,
            "pending_debits": self.pending_debits,
            "pending_credits": self.pending_credits,
            "available": self.available,
        }


@dataclass(frozen=True, slots=True)
class Account:
    """An account of the ledger. ``overdraft_limit`` ``None`` means unlimited."""

    id: str
    currency: str
    normal_balance: Side
    status: AccountStatus
    overdraft_limit: int | None
    metadata: Mapping[str, str]
    sums: Sums
    version: int
    created_at: datetime
    updated_at: datetime | None = field(compare=False, default=None)
    replayed: bool = field(compare=False, default=False)
    """True when this is the stored result of an earlier request with the same key."""

    @property
    def balance(self) -> Balance:
        return Balance.of(self.sums, self.normal_balance)

    def moved(self, sums: Sums, at: datetime) -> Account:
        """This account with new running sums, one version on, updated ``at``.

        What ``dataclasses.replace`` would make, built directly: it runs for
        every account of every write.
        """
        return Account(
            self.id, self.currency, self.normal_balance, self.status, self.overdraft_limit,
            self.metadata, sums, self.version + 1, self.created_at, at, self.replayed,
        )  # fmt: skip

    def within_limit(self) -> bool:
        """Whether the available balance respects the overdraft limit."""
        if self.overdraft_limit is None:
            return True
        return self.balance.available >= -self.overdraft_limit

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "currency": self.currency,
            "normal_balance": self.normal_balance.value,
            "status": self.status.value,
            "overdraft_limit": self.overdraft_limit,
            "metadata": dict(self.metadata),
            "balance": self.balance.to_dict(),
            "version": self.version,
            "created_at": _rfc3339(self.created_at),
        }


def _rfc3339(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def is_text(value: object) -> TypeGuard[str]:
    """Text every backend stores: UTF-8 encodable (JSON's "\\ud800" decodes to a lone
    surrogate, which is not) and without NUL (PostgreSQL text cannot hold it)."""
    if not isinstance(value, str) or "\x00" in value:
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def is_label(value: object) -> TypeGuard[str]:
    """Text that names something (a kind, an id): :func:`is_text` without a control
    character (C0, DEL or C1; a trailing newline included)."""
    return is_text(value) and _CONTROL.search(value) is None


def check_account_id(value: Any, *, loc: tuple[str | int, ...] = ("id",)) -> str:
    """Account ids: 1-128 chars of letters, digits and ``@ : _ . + = -``."""
    if not isinstance(value, str) or not _ACCOUNT_ID.fullmatch(value):
        raise ValidationError(
            "an account id is 1 to 128 characters: letters, digits and @ : _ . + = -, "
            "not starting with punctuation other than @",
            loc=loc,
        )
    return value


def check_side(value: Any, *, loc: tuple[str | int, ...] = ("side",)) -> Side:
    try:
        return Side(value)
    except ValueError:
        raise ValidationError("side must be 'debit' or 'credit'", loc=loc) from None


def check_overdraft_limit(value: Any) -> int | None:
    if value is None:
        return None
    if type(value) is not int or not 0 <= value <= MAX_AMOUNT:
        raise ValidationError(
            "overdraft_limit must be an integer >= 0 and < 2^63, or null for unlimited",
            loc=("overdraft_limit",),
        )
    return value


def check_metadata(value: Any, *, loc: tuple[str | int, ...] = ("metadata",)) -> dict[str, str]:
    """Metadata is a flat map of string to string, with bounded sizes."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ValidationError("metadata must be an object of strings", loc=loc)
    if len(value) > MAX_METADATA_KEYS:
        raise ValidationError(f"metadata takes at most {MAX_METADATA_KEYS} keys", loc=loc)
    out: dict[str, str] = {}
    for key, item in value.items():
        if not is_text(key) or not 0 < len(key) <= MAX_METADATA_KEY:
            raise ValidationError(
                f"metadata keys are UTF-8 strings of 1 to {MAX_METADATA_KEY} characters",
                loc=loc,
            )
        if not is_text(item) or len(item) > MAX_METADATA_VALUE:
            raise ValidationError(
                f"metadata values are UTF-8 strings of at most {MAX_METADATA_VALUE} characters",
                loc=(*loc, key),
            )
        out[key] = item
    return out


def change_status(account: Account, status: Any) -> AccountStatus:
    """Validate a status change; closing needs a zero balance and nothing pending."""
    try:
        new = AccountStatus(status)
    except ValueError:
        raise ValidationError(
            "status must be 'active', 'frozen' or 'closed'", loc=("status",)
        ) from None
    if account.status is AccountStatus.CLOSED and new is not AccountStatus.CLOSED:
        raise InvalidState(f"account {account.id} is closed; it cannot be reopened")
    if new is AccountStatus.CLOSED and account.status is not AccountStatus.CLOSED:
        s = account.sums
        if s.posted_debits != s.posted_credits or s.pending_debits or s.pending_credits:
            raise InvalidState(
                f"account {account.id} can be closed only with a zero balance and no pending holds"
            )
    return new


def with_sums(account: Account, sums: Sums, *, bump: int = 1) -> Account:
    return replace(account, sums=sums, version=account.version + bump)
