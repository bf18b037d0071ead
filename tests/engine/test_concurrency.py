"""Many writers at once: threads sharing one ledger, and processes on one database.

Every writer draws operations from one seeded script: deposits, transfers,
multi-line sales, holds, and keyed or unkeyed post/void of those holds, among
20 user accounts in two currencies. Idempotency keys come from small pools and
each key always names the same request, so duplicates collide concurrently.
Afterwards the books must balance, respect every overdraft limit, show each key
applied exactly once, and agree with an independent recount from the
transactions and with ``verify``.
"""

from __future__ import annotations

import multiprocessing
import random
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from strongroom import (
    AmountExceedsHold,
    HoldNotPending,
    InsufficientFunds,
    Ledger,
    Line,
    Sums,
    Transaction,
    TxStatus,
)

TENANT = "t1"
THREADS = 8
PROCESSES = 4
OPS_PER_WRITER = 50
USERS = [f"user:{i}" for i in range(20)]
WORLD = {"USD": "@world", "EUR": "@world:EUR"}
POOL = {"dep": 20, "xfer": 50, "sale": 15, "hold": 40}
HOLD_TIMEOUT = 24 * 3600
DEADLINE_SECONDS = 120  # a stuck writer fails the test instead of hanging it

# Refusals that are normal outcomes of racing writers; anything else fails the test.
EXPECTED_ERRORS = (InsufficientFunds, HoldNotPending, AmountExceedsHold)

Result = tuple[str, str, int | None]  # (transaction id, status, pending_amount_posted)


def currency_of(user: str) -> str:
    return "USD" if int(user.split(":")[1]) < 10 else "EUR"


def overdraft_of(user: str) -> int:
    return 500 if int(user.split(":")[1]) % 5 == 0 else 0


def users_in(currency: str) -> list[str]:
    return [u for u in USERS if currency_of(u) == currency]


def create_accounts(ledger: Ledger) -> None:
    for currency, world in WORLD.items():
        ledger.create_account(world, currency=currency, overdraft_limit=None)
    for user in USERS:
        ledger.create_account(user, currency=currency_of(user), overdraft_limit=overdraft_of(user))


# -- the script: each key names exactly one request --------------------------------------


def _pair(rng: random.Random) -> tuple[str, str, str]:
    currency = rng.choice(sorted(WORLD))
    source, destination = rng.sample(users_in(currency), 2)
    return source, destination, currency


def _keyed_request(pool: str, n: int) -> dict[str, Any]:
    """The one request that key ``{pool}-{n}`` always stands for."""
    key = f"{pool}-{n}"
    rng = random.Random(key)
    if pool == "dep":
        user = rng.choice(USERS)
        currency = currency_of(user)
        return {"args": (WORLD[currency], user, rng.randint(200, 1000), currency), "key": key}
    source, destination, currency = _pair(rng)
    if pool == "sale":
        third = rng.choice([u for u in users_in(currency) if u not in (source, destination)])
        a, b = rng.randint(5, 150), rng.randint(5, 150)
        lines = [
            Line(source, "debit", a + b),
            Line(destination, "credit", a),
            Line(third, "credit", b),
        ]
        return {"lines": lines, "currency": currency, "key": key}
    return {"args": (source, destination, rng.randint(10, 300), currency), "key": key}


def _finish_request(n: int, hold_amount: int) -> tuple[str, int | None]:
    """The one way key ``fin-{n}`` finishes hold ``hold-{n}``: full, part, too much, or void."""
    rng = random.Random(f"fin-{n}")
    how = rng.choice(["full", "part", "too-much", "void"])
    if how == "full":
        return "post", None
    if how == "part":
        return "post", rng.randint(1, hold_amount)
    if how == "too-much":
        return "post", hold_amount + 1
    return "void", None


@dataclass
class Outcome:
    """What one writer saw: every successful keyed result, and counts of refusals."""

    results: dict[str, list[Result]] = field(default_factory=dict)
    refused: dict[str, int] = field(default_factory=dict)
    applied: int = 0

    def merge(self, other: Outcome) -> None:
        for key, found in other.results.items():
            self.results.setdefault(key, []).extend(found)
        for code, count in other.refused.items():
            self.refused[code] = self.refused.get(code, 0) + count
        self.applied += other.applied


def _result(tx: Transaction) -> Result:
    return (tx.id, tx.status.value, tx.pending_amount_posted)


