"""When a failed webhook delivery is tried again.

Ten attempts over about three days: the first at once, then after 5 seconds,
5 minutes, 30 minutes, 2, 5, 10, 14, 20 and 20 hours (71.6 hours in all, before
jitter). Each delay is spread by up to 20% either way, so receivers that came
back up are not hit by every delivery at the same second. A ``Retry-After``
from the receiver is honoured when it asks for longer, up to a day.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime

RETRY_DELAYS: tuple[timedelta, ...] = (
    timedelta(seconds=5),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=2),
    timedelta(hours=5),
    timedelta(hours=10),
    timedelta(hours=14),
    timedelta(hours=20),
    timedelta(hours=20),
)
MAX_ATTEMPTS = len(RETRY_DELAYS) + 1
JITTER = 0.2
MAX_RETRY_AFTER = timedelta(days=1)


def next_attempt(
    failed_attempts: int,
    now: datetime,
    *,
    retry_after_seconds: float | None = None,
    rng: random.Random | None = None,
) -> datetime | None:
    """When to try again after ``failed_attempts`` failures in a row; None: give up."""
    if failed_attempts < 1:
        raise ValueError("next_attempt follows a failed attempt")
    if failed_attempts >= MAX_ATTEMPTS:
        return None
    base = RETRY_DELAYS[failed_attempts - 1]
    spread = (rng or random).uniform(1 - JITTER, 1 + JITTER)
    delay = base * spread
    if retry_after_seconds is not None and retry_after_seconds > 0:
        delay = max(delay, min(timedelta(seconds=retry_after_seconds), MAX_RETRY_AFTER))
    return now + delay


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds that a ``Retry-After`` header asks for (delta-seconds or an HTTP date)."""
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    return max((when - now).total_seconds(), 0.0)
