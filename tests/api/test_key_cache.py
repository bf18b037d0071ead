"""The API key cache: fast when nothing changed, never wrong when something did.

Two ``Access`` objects on one database stand for two server processes. The
storage tests run on every backend; the others drive ``KeyCache`` alone, with a
fake monotonic clock.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest

from strongroom.access.cache import CachedKey, KeyCache
from strongroom.access.service import LAST_USE_RESOLUTION, Access
from strongroom.domain.errors import Unauthenticated
from strongroom.store.database import create_db_engine
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


def test_nothing_is_cached_before_the_epoch_is_read() -> None:
    clock, ticks = FakeClock(START), Ticks()
    cache = _cache(clock, ticks)
    cache.put("d", _key(clock), cache.epoch)
    assert cache.get("d") is None
    cache.saw_epoch(0)
    cache.put("d", _key(clock), cache.epoch)
    assert cache.get("d") == _key(clock)


def test_a_moved_epoch_clears_every_key() -> None:
    clock, ticks = FakeClock(START), Ticks()
    cache = _cache(clock, ticks)
    cache.saw_epoch(3)
    cache.put("a", _key(clock), 3)
    cache.put("b", _key(clock), 3)
    cache.saw_epoch(3)
    assert len(cache) == 2
    cache.saw_epoch(4)
    assert len(cache) == 0
    assert cache.get("a") is None


def test_a_lookup_that_raced_a_revocation_is_not_kept() -> None:
    """The epoch read before the lookup moved before the put: the put is dropped."""
    clock, ticks = FakeClock(START), Ticks()
    cache = _cache(clock, ticks)
    cache.saw_epoch(7)
    before = cache.epoch  # the lookup starts here ...
    cache.saw_epoch(8)  # ... a revocation is seen meanwhile ...
    cache.put("d", _key(clock), before)  # ... and the lookup ends
    assert cache.get("d") is None
    cache.clear()  # this process revoked a key while a lookup was running
    cache.put("d", _key(clock), 8)
    assert cache.get("d") is None


def test_a_stale_cache_answers_nothing_until_the_epoch_is_read_again() -> None:
    clock, ticks = FakeClock(START), Ticks()
    cache = _cache(clock, ticks)
    cache.saw_epoch(0)
    cache.put("d", _key(clock), 0)
    ticks.now += cache.stale_after_seconds + 0.01
    assert cache.get("d") is None
    cache.saw_epoch(0)
    assert cache.get("d") == _key(clock)


def test_expiry_and_the_last_use_interval_end_an_entry() -> None:
    clock, ticks = FakeClock(START), Ticks()
    cache = _cache(clock, ticks)
    cache.saw_epoch(0)
    cache.put("brief", _key(clock, expires_at=START + timedelta(seconds=5)), 0)
    cache.put("long", _key(clock), 0)
    clock.advance(5)
    ticks.now += 0.05
    assert cache.get("brief") is None
    assert cache.get("long") is not None
    clock.advance(55)
    assert cache.get("long") is None  # its last use is due to be recorded


def test_the_cache_is_bounded() -> None:
    clock, ticks = FakeClock(START), Ticks()
    cache = KeyCache(clock, touch_every=timedelta(seconds=60), monotonic=ticks, max_entries=3)
    cache.saw_epoch(0)
    for name in "abcdefg":
        cache.put(name, _key(clock), 0)
    assert 0 < len(cache) <= 3
    assert cache.get("g") is not None


# -- on the database ------------------------------------------------------------------------


@pytest.fixture
def two_processes(db_url: str, clock: FakeClock) -> Iterator[tuple[Access, Access]]:
    engines = [create_db_engine(db_url), create_db_engine(db_url)]
    yield Access(engines[0], clock, cache_keys=True), Access(engines[1], clock, cache_keys=True)
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
