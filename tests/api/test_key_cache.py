"""The API key cache: fast when nothing changed, never wrong when something did.

Two ``Access`` objects on one database stand for two server processes. The
storage tests run on every backend; the others drive ``KeyCache`` alone, with a
fake monotonic clock, and a property checks the 0.1 s promise of API.md for any
delays of the epoch's reads and the keys' lookups. Two real server processes are
in test_revocation_across_processes.py.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import Connection, Engine

from strongroom.access.cache import REVOCATION_BOUND_SECONDS, CachedKey, KeyCache
from strongroom.access.service import LAST_USE_RESOLUTION, Access
from strongroom.api import app as api_app
from strongroom.api.app import _read_revocations
from strongroom.domain.errors import Unauthenticated
from strongroom.store.database import create_db_engine, read_connection
from strongroom.testing import FakeClock
from tests.api.conftest import Server

START = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


class Ticks:
    """A monotonic clock that moves only when told."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _cache(clock: FakeClock, ticks: Ticks) -> KeyCache:
    return KeyCache(clock, touch_every=timedelta(seconds=60), monotonic=ticks)


def _key(clock: FakeClock, expires_at: datetime | None = None) -> CachedKey:
    return CachedKey("tn_1", "key_1", ("ledger:read",), expires_at, clock.now())


def _read(cache: KeyCache, ticks: Ticks, epoch: int, *, taking: float = 0.001) -> None:
    """A read of the epoch that begins now and is taken in ``taking`` seconds later."""
    started = ticks.now
    ticks.now += taking
    cache.saw_epoch(epoch, started)


def test_nothing_is_cached_before_the_epoch_is_read() -> None:
    """Before a first read, puts are refused and nothing is found."""
    clock, ticks = FakeClock(START), Ticks()
    cache = _cache(clock, ticks)
    cache.put("d", _key(clock), cache.epoch)
    assert cache.get("d") is None
    _read(cache, ticks, 0)
    cache.put("d", _key(clock), cache.epoch)
    assert cache.get("d") == _key(clock)


def test_a_moved_epoch_clears_every_key() -> None:
    """A read that finds another epoch empties the cache."""
    clock, ticks = FakeClock(START), Ticks()
    cache = _cache(clock, ticks)
    _read(cache, ticks, 3)
    cache.put("a", _key(clock), 3)
    cache.put("b", _key(clock), 3)
    _read(cache, ticks, 3)
    assert len(cache) == 2
    _read(cache, ticks, 4)
    assert len(cache) == 0
    assert cache.get("a") is None


def test_a_lookup_that_raced_a_revocation_is_not_kept() -> None:
    """The epoch read before the lookup moved before the put: the put is dropped."""
    clock, ticks = FakeClock(START), Ticks()
    cache = _cache(clock, ticks)
    _read(cache, ticks, 7)
    before = cache.epoch  # the lookup starts here ...
    _read(cache, ticks, 8)  # ... a revocation is seen meanwhile ...
    cache.put("d", _key(clock), before)  # ... and the lookup ends
    assert cache.get("d") is None
    cache.clear()  # this process revoked a key while a lookup was running
    cache.put("d", _key(clock), 8)
    assert cache.get("d") is None


@pytest.mark.parametrize("taking", [0.001, 0.07], ids=["quick-read", "slow-read"])
def test_the_cache_is_trusted_for_a_window_from_the_start_of_the_last_read(
    taking: float,
) -> None:
    """However long the read took, its start plus the window ends the trust."""
    clock, ticks = FakeClock(START), Ticks()
    cache = _cache(clock, ticks)
    began = ticks.now
    _read(cache, ticks, 0, taking=taking)
    cache.put("d", _key(clock), 0)
    ticks.now = began + cache.window_seconds - 0.001
    assert cache.get("d") == _key(clock)
    ticks.now = began + cache.window_seconds + 0.001
    assert cache.get("d") is None
    _read(cache, ticks, 0)
    assert cache.get("d") == _key(clock)


