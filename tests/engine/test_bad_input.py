"""Requests the ledger must refuse: the right error class and code, and nothing written.

Every test compares the ledger's state before and after the refused call: the
chain head, every account (balances, status, version), the transactions, the
outbox events, and the number of rows in every table (idempotency keys too).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import func, select

from strongroom import (
    Account,
    AccountClosed,
    AccountFrozen,
    AlreadyExists,
    AmountExceedsHold,
    AmountOverflow,
    CurrencyMismatch,
    HoldNotPending,
    InvalidState,
    Ledger,
    Line,
    NotFound,
    StrongroomError,
    UnbalancedTransaction,
    UnknownCurrency,
    ValidationError,
)
from strongroom.domain.money import MAX_AMOUNT
from strongroom.store.schema import metadata


@dataclass(frozen=True)
class Snapshot:
    """Everything a refused request must leave as it was."""

    head: tuple[int, str]
    accounts: list[Account]
    transactions: list[str]
    events: list[str]
    rows: dict[str, int]


def snapshot(ledger: Ledger) -> Snapshot:
    return Snapshot(
        head=ledger.head(),
        accounts=ledger.list_accounts(limit=1000).data,
        transactions=[tx.id for tx in ledger.list_transactions(limit=1000).data],
        events=[event["id"] for event in ledger.events(limit=1000)],
        rows=_row_counts(ledger),
    )


def _row_counts(ledger: Ledger) -> dict[str, int]:
    """Rows per table, idempotency keys and units included."""
    with ledger.engine.connect() as conn:
        return {
            table.name: conn.execute(select(func.count()).select_from(table)).scalar_one()
            for table in metadata.sorted_tables
        }


@pytest.fixture
def books(ledger: Ledger) -> Ledger:
    """USD accounts with some history: user:1 holds 1000, shop 0, plus a EUR account."""
    ledger.create_account("@world", currency="USD", overdraft_limit=None)
    ledger.create_account("user:1", currency="USD")
    ledger.create_account("shop", currency="USD")
    ledger.create_account("eur:1", currency="EUR")
    ledger.transfer("@world", "user:1", 1000, "USD", idempotency_key="dep-1")
    return ledger


def assert_refused(
    ledger: Ledger, error: type[StrongroomError], code: str, call: Any, *args: Any, **kwargs: Any
) -> StrongroomError:
    """``call(*args, **kwargs)`` raises ``error`` with ``code`` and writes nothing."""
    before = snapshot(ledger)
    with pytest.raises(error) as caught:
        call(*args, **kwargs)
    assert type(caught.value) is error
    assert caught.value.code == code
    assert snapshot(ledger) == before
    return caught.value


BAD_AMOUNTS: dict[str, object] = {
    "zero": 0,
    "negative": -1,
    "float-whole": 1.0,
    "float-fraction": 1.5,
    "bool": True,
    "two-to-the-63": 2**63,
    "two-to-the-64": 2**64,
    "ten-to-the-30": 10**30,
    "string": "10",
    "none": None,
}


@pytest.mark.parametrize("amount", BAD_AMOUNTS.values(), ids=list(BAD_AMOUNTS))
def test_transfer_refuses_bad_amount(books: Ledger, amount: object) -> None:
    """A transfer amount that is not an int in 1..2^63-1 is a VALIDATION_ERROR."""
    error = assert_refused(
        books, ValidationError, "VALIDATION_ERROR", books.transfer, "user:1", "shop", amount, "USD"
    )
    assert isinstance(error, ValidationError)
    assert error.loc == ("amount",)


@pytest.mark.parametrize("amount", BAD_AMOUNTS.values(), ids=list(BAD_AMOUNTS))
def test_post_refuses_bad_line_amount(books: Ledger, amount: object) -> None:
    """A line amount that is not an int in 1..2^63-1 is a VALIDATION_ERROR."""
    lines = [
        {"account": "user:1", "side": "debit", "amount": amount},
        {"account": "shop", "side": "credit", "amount": amount},
    ]
    assert_refused(books, ValidationError, "VALIDATION_ERROR", books.post, lines, currency="USD")


BAD_PARTIAL_AMOUNTS = {k: v for k, v in BAD_AMOUNTS.items() if v is not None}  # None: all


@pytest.mark.parametrize("amount", BAD_PARTIAL_AMOUNTS.values(), ids=list(BAD_PARTIAL_AMOUNTS))
def test_post_pending_refuses_bad_amount(books: Ledger, amount: object) -> None:
    """Posting a hold with an amount that is not an int in 1..2^63-1 is a VALIDATION_ERROR."""
    hold = books.transfer("user:1", "shop", 300, "USD", pending=True)
    assert_refused(
        books, ValidationError, "VALIDATION_ERROR", books.post_pending, hold.id, amount=amount
    )


def test_largest_amount_is_accepted(books: Ledger) -> None:
    """2^63 - 1, the bound the bad amounts cross, is itself a valid amount."""
    books.create_account("@mint", currency="USD", overdraft_limit=None)
    tx = books.transfer("@mint", "shop", MAX_AMOUNT, "USD")
    assert tx.balances["shop"].posted == MAX_AMOUNT


def test_unknown_currency_in_a_transfer(books: Ledger) -> None:
    """A transfer in a currency neither ISO nor defined by the tenant is UNKNOWN_CURRENCY."""
    assert_refused(
        books, UnknownCurrency, "UNKNOWN_CURRENCY", books.transfer, "user:1", "shop", 10, "XXX"
    )


def test_unknown_currency_for_a_new_account(books: Ledger) -> None:
    """An account in an undefined currency is UNKNOWN_CURRENCY, and is not created."""
    assert_refused(
        books, UnknownCurrency, "UNKNOWN_CURRENCY", books.create_account, "x:1", currency="XXX"
    )


def test_currency_mismatch(books: Ledger) -> None:
    """A USD transfer into a EUR account is CURRENCY_MISMATCH."""
    assert_refused(
        books, CurrencyMismatch, "CURRENCY_MISMATCH", books.transfer, "user:1", "eur:1", 10, "USD"
    )


def test_unbalanced_lines(books: Ledger) -> None:
    """Lines whose debits differ from their credits are UNBALANCED_TRANSACTION."""
    lines = [Line("user:1", "debit", 100), Line("shop", "credit", 99)]
    assert_refused(
        books, UnbalancedTransaction, "UNBALANCED_TRANSACTION", books.post, lines, currency="USD"
    )


@pytest.mark.parametrize(
    ("source", "destination"),
    [("nobody", "shop"), ("user:1", "nobody")],
    ids=["source", "destination"],
)
def test_unknown_account(books: Ledger, source: str, destination: str) -> None:
    """A transfer from or to an account that does not exist is NOT_FOUND."""
    assert_refused(books, NotFound, "NOT_FOUND", books.transfer, source, destination, 10, "USD")


@pytest.mark.parametrize("frozen", ["user:1", "shop"], ids=["source", "destination"])
def test_frozen_account(books: Ledger, frozen: str) -> None:
    """A frozen account can neither send nor receive: ACCOUNT_FROZEN."""
    books.update_account(frozen, status="frozen")
    assert_refused(
        books, AccountFrozen, "ACCOUNT_FROZEN", books.transfer, "user:1", "shop", 10, "USD"
    )


@pytest.mark.parametrize(
    ("source", "destination"),
    [("closed:1", "shop"), ("user:1", "closed:1")],
    ids=["source", "destination"],
)
def test_closed_account(books: Ledger, source: str, destination: str) -> None:
    """A closed account can neither send nor receive: ACCOUNT_CLOSED."""
    books.create_account("closed:1", currency="USD", overdraft_limit=None)
    books.update_account("closed:1", status="closed")
    assert_refused(
        books, AccountClosed, "ACCOUNT_CLOSED", books.transfer, source, destination, 10, "USD"
    )


def test_one_line_transaction(books: Ledger) -> None:
    """A transaction of a single line is a VALIDATION_ERROR."""
    lines = [Line("user:1", "debit", 10)]
    assert_refused(books, ValidationError, "VALIDATION_ERROR", books.post, lines, currency="USD")


def test_same_account_on_both_sides(books: Ledger) -> None:
    """A transfer from an account to itself is a VALIDATION_ERROR."""
    assert_refused(
        books, ValidationError, "VALIDATION_ERROR", books.transfer, "user:1", "user:1", 10, "USD"
    )


BAD_KEYS = {
    "empty": "",
    "256-chars": "k" * 256,
    "newline": "key\n1",
    "nul": "key\x001",
    "tab": "key\t1",
    "non-ascii": "clé-1",
    "delete": "key\x7f1",
    "unicode-space": "key\u00a01",
}


@pytest.mark.parametrize("key", BAD_KEYS.values(), ids=list(BAD_KEYS))
def test_bad_idempotency_key(books: Ledger, key: str) -> None:
    """An idempotency key that is not 1..255 printable ASCII characters is a VALIDATION_ERROR."""
    assert_refused(
        books,
        ValidationError,
        "VALIDATION_ERROR",
        books.transfer,
        "user:1",
        "shop",
        10,
        "USD",
        idempotency_key=key,
    )


def test_partial_post_above_the_hold(books: Ledger) -> None:
    """Posting more than a hold holds is AMOUNT_EXCEEDS_HOLD."""
    hold = books.transfer("user:1", "shop", 300, "USD", pending=True)
    assert_refused(
        books, AmountExceedsHold, "AMOUNT_EXCEEDS_HOLD", books.post_pending, hold.id, amount=301
    )


def test_posting_a_voided_hold(books: Ledger) -> None:
    """Posting a hold that was voided is HOLD_NOT_PENDING."""
    hold = books.transfer("user:1", "shop", 300, "USD", pending=True)
    books.void_pending(hold.id)
    assert_refused(books, HoldNotPending, "HOLD_NOT_PENDING", books.post_pending, hold.id)


def test_running_sum_overflow(books: Ledger) -> None:
    """A credit that would push a running sum past 2^63 - 1 is AMOUNT_OVERFLOW."""
    books.create_account("@mint:a", currency="USD", overdraft_limit=None)
    books.create_account("@mint:b", currency="USD", overdraft_limit=None)
    books.transfer("@mint:a", "shop", MAX_AMOUNT, "USD")
    error = assert_refused(
        books,
        AmountOverflow,
        "AMOUNT_OVERFLOW",
        books.transfer,
        "@mint:b",
        "shop",
        MAX_AMOUNT,
        "USD",
    )
    assert "shop" in str(error)


def test_creating_an_existing_account(books: Ledger) -> None:
    """Creating an account whose id is taken is ALREADY_EXISTS."""
    assert_refused(
        books, AlreadyExists, "ALREADY_EXISTS", books.create_account, "shop", currency="USD"
    )


def test_closing_an_account_with_a_balance(books: Ledger) -> None:
    """Closing an account whose balance is not zero is INVALID_STATE."""
    assert_refused(
        books, InvalidState, "INVALID_STATE", books.update_account, "user:1", status="closed"
    )


@pytest.mark.parametrize(
    "field",
    ["description", "kind", "metadata-key", "metadata-value"],
    ids=["description", "kind", "metadata-key", "metadata-value"],
)
def test_lone_surrogate_is_a_validation_error(ledger: Ledger, field: str) -> None:
    """Text that UTF-8 cannot encode (a lone surrogate) is refused, not a crash."""
    ledger.create_account("@w", currency="USD", overdraft_limit=None)
    ledger.create_account("u", currency="USD")
    bad = "x\ud800"
    kwargs: dict[str, object] = {
        "description": {"description": bad},
        "kind": {"kind": bad},
        "metadata-key": {"metadata": {bad: "v"}},
        "metadata-value": {"metadata": {"k": bad}},
    }[field]
    head = ledger.head()
    with pytest.raises(ValidationError):
        ledger.transfer("@w", "u", 5, "USD", **kwargs)  # type: ignore[arg-type]
    assert ledger.head() == head


def test_transaction_total_beyond_2_63_is_refused(ledger: Ledger) -> None:
    """Lines each below 2^63 but totalling more are refused with AMOUNT_OVERFLOW."""
    big = 2**63 - 1
    for name in ("@w1", "@w2"):
        ledger.create_account(name, currency="USD", overdraft_limit=None)
    for name in ("u1", "u2"):
        ledger.create_account(name, currency="USD")
    lines = [
        Line("@w1", "debit", big),
        Line("@w2", "debit", big),
        Line("u1", "credit", big),
        Line("u2", "credit", big),
    ]
    head = ledger.head()
    with pytest.raises(AmountOverflow):
        ledger.post(lines, currency="USD", pending=True)
    assert ledger.head() == head


def test_every_printable_ascii_character_makes_a_good_idempotency_key(books: Ledger) -> None:
    """From " " to "~": each of the 95 printable ASCII characters is accepted."""
    key = "".join(chr(c) for c in range(0x20, 0x7F))
    first = books.transfer("user:1", "shop", 10, "USD", idempotency_key=key)
    again = books.transfer("user:1", "shop", 10, "USD", idempotency_key=key)
    assert again.replayed
    assert again.id == first.id
