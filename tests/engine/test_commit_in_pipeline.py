"""On PostgreSQL, COMMIT travels in the flush's pipeline: a refusal at commit still fails
the write whole, and the connection goes back to the pool clean."""

from __future__ import annotations

import pytest
from sqlalchemy.exc import IntegrityError

from strongroom import Ledger
from strongroom.domain.errors import StrongroomError
from strongroom.engine.uow import UnitOfWork
from strongroom.store.prepared import pipelined, raw

pytestmark = pytest.mark.postgresql_only


def _accounts(ledger: Ledger) -> None:
    ledger.create_account("cash", currency="USD", overdraft_limit=None)
    ledger.create_account("user:1", currency="USD")


def _transfer_refused_at_commit(ledger: Ledger, amount: int) -> None:
    """A transfer in a unit of work that also breaks a constraint checked at COMMIT."""
    with ledger.unit_of_work() as uow:
        uow.transfer("cash", "user:1", amount, "USD")
        uow.connection.exec_driver_sql(
            "CREATE TEMP TABLE deferred_once (x int UNIQUE DEFERRABLE INITIALLY DEFERRED)"
            " ON COMMIT DROP"
        )
        uow.connection.exec_driver_sql("INSERT INTO deferred_once VALUES (1), (1)")


def _overdraw(ledger: Ledger) -> None:
    with ledger.unit_of_work() as uow:
        uow.transfer("cash", "user:1", 500, "USD")
        uow.transfer("user:1", "cash", 10_000, "USD")  # overdraws user:1


def test_a_refusal_at_commit_applies_nothing(ledger: Ledger) -> None:
    """A constraint checked only at COMMIT fails the unit of work; nothing of it stays.

    The driver's error comes out as SQLAlchemy's, like any other statement's, so
    retries and error handling see the usual types.
    """
    _accounts(ledger)
    head = ledger.head()
    with pytest.raises(IntegrityError, match="deferred_once"):
        _transfer_refused_at_commit(ledger, 500)
    assert ledger.head() == head
    assert ledger.balance("user:1").posted == 0
    assert ledger.verify().ok


def test_the_next_writes_after_a_refusal_at_commit_succeed(ledger: Ledger) -> None:
    """The pool hands out the same connections again: each must be idle and usable."""
    _accounts(ledger)
    for _ in range(3):
        with pytest.raises(IntegrityError):
            _transfer_refused_at_commit(ledger, 1)
    for _ in range(20):
        ledger.transfer("cash", "user:1", 5, "USD")
    assert ledger.balance("user:1").posted == 100
    assert ledger.verify().ok


def test_a_domain_refusal_still_rolls_back(ledger: Ledger) -> None:
    """An error before the flush never reaches the pipeline: nothing is sent to commit."""
    _accounts(ledger)
    head = ledger.head()
    with pytest.raises(StrongroomError):
        _overdraw(ledger)
    assert ledger.head() == head


def test_a_serialization_failure_inside_a_pipeline_is_retried(ledger: Ledger) -> None:
    """An error that surfaces when a pipeline ends is retried like any other statement's."""
    _accounts(ledger)
    attempts: list[int] = []

    def work(uow: UnitOfWork) -> None:
        attempts.append(1)
        uow.transfer("cash", "user:1", 7, "USD")
        if len(attempts) == 1:
            with pipelined(uow.connection):
                raw(uow.connection).execute(
                    "DO $$ BEGIN RAISE EXCEPTION 'conflict' USING ERRCODE = '40001'; END $$"
                )

    ledger.transact(work)
    assert len(attempts) == 2
    assert ledger.balance("user:1").posted == 7