def test_a_read_that_began_before_a_later_one_is_ignored() -> None:
    """Reads taken in out of order: the older one neither vouches nor turns the epoch back."""
    clock, ticks = FakeClock(START), Ticks()
    cache = _cache(clock, ticks)
    _read(cache, ticks, 4)
    old_start = ticks.now  # a read begins, before the revocation ...
    ticks.now += 0.01
    _read(cache, ticks, 5)  # ... a later read sees it and is taken in first
    cache.put("d", _key(clock), 5)
    cache.saw_epoch(4, old_start)  # the old read ends
    assert cache.epoch == 5
    assert cache.get("d") == _key(clock)


def test_a_read_that_began_before_this_process_revoked_is_ignored() -> None:
    """After a clear, only a read begun later may restore the cache."""
    clock, ticks = FakeClock(START), Ticks()
    cache = _cache(clock, ticks)
    _read(cache, ticks, 4)
    before = ticks.now  # a read (and a lookup) begin before the revocation commits
    ticks.now += 0.001
    cache.clear()  # the revocation committed; this process forgets every key
    cache.saw_epoch(4, before)  # the read ends with the epoch before the revocation
    cache.put("d", _key(clock), 4)  # the lookup ends, having found the key valid
    assert cache.epoch is None
    assert cache.get("d") is None
    ticks.now += 0.001
    _read(cache, ticks, 5)
    cache.put("d", _key(clock), 5)
    assert cache.get("d") == _key(clock)


def test_the_window_cannot_exceed_the_promised_bound() -> None:
    """API.md promises 0.1 s: a longer window is refused."""
    with pytest.raises(ValueError, match="window_seconds"):
        KeyCache(FakeClock(START), touch_every=timedelta(seconds=60), window_seconds=0.2)


def test_expiry_and_the_last_use_interval_end_an_entry() -> None:
    """An entry ends when its key expires, and when its last use is due to be recorded."""
    clock, ticks = FakeClock(START), Ticks()
    cache = _cache(clock, ticks)
    _read(cache, ticks, 0)
    cache.put("brief", _key(clock, expires_at=START + timedelta(seconds=5)), 0)
    cache.put("long", _key(clock), 0)
    clock.advance(5)
    assert cache.get("brief") is None
    assert cache.get("long") is not None
    clock.advance(55)
    assert cache.get("long") is None  # its last use is due to be recorded


def test_the_cache_is_bounded() -> None:
    """More keys than ``max_entries``: the cache starts again rather than grow."""
    clock, ticks = FakeClock(START), Ticks()
    cache = KeyCache(clock, touch_every=timedelta(seconds=60), monotonic=ticks, max_entries=3)
    _read(cache, ticks, 0)
    for name in "abcdefg":
        cache.put(name, _key(clock), 0)
    assert 0 < len(cache) <= 3
    assert cache.get("g") is not None


# -- the guarantee, for any timing ------------------------------------------------------------

COMMIT = 10.0
"""When the revocation commits, in the simulations below; its DELETE answers later."""


@st.composite
def _timings(draw: st.DrawFn) -> dict[str, Any]:
    """Reads of the epoch and lookups of the key, each beginning and ending at any time."""
    moments = st.floats(COMMIT - 0.2, COMMIT + 0.2, allow_nan=False)
    durations = st.floats(0.0, 0.2, allow_nan=False)
    spans = st.lists(st.tuples(moments, durations, st.floats(0.0, 1.0)), max_size=5)
    return {
        "answered": COMMIT + draw(st.floats(0.0, 0.05)),
        "reads": draw(spans),
        "lookups": draw(spans),
        "checks": draw(st.lists(moments, min_size=1, max_size=20)),
        "revoker": draw(st.booleans()),
    }


