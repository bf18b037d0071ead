"""Sending a batch's journal rows ahead while the rest of it is built (``write_ahead``).

On PostgreSQL the rows go out in a pipeline left open, with their balance
checks, and are written while the next requests are checked; on SQLite nothing
is sent early. Either way the result is the one a single flush gives: every
item's own result, the same balances, holds and keys, a chain that verifies;
and a refusal of a row sent ahead fails the unit of work whole.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from strongroom import Ledger, TransferRequest
from strongroom.engine import uow as uow_module
from strongroom.engine.uow import WRITE_AHEAD_ENTRIES
from strongroom.store.schema import journal

USERS = [f"user:{i}" for i in range(6)]
_TENANTS = itertools.count()


@pytest.fixture
def books(ledger: Ledger) -> Ledger:
    ledger.create_account("@world", currency="USD", overdraft_limit=None)
    for user in USERS:
        ledger.create_account(user, currency="USD")
    return ledger


def test_a_long_batch_gives_each_item_its_result_and_exact_balances(books: Ledger) -> None:
    """Several sends' worth of transfers, some refused (overdrafts, a reused key), some
    at the sends' boundaries: results, balances, keys and the chain as computed by hand."""
    rng = random.Random(7)
    held = dict.fromkeys(USERS, 0)
    requests, expected = [], []
    reused = WRITE_AHEAD_ENTRIES + 5
    for i in range(WRITE_AHEAD_ENTRIES * 3 + 37):
        if i == reused:  # k0 was used for another request earlier in the batch
            requests.append(TransferRequest("@world", USERS[0], 1, "USD", idempotency_key="k0"))
            expected.append(422)
            continue
        if i % 9 == 0:
            user = rng.choice(USERS)
            requests.append(TransferRequest("@world", user, 50, "USD", idempotency_key=f"k{i}"))
            held[user] += 50
            expected.append(201)
            continue
        source, destination = rng.sample(USERS, 2)
        amount = rng.randint(1, 40)
        requests.append(
            TransferRequest(source, destination, amount, "USD", idempotency_key=f"k{i}")
        )
        if held[source] >= amount:
            held[source] -= amount
            held[destination] += amount
            expected.append(201)
        else:
            expected.append(422)

    results = books.batch(requests, idempotency_key="the-batch")

    assert [r.status for r in results] == expected
    assert results[reused].error is not None
    assert results[reused].error.code == "IDEMPOTENCY_KEY_REUSED"
    assert 422 in expected[: WRITE_AHEAD_ENTRIES // 2]  # refusals early, before a send
    assert {user: books.balance(user).posted for user in USERS} == held
    assert books.head()[0] == expected.count(201)
    assert books.verify().ok
    replayed = books.batch(requests, idempotency_key="the-batch")
    assert [r.status for r in replayed] == expected
    assert [r.transaction.id for r in replayed if r.transaction] == [
        r.transaction.id for r in results if r.transaction
    ]
    first = requests[0]
    again = books.transfer(first.source, first.destination, 50, "USD", idempotency_key="k0")
    assert again.replayed
    assert again.id == results[0].transaction.id  # type: ignore[union-attr]


def test_holds_made_before_a_send_and_ended_after_it(books: Ledger) -> None:
    """A hold sent ahead as pending and ended later is updated; one made and ended
    between two sends is sent as it ended; one ended in the last part is written so."""
    books.transfer("@world", "user:0", 100_000, "USD")
    with books.unit_of_work() as uow:
        early = [
            uow.transfer("user:0", "user:1", 10, "USD", pending=True)
            for _ in range(WRITE_AHEAD_ENTRIES)
        ]
        uow.write_ahead()
        posted = [uow.post_pending(hold.id, 4) for hold in early[:40]]
        voided = [uow.void_pending(hold.id) for hold in early[40:60]]
        inside = [
            uow.transfer("user:0", "user:2", 7, "USD", pending=True)
            for _ in range(WRITE_AHEAD_ENTRIES - 60)
        ]
        for hold in inside[:10]:
            uow.post_pending(hold.id)
        uow.write_ahead()
        late = [uow.transfer("user:0", "user:3", 3, "USD", pending=True) for _ in range(5)]
        uow.void_pending(late[0].id)
        uow.post_pending(inside[10].id, 2)
    statuses = {
        hold.id: (books.get_transaction(hold.id).status.value,
                  books.get_transaction(hold.id).pending_amount_posted)
        for hold in early + inside + late
    }  # fmt: skip
    assert all(statuses[h.id] == ("posted", 4) for h in early[:40])
    assert all(statuses[h.id] == ("voided", None) for h in early[40:60])
    assert all(statuses[h.id] == ("pending", None) for h in early[60:])
    assert all(statuses[h.id] == ("posted", 7) for h in inside[:10])
    assert statuses[inside[10].id] == ("posted", 2)
    assert all(statuses[h.id] == ("pending", None) for h in inside[11:])
    assert statuses[late[0].id] == ("voided", None)
    assert [t.status.value for t in posted + voided] == ["posted"] * 40 + ["voided"] * 20
    user0 = books.balance("user:0")
    assert user0.posted == 100_000 - 40 * 4 - 10 * 7 - 2
    assert user0.pending_debits == 40 * 10 + 29 * 7 + 4 * 3
    assert books.balance("user:1").posted == 160
    assert books.balance("user:2").posted == 72
    assert books.verify().ok


@pytest.mark.postgresql_only
def test_rows_sent_ahead_are_there_for_the_unit_of_works_next_statement(books: Ledger) -> None:
    """The unit of work's connection reads the answers to what was sent ahead first."""
    books.transfer("@world", "user:0", 10_000, "USD")
    with books.unit_of_work() as uow:
        for _ in range(WRITE_AHEAD_ENTRIES):
            uow.transfer("user:0", "user:1", 1, "USD")
        uow.write_ahead()
        count = select(func.count()).select_from(journal).where(journal.c.tenant_id == "t1")
        assert uow.connection.execute(count).scalar_one() == 1 + WRITE_AHEAD_ENTRIES
    assert books.head()[0] == 1 + WRITE_AHEAD_ENTRIES
    assert books.balance("user:1").posted == WRITE_AHEAD_ENTRIES
    assert books.verify().ok


def _unbalanced_row_sent_ahead(books: Ledger) -> None:
    """A unit of work whose last entry's posting is altered after the engine checked
    it: PostgreSQL's own balance check refuses it, right after the rows are sent."""
    with books.unit_of_work() as uow:
        for _ in range(WRITE_AHEAD_ENTRIES):
            uow.transfer("user:0", "user:1", 1, "USD")
        uow._postings[-1]["amount"] += 1
        uow.write_ahead()
        uow.transfer("user:0", "user:2", 1, "USD")


@pytest.mark.postgresql_only
def test_a_row_refused_after_it_was_sent_ahead_fails_the_unit_whole(books: Ledger) -> None:
    books.transfer("@world", "user:0", 10_000, "USD")
    head = books.head()
    for _ in range(3):  # the pool's connections come back clean each time
        with pytest.raises(IntegrityError, match="unbalanced"):
            _unbalanced_row_sent_ahead(books)
    assert books.head() == head
    assert books.balance("user:0").posted == 10_000
    assert books.balance("user:1").posted == 0
    results = books.batch(
        [TransferRequest("user:0", "user:1", 1, "USD")] * (WRITE_AHEAD_ENTRIES + 1)
    )
    assert {r.status for r in results} == {201}
    assert books.balance("user:1").posted == WRITE_AHEAD_ENTRIES + 1
    assert books.verify().ok


def test_an_error_in_the_unit_after_a_send_rolls_everything_back(books: Ledger) -> None:
    """The caller's own exception comes out unchanged; nothing sent ahead stays."""
    books.transfer("@world", "user:0", 10_000, "USD")
    head = books.head()

    def fail_after_a_send() -> None:
        with books.unit_of_work() as uow:
            for _ in range(WRITE_AHEAD_ENTRIES):
                uow.transfer("user:0", "user:1", 1, "USD")
            uow.write_ahead()
            raise LookupError("the caller's own")

    with pytest.raises(LookupError, match="the caller's own"):
        fail_after_a_send()
    assert books.head() == head
    assert books.balance("user:1").posted == 0
    assert books.transfer("user:0", "user:1", 5, "USD").seq == head[0] + 1
    assert books.verify().ok


def test_an_atomic_batch_failing_after_sends_applies_nothing(books: Ledger) -> None:
    """Items already sent ahead are rolled back with the rest; each answers BATCH_ABORTED."""
    books.transfer("@world", "user:0", 10_000, "USD")
    head = books.head()
    failing = WRITE_AHEAD_ENTRIES * 2 + 3
    requests = [TransferRequest("user:0", "user:1", 1, "USD")] * (failing + 20)
    requests[failing] = TransferRequest("user:1", "user:2", 1_000_000, "USD")
    results = books.batch(requests, atomic=True, idempotency_key="all-or-nothing")
    assert results[failing].error is not None
    assert results[failing].error.code == "INSUFFICIENT_FUNDS"
    assert {r.error.code for i, r in enumerate(results) if i != failing and r.error} == {
        "BATCH_ABORTED"
    }
    assert all(r.transaction is None for r in results)
    assert books.head() == head
    assert books.balance("user:1").posted == 0
    assert books.verify().ok


# -- the same batch, sent ahead or not ---------------------------------------------------

ITEM = st.tuples(
    st.sampled_from(["@world", *USERS[:3]]),
    st.sampled_from(USERS[:3]),
    st.integers(min_value=1, max_value=60),
    st.booleans(),  # pending
    st.one_of(st.none(), st.sampled_from(["a", "b", "c", "d"])),  # key, reused at times
)


@settings(max_examples=25)
@given(items=st.lists(ITEM, min_size=1, max_size=40), every=st.integers(1, 6), atomic=st.booleans())
def test_a_batch_sent_ahead_ends_as_one_written_at_once(
    open_ledger: Callable[..., Ledger],
    monkeypatch: pytest.MonkeyPatch,
    items: list[tuple[str, str, int, bool, str | None]],
    every: int,
    atomic: bool,
) -> None:
    """Random batches (refusals, holds, reused keys, atomic or not) applied with a send
    every few entries and with none: the same results, sums, keys and verified chain."""
    base = open_ledger(tenant="base")
    outcomes = []
    for threshold in (every, 10**9):
        monkeypatch.setattr(uow_module, "WRITE_AHEAD_ENTRIES", threshold)
        ledger = base.for_tenant(f"w{next(_TENANTS)}")
        ledger.create_account("@world", currency="USD", overdraft_limit=None)
        for user in USERS[:3]:
            ledger.create_account(user, currency="USD")
        ledger.transfer("@world", USERS[0], 100, "USD")
        requests = [
            TransferRequest(a, b, amount, "USD", pending=pending, idempotency_key=key)
            for a, b, amount, pending, key in items
        ]
        results = ledger.batch(requests, atomic=atomic, idempotency_key="whole")
        replayed = ledger.batch(requests, atomic=atomic, idempotency_key="whole")
        assert [r.status for r in replayed] == [r.status for r in results]
        assert ledger.verify().ok
        outcomes.append(
            (
                [(r.status, r.error.code if r.error else None) for r in results],
                {a.id: a.sums for a in ledger.list_accounts(limit=100).data},
                ledger.head()[0],
            )
        )
    assert outcomes[0] == outcomes[1]
