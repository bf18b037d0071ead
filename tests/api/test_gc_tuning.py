"""A server process of its own tunes the garbage collector for its lifetime, and only then."""

from __future__ import annotations

import asyncio
import gc
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from typer.testing import CliRunner

from strongroom.api.app import GC_YOUNG_THRESHOLD, create_app
from strongroom.api.settings import Settings
from strongroom.cli import app as cli


def _serve_once(db_url: str, **settings: object) -> tuple[int, tuple[int, int, int]]:
    """Run the app's lifespan (startup, then shutdown): the collector as it was between."""
    app = create_app(Settings(database_url=db_url, worker=False, **settings))  # type: ignore[arg-type]

    async def lifespan() -> tuple[int, tuple[int, int, int]]:
        inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        outbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        await inbox.put({"type": "lifespan.startup"})
        scope = {"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}
        running = asyncio.create_task(app(scope, inbox.get, outbox.put))
        assert (await outbox.get())["type"] == "lifespan.startup.complete"
        inside = gc.get_freeze_count(), gc.get_threshold()
        await inbox.put({"type": "lifespan.shutdown"})
        assert (await outbox.get())["type"] == "lifespan.shutdown.complete"
        await running
        return inside

    return asyncio.run(lifespan())


def test_a_tuned_server_freezes_startup_and_restores_the_collector(db_url: str) -> None:
    before = gc.get_threshold()
    frozen, threshold = _serve_once(db_url, tune_gc=True)
    assert frozen > 10_000  # the modules, routes and models made at startup
    assert threshold == (GC_YOUNG_THRESHOLD, *before[1:])
    assert gc.get_freeze_count() == 0
    assert gc.get_threshold() == before


def test_an_embedded_app_leaves_the_collector_alone(db_url: str) -> None:
    """``create_app`` in someone else's process (the default) changes nothing global."""
    before = gc.get_threshold()
    frozen, threshold = _serve_once(db_url)
    assert frozen == 0
    assert threshold == before


def test_serve_tunes_its_workers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``strongroom serve`` hands its workers (processes of their own) the setting."""
    seen: dict[str, Any] = {}

    def run(target: str, **options: Any) -> None:
        seen.update(options, target=target, settings=Settings())

    for name in ("STRONGROOM_TUNE_GC", "STRONGROOM_DATABASE_URL", "STRONGROOM_WORKER"):
        monkeypatch.delenv(name, raising=False)  # serve sets them; restored after the test
    monkeypatch.setattr(uvicorn, "run", run)
    url = f"sqlite:///{tmp_path / 'serve.db'}"
    result = CliRunner().invoke(cli, ["serve", "--database-url", url, "--port", "8123"])
    assert result.exit_code == 0, result.output
    assert seen["target"] == "strongroom.api.app:app_from_environment"
    assert seen["settings"].tune_gc is True
    assert seen["settings"].database_url == url
