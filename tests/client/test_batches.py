"""Batches through the client: requests of every form, a result per item."""

from __future__ import annotations

import pytest

from strongroom import (
    BatchAborted,
    BatchResult,
    InsufficientFunds,
    Line,
    TransactionRequest,
    TransferRequest,
    ValidationError,
)
from strongroom.client import Client


def test_batch_takes_every_form_of_request(books: Client) -> None:
    """batch applies TransferRequest, TransactionRequest and dicts, a result each."""
    results = books.batch(
        [
            TransferRequest("@world", "user:1", 100, "USD"),
            TransactionRequest([Line("@world", "debit", 5), Line("shop", "credit", 5)], "USD"),
            {"from": "@world", "to": "shop", "amount": 7, "currency": "USD", "kind": "fee"},
            {"lines": [Line("user:1", "debit", 1), Line("shop", "credit", 1)], "currency": "USD"},
        ]
    )
    assert all(isinstance(r, BatchResult) and r.status == 201 for r in results)
    assert results[0].transaction is not None
    assert results[0].transaction.lines == (
        Line("@world", "debit", 100),
        Line("user:1", "credit", 100),
    )
    assert books.balance("shop").posted == 13


def test_batch_reports_a_failed_item_without_aborting(books: Client) -> None:
    """A non-atomic batch applies the good items and reports the failed one."""
    results = books.batch(
        [
            TransferRequest("user:1", "shop", 100, "USD"),
            TransferRequest("@world", "shop", 100, "USD"),
        ]
    )
    assert [r.status for r in results] == [422, 201]
    assert isinstance(results[0].error, InsufficientFunds)
    assert books.balance("shop").posted == 100


def test_atomic_batch_applies_nothing_when_an_item_fails(books: Client) -> None:
    """An atomic batch with a failing item applies none; the others are BATCH_ABORTED."""
    results = books.batch(
        [
            TransferRequest("@world", "shop", 100, "USD"),
            TransferRequest("user:1", "shop", 100, "USD"),
        ],
        atomic=True,
    )
    assert isinstance(results[0].error, BatchAborted)
    assert isinstance(results[1].error, InsufficientFunds)
    assert books.balance("shop").posted == 0


def test_batch_replays_under_its_key(books: Client) -> None:
    """The same batch with the same key returns the first results, marked replayed."""
    batch = [TransferRequest("@world", "user:1", 100, "USD")]
    first = books.batch(batch, idempotency_key="batch-1")
    again = books.batch(batch, idempotency_key="batch-1")
    assert again == first
    assert again[0].replayed
    assert books.balance("user:1").posted == 100


def test_batch_refuses_a_malformed_item(books: Client) -> None:
    """A batch item neither a transaction nor a transfer raises ValidationError at its index."""
    with pytest.raises(ValidationError) as caught:
        books.batch([{"from": "@world", "amount": 1, "currency": "USD"}])
    assert caught.value.loc == (0,)