@settings(max_examples=500)  # no I/O: a few hundred timings take a second
@given(timings=_timings())
def test_no_request_begun_a_bound_after_the_delete_finds_the_revoked_key(
    timings: dict[str, Any],
) -> None:
    """Whatever the delays of reads and lookups, the revoked key is gone in time.

    In the process that revoked it, from the DELETE's response on; in any other,
    0.1 s after it. Each read and lookup takes its snapshot somewhere between its
    start and its end, and sees the revocation if that is after the commit. The
    revoking process clears its cache between the commit and the response.
    """
    clock, ticks = FakeClock(START), Ticks()
    cache = _cache(clock, ticks)
    cache.saw_epoch(0, COMMIT - 1.0)
    events: list[tuple[float, int, Callable[[], None]]] = []

    def at(moment: float, action: Callable[[], None]) -> None:
        events.append((moment, len(events), action))

    def lookup(begin: float, end: float, valid: bool) -> None:
        seen: list[int | None] = []
        at(begin, lambda: seen.append(cache.epoch))
        if valid:  # the database found the key not yet revoked
            at(end, lambda: cache.put("d", _key(clock), seen[0]))

    for begin, took, where in timings["reads"]:
        epoch = 1 if begin + took * where >= COMMIT else 0
        at(begin + took, partial(cache.saw_epoch, epoch, begin))
    for begin, took, where in timings["lookups"]:
        lookup(begin, begin + took, begin + took * where < COMMIT)
    if timings["revoker"]:
        at((COMMIT + timings["answered"]) / 2, cache.clear)
    bound = 0.0 if timings["revoker"] else REVOCATION_BOUND_SECONDS
    late = [t for t in timings["checks"] if t > timings["answered"] + bound]
    found: dict[float, CachedKey | None] = {}

    def check(moment: float) -> None:
        at(moment, lambda: found.__setitem__(moment, cache.get("d")))

    for moment in late:
        check(moment)
    for moment, _, action in sorted(events, key=lambda e: e[:2]):
        ticks.now = moment
        action()
    assert found == dict.fromkeys(late)


# -- on the database ------------------------------------------------------------------------