class Writer:
    """Runs one seeded script of operations against a ledger."""

    def __init__(self, ledger: Ledger, seed: int) -> None:
        self.ledger = ledger
        self.rng = random.Random(seed)
        self.outcome = Outcome()
        self.holds: dict[int, Transaction] = {}

    def run(self, operations: int) -> Outcome:
        steps: list[Callable[[], None]] = [
            self.deposit, self.transfer, self.transfer, self.sale, self.unkeyed_transfer,
            self.hold, self.hold, self.finish, self.finish, self.unkeyed_finish,
        ]  # fmt: skip
        for _ in range(operations):
            try:
                self.rng.choice(steps)()
            except EXPECTED_ERRORS as exc:
                self.outcome.refused[exc.code] = self.outcome.refused.get(exc.code, 0) + 1
        return self.outcome

    def _keep(self, key: str | None, tx: Transaction) -> Transaction:
        self.outcome.applied += 1
        if key is not None:
            self.outcome.results.setdefault(key, []).append(_result(tx))
        return tx

    def _keyed_transfer(self, pool: str, n: int, **extra: Any) -> Transaction:
        request = _keyed_request(pool, n)
        key = request["key"]
        tx = self.ledger.transfer(
            *request["args"], idempotency_key=key, metadata={"key": key}, **extra
        )
        return self._keep(key, tx)

    def deposit(self) -> None:
        self._keyed_transfer("dep", self.rng.randrange(POOL["dep"]), kind="deposit")

    def transfer(self) -> None:
        self._keyed_transfer("xfer", self.rng.randrange(POOL["xfer"]))

    def sale(self) -> None:
        request = _keyed_request("sale", self.rng.randrange(POOL["sale"]))
        key = request["key"]
        tx = self.ledger.post(
            request["lines"],
            currency=request["currency"],
            idempotency_key=key,
            metadata={"key": key},
        )
        self._keep(key, tx)

    def unkeyed_transfer(self) -> None:
        source, destination, currency = _pair(self.rng)
        self._keep(
            None, self.ledger.transfer(source, destination, self.rng.randint(1, 80), currency)
        )

    def hold(self) -> None:
        n = self.rng.randrange(POOL["hold"])
        self.holds[n] = self._keyed_transfer("hold", n, pending=True, timeout_seconds=HOLD_TIMEOUT)

    def finish(self) -> None:
        """Finish a hold with its own key (creating or replaying the hold first)."""
        n = self.rng.randrange(POOL["hold"])
        hold = self.holds.get(n) or self._keyed_transfer(
            "hold", n, pending=True, timeout_seconds=HOLD_TIMEOUT
        )
        self.holds[n] = hold
        how, amount = _finish_request(n, hold.amount)
        key = f"fin-{n}"
        if how == "void":
            tx = self.ledger.void_pending(hold.id, idempotency_key=key)
        else:
            tx = self.ledger.post_pending(hold.id, amount, idempotency_key=key)
        self._keep(key, tx)

    def unkeyed_finish(self) -> None:
        """Post part of, or void, a hold this writer knows, racing the keyed finishes."""
        if not self.holds:
            return
        hold = self.holds[self.rng.choice(sorted(self.holds))]
        if self.rng.random() < 0.5:
            tx = self.ledger.void_pending(hold.id)
        else:
            tx = self.ledger.post_pending(hold.id, self.rng.randint(1, hold.amount))
        self._keep(None, tx)


def run_writer(db_url: str, seed: int) -> Outcome:
    """A process's writer: its own ledger on the shared database (importable for spawn)."""
    with Ledger.open(db_url, tenant=TENANT, migrate=False) as ledger:
        return Writer(ledger, seed).run(OPS_PER_WRITER)


# -- reading the books back ------------------------------------------------------------


def all_transactions(ledger: Ledger) -> Iterator[Transaction]:
    cursor: str | None = None
    while True:
        page = ledger.list_transactions(limit=97, cursor=cursor)
        yield from page.data
        if page.next_cursor is None:
            return
        cursor = page.next_cursor


def all_events(ledger: Ledger) -> Iterator[dict[str, Any]]:
    after = 0
    while batch := ledger.events(after=after, limit=500):
        yield from batch
        after = batch[-1]["seq"]


