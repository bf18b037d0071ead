"""Fixtures of the events tests: receivers, the relay's database engine."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from sqlalchemy import Engine

from strongroom.store.database import create_db_engine
from tests.events.nats_support import space
from tests.events.receiver import Answer, Receiver

__all__ = ["engine", "receivers", "space"]  # space: a NATS stream of its own per test


@pytest.fixture
def receivers() -> Iterator[Callable[..., Receiver]]:
    """Start receivers: ``receivers(answer=lambda n: (500, {}))``; stopped at the end."""
    started: list[Receiver] = []

    def start(answer: Callable[[int], Answer] | None = None) -> Receiver:
        receiver = Receiver(answer) if answer else Receiver()
        started.append(receiver.start())
        return receiver

    yield start
    for receiver in started:
        receiver.stop()


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    """An engine on the test's database, disposed at the end."""
    engine = create_db_engine(db_url)
    yield engine
    engine.dispose()
