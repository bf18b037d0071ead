"""The event feed: the outbox in commit order, resumable by event id or cursor."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from strongroom import Ledger, ValidationError
from strongroom.engine.feed import Event


def _busy(ledger: Ledger) -> list[str]:
    """Two accounts, three transfers, a hold voided, an update: 8 events; their types."""
    ledger.create_account("@world", currency="USD", overdraft_limit=None)
    ledger.create_account("u", currency="USD")
    for _ in range(3):
        ledger.transfer("@world", "u", 10, "USD")
    ledger.void_pending(ledger.transfer("u", "@world", 5, "USD", pending=True).id)
    ledger.update_account("u", metadata={"tier": "gold"})
    return [e["type"] for e in ledger.events(limit=1000)]


def _drain(ledger: Ledger, **kwargs: object) -> list[Event]:
    """Every event, page by page, following next_cursor."""
    seen: list[Event] = []
    cursor = None
    while True:
        page = ledger.list_events(after=cursor, **kwargs)  # type: ignore[arg-type]
        seen.extend(page.data)
        if page.next_cursor is None:
            return seen
        cursor = page.next_cursor


def test_pages_follow_commit_order(ledger: Ledger) -> None:
    """Following next_cursor with small pages yields every event once, in outbox order."""
    types = _busy(ledger)
    seen = _drain(ledger, limit=3)
    assert [e.type for e in seen] == types
    assert [e.seq for e in seen] == list(range(1, len(types) + 1))
    assert len({e.id for e in seen}) == len(types)


def test_after_an_event_id_resumes_right_after_it(ledger: Ledger) -> None:
    """after=<id of event n> starts at event n + 1, like the cursor of a page ending at n."""
    _busy(ledger)
    everything = ledger.list_events(limit=1000).data
    first_three = ledger.list_events(limit=3)
    by_id = ledger.list_events(after=everything[2].id, limit=1000).data
    by_cursor = ledger.list_events(after=first_three.next_cursor, limit=1000).data
    assert by_id == by_cursor == everything[3:]


def test_a_consumer_resumes_and_sees_later_events(ledger: Ledger) -> None:
    """Resuming from the last event handled returns only what committed since."""
    _busy(ledger)
    last = ledger.list_events(limit=1000).data[-1]
    assert ledger.list_events(after=last.id).data == []
    ledger.transfer("@world", "u", 1, "USD")
    fresh = ledger.list_events(after=last.id).data
    assert [e.type for e in fresh] == ["transaction.posted"]
    assert fresh[0].seq == last.seq + 1


def test_last_page_has_no_cursor(ledger: Ledger) -> None:
    """next_cursor is None once no more events exist."""
    _busy(ledger)
    assert ledger.list_events(limit=1000).next_cursor is None


def test_types_keep_only_those_types(ledger: Ledger) -> None:
    """types filters the feed and keeps commit order; pages of a filter chain correctly."""
    types = _busy(ledger)
    wanted = {"transaction.pending", "account.created"}
    seen = _drain(ledger, types="transaction.pending,account.created", limit=1)
    assert [e.type for e in seen] == [t for t in types if t in wanted]
    assert [e.type for e in ledger.list_events(types=["account.updated"]).data] == [
        "account.updated"
    ]


def test_unknown_types_match_nothing(ledger: Ledger) -> None:
    """A type no event has yet (a later feature's) is a valid filter that matches nothing."""
    _busy(ledger)
    assert ledger.list_events(types="payout.failed").data == []


def test_event_dict_is_the_contract_shape(ledger: Ledger) -> None:
    """to_dict has exactly id, type, created_at and data."""
    _busy(ledger)
    event = ledger.list_events(limit=1).data[0]
    assert set(event.to_dict()) == {"id", "type", "created_at", "data"}
    assert event.data["id"] == "@world"


def test_another_tenants_event_id_answers_like_a_missing_one(
    open_ledger: Callable[..., Ledger],
) -> None:
    """An event id of tenant A in B's feed fails exactly as an id that never existed."""
    a, b = open_ledger(tenant="alpha"), open_ledger(tenant="beta")
    _busy(a)
    _busy(b)
    foreign = a.list_events(limit=1).data[0].id
    errors = []
    for after in (foreign, "evt_00000000000000000000000000"):
        with pytest.raises(ValidationError) as caught:
            b.list_events(after=after)
        errors.append((caught.value.code, caught.value.detail, caught.value.loc))
    assert errors[0] == errors[1]
    assert all(e.id not in {x.id for x in a.list_events(limit=1000).data}
               for e in b.list_events(limit=1000).data)  # fmt: skip


@pytest.mark.parametrize(
    ("after", "types", "limit"),
    [
        ("garbage", None, 10),
        ("WyJhY2NvdW50cyIsImEiXQ", None, 10),  # a cursor of the accounts list
        (None, "not a type!", 10),
        (None, ",".join(f"t{i}" for i in range(51)), 10),
        (None, None, 0),
        (None, None, 1001),
    ],
    ids=["garbage-after", "other-list-cursor", "bad-type", "too-many-types", "zero", "too-big"],
)
def test_bad_arguments_are_validation_errors(
    ledger: Ledger, after: str | None, types: str | None, limit: int
) -> None:
    """Malformed positions, types and limits raise VALIDATION_ERROR."""
    with pytest.raises(ValidationError):
        ledger.list_events(after=after, types=types, limit=limit)
