"""Rows written in bulk (many per statement) read back exactly, on every backend."""

from __future__ import annotations

from strongroom import Ledger
from strongroom.engine.requests import TransferRequest
from strongroom.testing import FakeClock

AWKWARD = [
    "plain",
    'quote " and \\ backslash',
    "caf\u00e9 \u00fc\u00df",
    "emoji \U0001f600",
    '{"json": [1]}',
    "tab\tnew\nline",
    "'single'",
]


def test_awkward_text_survives_a_bulk_flush(ledger: Ledger) -> None:
    """Descriptions and metadata of a batch come back exactly as sent, and the chain verifies."""
    ledger.create_account("a", currency="USD", overdraft_limit=None)
    ledger.create_account("b", currency="USD")
    requests = [
        TransferRequest(
            "a", "b", 2**52 + i, "USD", description=text, metadata={"k": text, text: "v"}
        )
        for i, text in enumerate(AWKWARD)
    ]
    results = ledger.batch(requests)
    for result, text in zip(results, AWKWARD, strict=True):
        assert result.transaction is not None
        stored = ledger.get_transaction(result.transaction.id)
        assert stored.description == text
        assert dict(stored.metadata) == {"k": text, text: "v"}
        assert stored == result.transaction
    events = ledger.list_events(types="transaction.posted").data
    assert [e.data["description"] for e in events] == AWKWARD
    assert ledger.verify().ok


def test_many_holds_ending_in_one_unit_of_work_are_all_recorded(
    ledger: Ledger, clock: FakeClock
) -> None:
    """Holds expired together each get status expired, and their funds come back."""
    ledger.create_account("a", currency="USD", overdraft_limit=None)
    ledger.create_account("b", currency="USD")
    holds = ledger.batch(
        [
            TransferRequest("a", "b", 10 + i, "USD", pending=True, timeout_seconds=60)
            for i in range(5)
        ]
    )
    clock.advance(61)
    assert ledger.expire_holds() == 5
    for result in holds:
        assert result.transaction is not None
        assert ledger.get_transaction(result.transaction.id).status.value == "expired"
    assert ledger.get_account("b").balance.pending_credits == 0
    assert ledger.verify().ok
