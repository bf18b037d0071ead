"""A cache of authenticated API keys that never outlives a revocation it could know of.

Authenticating a key from the database costs a round trip and, in the server, a
hop to a worker thread; a request that finds its key here pays neither. What
keeps the cache honest is the revocation *epoch*: a counter in the database that
every revocation increments in its own transaction.

* The process that revokes a key clears its own cache at once, and takes no read
  of the epoch that began before that as news (it may predate the revocation).
* Every serving process reads the epoch every ``refresh_seconds`` and clears its
  cache when the epoch moved.
* The cache answers only while the last read of the epoch it took in *began* less
  than ``window_seconds`` ago (on the monotonic clock); otherwise every key is
  looked up in the database, which is authoritative. That is the guarantee, and
  it holds however late a read is, whatever the load:

  a revocation's commit precedes the response to its ``DELETE``; a read that
  began after that commit takes its snapshot later still, so it sees the new
  epoch and clears the cache. A request that began more than ``window_seconds``
  after the ``DELETE``'s response is answered from the cache only if the last
  read taken in began after that response, hence saw the revocation: the revoked
  key is not in the cache. A slow read, a busy event loop or a database that
  does not answer make the cache answer nothing, never answer wrong.
  ``window_seconds`` (0.08 s) is within the 0.1 s that API.md promises; the read's
  own duration needs no room, since it counts from the read's start.
* An entry is put only if the epoch did not move while its key was being looked
  up, so a lookup racing a revocation can never put back a revoked key.
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

REVOCATION_BOUND_SECONDS = 0.1
"""API.md: a key revoked in one server process stops working in every other one
within this long after the ``DELETE``'s response."""
DEFAULT_WINDOW_SECONDS = 0.08
"""How long after its start a read of the epoch keeps the cache trusted: at most
:data:`REVOCATION_BOUND_SECONDS`, with a fifth of it to spare."""
DEFAULT_REFRESH_SECONDS = 0.02
"""How often the epoch is read, start to start: a quarter of the window, so three
reads in a row can be late before a key is looked up in the database again."""
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
    """Digest → :class:`CachedKey`, trusted while a recent read of the epoch stands."""

    def __init__(
        self,
        clock: Clock,
        *,
        touch_every: timedelta,
        window_seconds: float = DEFAULT_WINDOW_SECONDS,
        refresh_seconds: float = DEFAULT_REFRESH_SECONDS,
        max_entries: int = DEFAULT_MAX_ENTRIES,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if not 0 < window_seconds <= REVOCATION_BOUND_SECONDS:
            raise ValueError(f"window_seconds must be in (0, {REVOCATION_BOUND_SECONDS}]")
        self.clock = clock
        self.touch_every = touch_every
        self.window_seconds = window_seconds
        self.refresh_seconds = refresh_seconds
        self.max_entries = max_entries
        self.monotonic = monotonic
        """The clock of :meth:`saw_epoch`'s ``started``: a read's start is taken from it."""
        self._lock = threading.Lock()
        self._entries: dict[str, CachedKey] = {}
        self._epoch: int | None = None
        self._read_started = float("-inf")
        """When the last read taken in began: the cache is trusted for a window after."""
        self._cleared_at = float("-inf")
        """When this process last revoked a key: reads begun before are not taken in."""

    @property
    def epoch(self) -> int | None:
        """The last revocation epoch read (None before the first read, and after a clear)."""
        return self._epoch

    def fresh(self) -> bool:
        """Whether the last read taken in began less than ``window_seconds`` ago."""
        return self.monotonic() - self._read_started < self.window_seconds

    def get(self, digest: str) -> CachedKey | None:
        """The cached key, or None when it must be looked up in the database."""
        # The time of the read is loaded before the entries, and saw_epoch clears the
        # entries before it stores a newer time: a fresh answer never comes from the
        # entries of an older read.
        if not self.fresh():
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

    def saw_epoch(self, epoch: int, started: float) -> None:
        """Take in the epoch read by a query sent at ``started`` (on :attr:`monotonic`).

        ``started`` must be taken before the query is sent, so that the database's
        snapshot is no older than it. A read that began before the last one taken
        in, or before this process last revoked a key, is ignored.
        """
        with self._lock:
            if started <= self._read_started or started <= self._cleared_at:
                return
            if epoch != self._epoch:
                self._entries.clear()
                self._epoch = epoch
            self._read_started = started

    def clear(self) -> None:
        """Forget every key (this process revoked one; call it after the commit).

        Puts stay refused until a read of the epoch that began after now is taken
        in: a lookup or a read that began before the revocation must not put its
        key back, nor vouch for the cache.
        """
        with self._lock:
            self._entries.clear()
            self._epoch = None
            self._cleared_at = self.monotonic()

    def __len__(self) -> int:
        return len(self._entries)
