"""Who pays whom: the accounts of a run and the pairs each transfer moves between.

Strongroom and the baseline draw the same pairs from the same seeds, so the
two sides of a ratio do the same work on the same rows. ``uniform`` spreads
transfers over every account; ``hot`` makes one side of every transfer the
shared account ``hot`` (a popular merchant, a house wallet).
"""

from __future__ import annotations

import random
from collections.abc import Callable

from strongroom.engine.ledger import Ledger
from strongroom.engine.requests import TransferRequest
from strongroom.engine.uow import UnitOfWork

CURRENCY = "USD"
WORLD = "@world"
HOT = "hot"
FUNDS = 10**15
"""What each account starts with: no transfer of a run can exhaust it."""

Pairs = Callable[[int], tuple[str, str]]
"""A worker's pair generator: call number to ``(source, destination)``."""


def account_ids(accounts: int) -> list[str]:
    return [f"user:{a}" for a in range(accounts)]


def pairs(pattern: str, accounts: int, worker: int) -> Pairs:
    """The pairs of ``worker`` (seeded by it): distinct accounts, deterministic."""
    rng = random.Random(7919 * worker + 1)
    ids = account_ids(accounts)

    def uniform(_: int) -> tuple[str, str]:
        source, destination = rng.sample(ids, 2)
        return source, destination

    def hot(i: int) -> tuple[str, str]:
        other = ids[rng.randrange(accounts)]
        return (HOT, other) if i % 2 == 0 else (other, HOT)

    if pattern == "uniform":
        return uniform
    if pattern == "hot":
        return hot
    raise ValueError(f"unknown pattern {pattern!r}")


def every_account(accounts: int) -> list[str]:
    """Every account a run touches, besides ``@world``."""
    return [*account_ids(accounts), HOT]


def set_up_ledger(ledger: Ledger, accounts: int) -> None:
    """Create the run's accounts in one transaction, then fund them in batches."""
    ids = every_account(accounts)

    def create(uow: UnitOfWork) -> None:
        uow.create_account(WORLD, currency=CURRENCY, overdraft_limit=None)
        for account in ids:
            uow.create_account(account, currency=CURRENCY)

    ledger.transact(create)
    for start in range(0, len(ids), 1000):
        chunk = ids[start : start + 1000]
        requests = [TransferRequest(WORLD, account, FUNDS, CURRENCY) for account in chunk]
        failed = [r.error for r in ledger.batch(requests, atomic=True) if r.error is not None]
        if failed:
            raise RuntimeError(f"funding the benchmark accounts failed: {failed[0]}")
    if ledger.engine.dialect.name == "postgresql":
        # Planner statistics, as autovacuum would gather them within a minute of
        # creating this many accounts. Without them PostgreSQL believes the fresh
        # tenant has a handful of rows, and finds a batch's accounts by scanning
        # all of the tenant's rather than by key: about twice the time to lock
        # them.
        with ledger.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("ANALYZE")
