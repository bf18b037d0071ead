"""A cache of authenticated API keys that never outlives a revocation it could know of.

Authenticating a key from the database costs a round trip and, in the server, a
hop to a worker thread; a request that finds its key here pays neither. What
keeps the cache honest is the revocation *epoch*: a counter in the database that
every revocation increments in its own transaction.

* The process that revokes a key clears its own cache at once.
* Every serving process reads the epoch every ``refresh_seconds`` (a tenth of a
  second by default) and clears its cache when the epoch moved, so a key revoked
  by another process or server stops working there within that interval.
* An entry is put only if the epoch did not move while its key was being looked
  up, so a lookup racing a revocation can never put back a revoked key.
* When the epoch could not be read for ``stale_after_seconds``, the cache answers
  nothing and every key is looked up again, until a read succeeds.
* An entry is also dropped when its key expires, and after ``touch_every`` so
  that the key's ``last_used_at`` is still recorded about once a minute.

The cache holds the SHA-256 digest of each key (as the database does), never the
key itself, and at most ``max_entries`` of them.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from strongroom.domain.clock import Clock

DEFAULT_REFRESH_SECONDS = 0.1
DEFAULT_STALE_AFTER_SECONDS = 2.0
DEFAULT_MAX_ENTRIES = 10_000


@dataclass(frozen=True, slots=True)
class CachedKey:
    """What authentication found for one key digest."""

    tenant: str
    key_id: str
    scopes: tuple[str, ...]
    expires_at: datetime | None
    checked_at: datetime
    """When the database last said the key was valid (and recorded its use)."""


class KeyCache:
    """Digest → :class:`CachedKey`, valid while the revocation epoch stands still."""

    def __init__(
        self,
        clock: Clock,
        *,
        touch_every: timedelta,
        refresh_seconds: float = DEFAULT_REFRESH_SECONDS,
        stale_after_seconds: float = DEFAULT_STALE_AFTER_SECONDS,
        max_entries: int = DEFAULT_MAX_ENTRIES,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.clock = clock
        self.touch_every = touch_every
        self.refresh_seconds = refresh_seconds
        self.stale_after_seconds = stale_after_seconds
        self.max_entries = max_entries
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._entries: dict[str, CachedKey] = {}
        self._epoch: int | None = None
        self._fresh_until = float("-inf")

    @property
    def epoch(self) -> int | None:
        """The last revocation epoch read (None before the first read)."""
        return self._epoch

    def get(self, digest: str) -> CachedKey | None:
        """The cached key, or None when it must be looked up in the database."""
        if self._monotonic() > self._fresh_until:
            return None
        found = self._entries.get(digest)
        if found is None:
            return None
        now = self.clock.now()
        if found.expires_at is not None and found.expires_at <= now:
            return None
        if found.checked_at <= now - self.touch_every:
            return None
        return found

    def put(self, digest: str, key: CachedKey, epoch_before: int | None) -> None:
        """Keep ``key`` if the epoch read before its lookup is still the current one."""
        with self._lock:
            if epoch_before is None or epoch_before != self._epoch:
                return
            if len(self._entries) >= self.max_entries and digest not in self._entries:
                self._entries.clear()  # rare: more live keys than the bound; start again
            self._entries[digest] = key

    def saw_epoch(self, epoch: int) -> None:
        """The epoch as just read from the database: clear everything if it moved."""
        with self._lock:
            if epoch != self._epoch:
                self._entries.clear()
                self._epoch = epoch
            self._fresh_until = self._monotonic() + self.stale_after_seconds

    def clear(self) -> None:
        """Forget every key (this process revoked one).

        Puts stay refused until the epoch is read again: a lookup that began
        before the revocation must not put its key back.
        """
        with self._lock:
            self._entries.clear()
            self._epoch = None

    def __len__(self) -> int:
        return len(self._entries)
