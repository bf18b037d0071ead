"""A writer killed with SIGKILL in the middle of its work loses nothing it acknowledged.

A child process posts transfers in a tight loop and prints the id of each one
after the call returned. The parent kills it once it has read enough of those
acknowledgements, most likely in the middle of a unit of work, then reopens the
database and checks the books.
"""

from __future__ import annotations

import inspect
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO

import pytest

from strongroom import Ledger, Transaction, TxStatus

TENANT = "t1"
ACKS = 30
DEADLINE_SECONDS = 60


def write(ledger: Ledger, i: int) -> Transaction:
    """The child's ``i``-th write, key ``crash-<i>``: two deposits, then a hold, and again."""
    key = f"crash-{i}"
    if i % 3 == 2:
        return ledger.transfer(
            "user:1", "shop", 1, "USD", idempotency_key=key, pending=True, timeout_seconds=3600
        )
    return ledger.transfer("@world", "user:1", 2, "USD", idempotency_key=key)


# Writes until killed, printing each transaction id once its call has returned.
CHILD = f"""
import sys
from strongroom import Ledger, Transaction

{inspect.getsource(write)}

ledger = Ledger.open(sys.argv[1], tenant=sys.argv[2], migrate=False)
i = 0
while True:
    tx = write(ledger, i)
    print(i, tx.id, flush=True)
    i += 1
"""


def _pump(stream: IO[str], lines: queue.Queue[str | None]) -> None:
    for line in stream:
        lines.put(line)
    lines.put(None)


def run_and_kill(db_url: str, stderr_path: Path) -> dict[int, str]:
    """Start the child, read ``ACKS`` acknowledgements, SIGKILL it: ``{i: transaction id}``."""
    acked: dict[int, str] = {}
    lines: queue.Queue[str | None] = queue.Queue()
    with stderr_path.open("w") as stderr:
        child = subprocess.Popen(
            [sys.executable, "-c", CHILD, db_url, TENANT],
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
        )
        assert child.stdout is not None
        pump = threading.Thread(target=_pump, args=(child.stdout, lines), daemon=True)
        pump.start()
        try:
            deadline = time.monotonic() + DEADLINE_SECONDS
            while len(acked) < ACKS:
                line = lines.get(timeout=max(0.1, deadline - time.monotonic()))
                assert line is not None, stderr_path.read_text()
                index, tx_id = line.split()
                acked[int(index)] = tx_id
        finally:
            child.kill()
            child.wait(timeout=DEADLINE_SECONDS)
            pump.join(timeout=DEADLINE_SECONDS)
            child.stdout.close()
    assert child.returncode == -signal.SIGKILL
    return acked


@pytest.fixture
def killed(open_ledger: Callable[..., Ledger], db_url: str, tmp_path: Path) -> dict[int, str]:
    """The acknowledgements of a writer that was then killed (its ledger set up first)."""
    with open_ledger(tenant=TENANT) as setup:
        setup.create_account("@world", currency="USD", overdraft_limit=None)
        setup.create_account("user:1", currency="USD")
        setup.create_account("shop", currency="USD")
    return run_and_kill(db_url, tmp_path / "child.err")


def test_acknowledged_writes_survive_sigkill(
    killed: dict[int, str], open_ledger: Callable[..., Ledger]
) -> None:
    """After the writer is killed, the chain verifies and every acknowledged id is there."""
    ledger = open_ledger(tenant=TENANT)
    assert ledger.verify().ok
    found = {i: ledger.get_transaction(tx_id) for i, tx_id in killed.items()}
    assert all(tx.id == killed[i] for i, tx in found.items())
    assert all(tx.status is TxStatus.PENDING for i, tx in found.items() if i % 3 == 2)


def test_retries_after_sigkill_apply_each_key_once(
    killed: dict[int, str], open_ledger: Callable[..., Ledger]
) -> None:
    """Retrying the killed writer's keys replays what it acknowledged and applies the rest once."""
    ledger = open_ledger(tenant=TENANT)
    before = ledger.head()[0]
    acked = [write(ledger, i) for i in sorted(killed)]
    in_flight = write(ledger, max(killed) + 1)  # killed before or after its commit
    assert [(tx.id, tx.replayed) for tx in acked] == [(killed[i], True) for i in sorted(killed)]
    assert ledger.head()[0] == before + (0 if in_flight.replayed else 1)
    assert write(ledger, max(killed) + 1).id == in_flight.id
    assert ledger.verify().ok