def recount(transactions: list[Transaction]) -> dict[str, Sums]:
    """Every account's four sums, recomputed from the transactions' final states."""
    totals: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    for tx in transactions:
        if tx.status in (TxStatus.VOIDED, TxStatus.EXPIRED):
            continue
        pending = tx.status is TxStatus.PENDING
        for line in tx.lines:
            amount = line.amount if tx.pending_amount_posted is None else tx.pending_amount_posted
            slot = (2 if pending else 0) + (0 if line.side == "debit" else 1)
            totals[line.account][slot] += amount
    return {account: Sums(*values) for account, values in totals.items()}


def check_books(ledger: Ledger, outcome: Outcome) -> None:
    """The end-state checks shared by the thread and the process tests."""
    accounts = [ledger.get_account(a) for a in [*WORLD.values(), *USERS]]
    for currency in WORLD:
        sums = [a.sums for a in accounts if a.currency == currency]
        assert sum(s.posted_debits for s in sums) == sum(s.posted_credits for s in sums)
        assert sum(s.pending_debits for s in sums) == sum(s.pending_credits for s in sums)
    for account in accounts:
        assert account.within_limit(), account

    transactions = list(all_transactions(ledger))
    by_key: dict[str, list[Transaction]] = defaultdict(list)
    for tx in transactions:
        if "key" in tx.metadata:
            by_key[tx.metadata["key"]].append(tx)
    assert all(len(found) == 1 for found in by_key.values())
    created_keys = {k for k in outcome.results if not k.startswith("fin-")}
    assert set(by_key) == created_keys
    for key, results in outcome.results.items():
        assert len({tx_id for tx_id, _, _ in results}) == 1, (key, results)
        if key.startswith("fin-"):
            assert len(set(results)) == 1, (key, results)
            assert results[0][0] == by_key[key.replace("fin-", "hold-")][0].id
            final = ledger.get_transaction(results[0][0])
            assert _result(final) == results[0], (key, final)
        else:
            assert results[0][0] == by_key[key][0].id

    holds = {tx.id: tx for tx in transactions if tx.expires_at is not None}
    finishes: dict[str, int] = defaultdict(int)
    for event in all_events(ledger):
        if event["data"].get("id") in holds and event["type"] != "transaction.pending":
            finishes[event["data"]["id"]] += 1
    for hold_id, hold in holds.items():
        assert finishes[hold_id] == (0 if hold.status is TxStatus.PENDING else 1), hold

    stored = {a.id: a.sums for a in accounts if a.sums != Sums()}
    assert recount(transactions) == stored
    assert ledger.verify().ok


# -- the tests ---------------------------------------------------------------------------


def test_threads_sharing_a_ledger_keep_the_books_exact(ledger: Ledger) -> None:
    """Eight threads racing on one ledger and colliding keys leave exact, verified books."""
    create_accounts(ledger)
    outcomes = [Outcome() for _ in range(THREADS)]
    failures: list[BaseException] = []
    start = threading.Barrier(THREADS)

    def work(index: int) -> None:
        try:
            start.wait()
            outcomes[index] = Writer(ledger, seed=1000 + index).run(OPS_PER_WRITER)
        except BaseException as exc:  # re-raised in the test's thread below
            failures.append(exc)

    threads = [threading.Thread(target=work, args=(i,), daemon=True) for i in range(THREADS)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + DEADLINE_SECONDS
    for thread in threads:
        thread.join(timeout=max(0.0, deadline - time.monotonic()))
    assert not any(thread.is_alive() for thread in threads)
    if failures:
        raise failures[0]
    total = Outcome()
    for outcome in outcomes:
        total.merge(outcome)
    assert total.applied > 0
    check_books(ledger, total)


@pytest.mark.postgresql_only
def test_processes_on_one_database_keep_the_books_exact(ledger: Ledger, db_url: str) -> None:
    """Four processes writing to one PostgreSQL database with shared keys keep exact books."""
    create_accounts(ledger)
    context = multiprocessing.get_context("spawn")
    with context.Pool(PROCESSES) as pool:
        pending = pool.starmap_async(run_writer, [(db_url, 2000 + i) for i in range(PROCESSES)])
        outcomes = pending.get(timeout=DEADLINE_SECONDS)
    total = Outcome()
    for outcome in outcomes:
        total.merge(outcome)
    assert total.applied > 0
    check_books(ledger, total)