class Steps:
    """A monotonic clock a microsecond further on at each look: a read never goes stale."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        self.now += 1e-6
        return self.now


@pytest.fixture
def two_processes(db_url: str, clock: FakeClock) -> Iterator[tuple[Access, Access]]:
    engines = [create_db_engine(db_url), create_db_engine(db_url)]
    both = Access(engines[0], clock, cache_keys=True), Access(engines[1], clock, cache_keys=True)
    for access in both:
        assert access.cache is not None
        access.cache.monotonic = Steps()  # a slow machine must not make a read stale
    yield both
    for engine in engines:
        engine.dispose()


def test_a_key_revoked_elsewhere_fails_once_the_epoch_is_read(
    two_processes: tuple[Access, Access],
) -> None:
    here, there = two_processes
    tenant, secret = here.create_tenant("cache")
    here.refresh_revocations()
    assert here.cached(secret) is None  # not looked up yet
    principal = here.authenticate(secret)
    assert here.cached(secret) == principal

    there.revoke(tenant.id, principal.key_id)
    assert here.cached(secret) == principal  # not yet seen here ...
    here.refresh_revocations()  # ... until the next read of the epoch
    assert here.cached(secret) is None
    with pytest.raises(Unauthenticated, match="revoked"):
        here.authenticate(secret)
    assert here.cached(secret) is None  # a refused key is never cached


def test_a_key_revoked_by_the_same_process_fails_at_once(
    two_processes: tuple[Access, Access],
) -> None:
    here, _ = two_processes
    tenant, secret = here.create_tenant("cache")
    here.refresh_revocations()
    principal = here.authenticate(secret)
    here.revoke(tenant.id, principal.key_id)
    assert here.cached(secret) is None
    with pytest.raises(Unauthenticated, match="revoked"):
        here.authenticate(secret)


def test_a_kept_connection_sees_every_new_epoch(two_processes: tuple[Access, Access]) -> None:
    """The server's watcher reads on one connection: no read sees an older one's snapshot."""
    here, there = two_processes
    tenant, secret = there.create_tenant("cache")
    key_id = there.authenticate(secret).key_id
    with read_connection(here.engine) as kept:
        here.refresh_revocations(kept)
        assert here.cache is not None
        before = here.cache.epoch
        assert before is not None
        there.revoke(tenant.id, key_id)
        here.refresh_revocations(kept)
        assert here.cache.epoch == before + 1


def test_revoking_twice_moves_the_epoch_once(two_processes: tuple[Access, Access]) -> None:
    here, there = two_processes
    tenant, secret = here.create_tenant("cache")
    key_id = here.authenticate(secret).key_id
    there.refresh_revocations()
    first = there.cache.epoch if there.cache is not None else None
    there.revoke(tenant.id, key_id)
    there.revoke(tenant.id, key_id)
    there.refresh_revocations()
    assert there.cache is not None
    assert first is not None
    assert there.cache.epoch == first + 1


def test_a_cached_key_still_records_its_use_about_once_a_minute(
    two_processes: tuple[Access, Access], clock: FakeClock
) -> None:
    here, _ = two_processes
    tenant, secret = here.create_tenant("cache")
    here.refresh_revocations()
    key_id = here.authenticate(secret).key_id
    assert here.cached(secret) is not None
    clock.advance(LAST_USE_RESOLUTION.total_seconds() + 1)
    assert here.cached(secret) is None  # due: the next call goes to the database
    here.refresh_revocations()
    here.authenticate(secret)
    [key] = here.list_keys(tenant.id).data
    assert key.id == key_id
    assert key.last_used_at == clock.now()


def test_malformed_keys_are_refused_without_a_lookup(two_processes: tuple[Access, Access]) -> None:
    here, _ = two_processes
    with pytest.raises(Unauthenticated, match="malformed"):
        here.cached("sr_not-a-key")


# -- the server's watcher -------------------------------------------------------------------


def _wait_for(done: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + 30
    while not done():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


def test_the_watcher_reads_the_epoch_until_told_to_stop(
    two_processes: tuple[Access, Access],
) -> None:
    """Its thread reads on a connection of its own and gives it back when it stops."""
    here, there = two_processes
    tenant, secret = there.create_tenant("watched")
    key_id = there.authenticate(secret).key_id
    cache = here.cache
    assert cache is not None
    done = threading.Event()
    thread = threading.Thread(target=_read_revocations, args=(here, done))
    thread.start()
    try:
        _wait_for(lambda: cache.epoch is not None, "a read")
        first = cache.epoch
        assert first is not None
        there.revoke(tenant.id, key_id)
        _wait_for(lambda: cache.epoch == first + 1, "the revocation")
    finally:
        done.set()
        thread.join()
    assert here.engine.pool.checkedout() == 0  # type: ignore[attr-defined]


def test_the_watcher_logs_an_unreachable_database_once(
    two_processes: tuple[Access, Access],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Failed reads are logged once, retried, and the recovery is logged."""
    here, _ = two_processes
    attempts: list[int] = []
    real = read_connection

    def flaky(engine: Engine) -> Connection:
        attempts.append(1)
        if len(attempts) <= 3:
            raise OSError("the database does not answer")
        return real(engine)

    monkeypatch.setattr(api_app, "read_connection", flaky)
    done = threading.Event()
    thread = threading.Thread(
        target=_read_revocations, args=(here, done), kwargs={"retry_seconds": 0.01}, daemon=True
    )
    with caplog.at_level(logging.INFO, logger="strongroom.api"):
        thread.start()
        try:
            _wait_for(lambda: here.cache is not None and here.cache.epoch is not None, "a read")
        finally:
            done.set()
            thread.join()
    said = [r.getMessage() for r in caplog.records if r.name == "strongroom.api"]
    assert said == [
        "cannot read the API key revocation epoch",
        "reading the API key revocation epoch again",
    ]


# -- through the server ---------------------------------------------------------------------


def test_the_server_drops_a_key_revoked_by_another_process(
    server: Server, new_tenant: Callable[[str], tuple[str, str]]
) -> None:
    """A key revoked by another process (the CLI, another server) stops working here."""
    tenant, key = new_tenant("elsewhere")
    other = Access(create_db_engine(server.database_url))
    with server.client(key) as doomed:
        assert doomed.get("/v1/accounts").status_code == 200
        assert doomed.get("/v1/accounts").status_code == 200  # now from the cache
        [listed] = other.list_keys(tenant).data
        other.revoke(tenant, listed.id)
        deadline = datetime.now(UTC) + timedelta(seconds=5)
        while doomed.get("/v1/accounts").status_code == 200:
            assert datetime.now(UTC) < deadline, "the revoked key kept working"
        assert doomed.get("/v1/accounts").status_code == 401
    other.engine.dispose()
