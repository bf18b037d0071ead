"""A server process reads the ledger in at most ``read_threads`` threads at once; a read
beyond them waits its turn and is answered like any other."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import httpx
import pytest

from strongroom.api.app import create_app
from strongroom.api.settings import Settings
from strongroom.engine.ledger import Ledger

READS = 6
HOLD_S = 0.2  # each read holds its thread this long, so the reads sent together overlap


def _most_at_once(db_url: str, monkeypatch: pytest.MonkeyPatch, **settings: Any) -> int:
    """Send READS account reads at once; each must answer 200 with the account. Returns
    how many ran inside the ledger at the same time, at most."""
    inside = most = 0
    lock = threading.Lock()
    get_account = Ledger.get_account

    def counted(self: Ledger, account_id: str) -> Any:
        nonlocal inside, most
        with lock:
            inside += 1
            most = max(most, inside)
        try:
            time.sleep(HOLD_S)
            return get_account(self, account_id)
        finally:
            with lock:
                inside -= 1

    app = create_app(Settings(database_url=db_url, worker=False, **settings))

    async def run() -> None:
        async with app.router.lifespan_context(app):
            _tenant, key = app.state.access.create_tenant("reader")
            transport = httpx.ASGITransport(app=app)
            headers = {"Authorization": f"Bearer {key}"}
            async with httpx.AsyncClient(
                transport=transport, base_url="http://test", headers=headers
            ) as client:
                created = await client.post("/v1/accounts", json={"id": "a", "currency": "USD"})
                assert created.status_code == 201, created.text
                monkeypatch.setattr(Ledger, "get_account", counted)
                answers = await asyncio.gather(
                    *(client.get("/v1/accounts/a") for _ in range(READS))
                )
        for answer in answers:
            assert answer.status_code == 200, answer.text
            assert answer.json()["id"] == "a"

    asyncio.run(run())
    return most


def test_reads_beyond_the_read_threads_wait_their_turn(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert _most_at_once(db_url, monkeypatch, read_threads=2) == 2


def test_reads_within_the_read_threads_run_together(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The default (8) lets the six reads overlap: the limit queues, it does not serialize."""
    assert Settings().read_threads == 8
    assert _most_at_once(db_url, monkeypatch) > 2


def test_read_threads_must_be_positive() -> None:
    with pytest.raises(ValueError, match="read_threads"):
        Settings(read_threads=0)
