"""Problem responses raise the library's error classes, with their codes."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import pytest

from strongroom import (
    AccountFrozen,
    AlreadyExists,
    CurrencyMismatch,
    HoldNotPending,
    IdempotencyKeyReused,
    InsufficientFunds,
    Line,
    NotFound,
    StrongroomError,
    Unauthenticated,
    UnbalancedTransaction,
    ValidationError,
)
from strongroom.client import Client
from tests.api.conftest import Server


def _void_twice(c: Client) -> None:
    hold = c.transfer("@world", "shop", 5, "USD", pending=True)
    c.void_pending(hold.id)
    c.void_pending(hold.id)


def _unbalanced(c: Client) -> None:
    lines = [Line("@world", "debit", 2), Line("shop", "credit", 1)]
    c.post(lines, currency="USD")


def _reuse_key(c: Client) -> None:
    c.transfer("@world", "shop", 5, "USD", idempotency_key="k-1")
    c.transfer("@world", "shop", 6, "USD", idempotency_key="k-1")


def _frozen(c: Client) -> None:
    c.update_account("shop", status="frozen")
    c.transfer("@world", "shop", 5, "USD")


def _other_currency(c: Client) -> None:
    c.create_account("eur", currency="EUR")
    c.transfer("@world", "eur", 5, "USD")


CASES: list[tuple[str, Callable[[Client], object], type[StrongroomError], str]] = [
    ("missing-account", lambda c: c.get_account("nobody"), NotFound, "NOT_FOUND"),
    ("missing-tx", lambda c: c.get_transaction("tx_nope"), NotFound, "NOT_FOUND"),
    (
        "duplicate-account",
        lambda c: c.create_account("shop", currency="USD"),
        AlreadyExists,
        "ALREADY_EXISTS",
    ),
    (
        "insufficient-funds",
        lambda c: c.transfer("user:1", "shop", 1, "USD"),
        InsufficientFunds,
        "INSUFFICIENT_FUNDS",
    ),
    ("unbalanced", _unbalanced, UnbalancedTransaction, "UNBALANCED_TRANSACTION"),
    ("hold-not-pending", _void_twice, HoldNotPending, "HOLD_NOT_PENDING"),
    ("key-reused", _reuse_key, IdempotencyKeyReused, "IDEMPOTENCY_KEY_REUSED"),
    ("frozen", _frozen, AccountFrozen, "ACCOUNT_FROZEN"),
    ("currency-mismatch", _other_currency, CurrencyMismatch, "CURRENCY_MISMATCH"),
    (
        "validation",
        lambda c: c.list_accounts(limit=0),
        ValidationError,
        "VALIDATION_ERROR",
    ),
]


@pytest.mark.parametrize(
    ("call", "error", "code"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_problem_raises_its_error_class(
    books: Client, call: Callable[[Client], object], error: type[StrongroomError], code: str
) -> None:
    """Each problem response raises the StrongroomError subclass of its code."""
    with pytest.raises(error) as caught:
        call(books)
    assert caught.value.code == code


def test_error_keeps_the_problem_details(books: Client) -> None:
    """An error carries the problem's detail and extra fields."""
    with pytest.raises(InsufficientFunds) as caught:
        books.transfer("user:1", "shop", 10, "USD")
    assert caught.value.extra["account"] == "user:1"
    assert caught.value.extra["required"] == 10
    assert "user:1" in caught.value.detail


def test_validation_error_has_its_location(books: Client) -> None:
    """A VALIDATION_ERROR from the server keeps the location of the bad field."""
    with pytest.raises(ValidationError) as caught:
        books.transfer("@world", "user:1", 0, "USD")
    assert caught.value.loc == ("amount",)


def test_unknown_key_is_unauthenticated(server: Server) -> None:
    """A client with an unknown key gets Unauthenticated."""
    with Client(server.base_url, "sr_" + "0" * 38) as stranger, pytest.raises(Unauthenticated):
        stranger.list_accounts()


def test_naive_time_is_refused_before_sending(books: Client) -> None:
    """A naive datetime raises ValidationError, as the library raises it."""
    with pytest.raises(ValidationError) as caught:
        books.balance("user:1", at=datetime(2026, 1, 1))
    assert caught.value.loc == ("at",)
