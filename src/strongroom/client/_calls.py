"""A call of the API as data, and when to send it again.

A :class:`Call` is one operation: the request to send, its idempotency key
(fixed when the call is built, so every attempt carries the same one), and how
to read the answer. :class:`RetryPolicy` decides, after each attempt, whether
to try again and after how long. Neither does I/O: the sync and async clients
run the same calls under the same policy, each with its own send and sleep.
"""

from __future__ import annotations

import functools
import inspect
import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import httpx

from strongroom._version import __version__
from strongroom.client._wire import problem_code, raise_for_problem

T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])
DEFAULT_TIMEOUT = 10.0
"""Seconds to connect, and between bytes of the answer (httpx's ``timeout``)."""

RETRYABLE_ERRORS: tuple[type[httpx.TransportError], ...] = (
    httpx.TimeoutException,
    httpx.NetworkError,
    httpx.RemoteProtocolError,
)
"""Transient failures: the request may or may not have reached the server."""

NOT_SENT_ERRORS: tuple[type[httpx.TransportError], ...] = (
    httpx.ConnectError,
    httpx.ConnectTimeout,
    httpx.PoolTimeout,
)
"""Failures before a byte of the request left: safe to resend even without a key."""


@dataclass(frozen=True, slots=True)
class Call(Generic[T]):
    """One API operation, ready to be sent (and sent again) by a client.

    ``replay_safe``: sending it twice has the effect of sending it once — a
    read, or a write the server deduplicates by ``idempotency_key``.
    """

    method: str
    path: str
    parse: Callable[[httpx.Response], T]
    params: dict[str, Any] | None = None
    json: Any = None
    idempotency_key: str | None = None
    replay_safe: bool = True

    @property
    def headers(self) -> dict[str, str]:
        if self.idempotency_key is None:
            return {}
        return {"Idempotency-Key": self.idempotency_key}

    def result(self, response: httpx.Response) -> T:
        """The answer as a domain object, or the ``StrongroomError`` of a problem."""
        raise_for_problem(response)
        return self.parse(response)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Bounded retries with exponential backoff and jitter.

    The delay before retry ``n`` (0-based) is drawn from ``[d/2, d]`` with
    ``d = min(max_backoff, backoff * 2**n)``. Retried:

    * a timeout or connection failure (``RETRYABLE_ERRORS``) of a replay-safe
      call; of any call when the request was never sent (``NOT_SENT_ERRORS``);
    * ``429 RATE_LIMITED`` (waiting at least ``Retry-After``) and ``503`` (the
      server applied nothing);
    * for replay-safe calls, ``409 IDEMPOTENCY_IN_PROGRESS`` (the first attempt
      is still running) and a gateway's ``502``/``504``.
    """

    retries: int = 3
    backoff: float = 0.25
    max_backoff: float = 8.0
    max_retry_after: float = 60.0
    jitter: Callable[[float, float], float] = field(default=random.uniform, repr=False)

    def __post_init__(self) -> None:
        if self.retries < 0:
            raise ValueError("retries must be >= 0")

    def delay(self, attempt: int) -> float:
        ceiling = min(self.max_backoff, self.backoff * 2**attempt)
        return self.jitter(ceiling / 2, ceiling)

    def after_error(
        self, call: Call[Any], error: httpx.TransportError, attempt: int
    ) -> float | None:
        """Seconds to wait before retrying after ``error``; ``None``: give up."""
        if attempt >= self.retries:
            return None
        if isinstance(error, NOT_SENT_ERRORS):
            return self.delay(attempt)
        if call.replay_safe and isinstance(error, RETRYABLE_ERRORS):
            return self.delay(attempt)
        return None

    def after_response(
        self, call: Call[Any], response: httpx.Response, attempt: int
    ) -> float | None:
        """Seconds to wait before retrying after ``response``; ``None``: it is the answer."""
        status = response.status_code
        if attempt >= self.retries or status < 400:
            return None
        code = problem_code(response)
        if status == 429 and code == "RATE_LIMITED":
            return max(self.delay(attempt), self._retry_after(response))
        if status == 503:
            return self.delay(attempt)
        if call.replay_safe and (code == "IDEMPOTENCY_IN_PROGRESS" or status in {502, 504}):
            return self.delay(attempt)
        return None

    def _retry_after(self, response: httpx.Response) -> float:
        try:
            seconds = float(response.headers.get("Retry-After", "0"))
        except ValueError:
            return 0.0
        if not math.isfinite(seconds):
            return 0.0
        return min(max(seconds, 0.0), self.max_retry_after)


def default_headers(api_key: str) -> dict[str, str]:
    return {
        "Authorization": f"Bearer {api_key}",
        "Accept": "application/json",
        "User-Agent": f"strongroom-python/{__version__}",
    }


def note_key(error: Exception, call: Call[Any], retries: int) -> None:
    """Tell whoever catches ``error`` how to learn whether the write was applied."""
    if call.idempotency_key is not None and call.replay_safe:
        error.add_note(
            f"strongroom: {call.method} {call.path} failed after {retries} retries; it may "
            f"have been applied. Send it again with idempotency_key={call.idempotency_key!r} "
            "to get its result without applying it twice."
        )


def as_method(method: F, build: Callable[..., Call[Any]], owner: str) -> F:
    """Give a client's ``method`` the name, docs and signature of the operation it sends.

    ``inspect.signature`` and ``help()`` then show ``(self, <build's parameters>)
    -> <what the call returns>`` instead of ``-> Call[...]``.
    """
    functools.update_wrapper(method, build)
    signature = inspect.signature(build)
    returns = signature.return_annotation
    if isinstance(returns, str) and returns.startswith("Call[") and returns.endswith("]"):
        returns = returns[len("Call[") : -1]
    this = inspect.Parameter("self", inspect.Parameter.POSITIONAL_ONLY)
    method.__signature__ = signature.replace(  # type: ignore[attr-defined]
        parameters=[this, *signature.parameters.values()], return_annotation=returns
    )
    method.__module__ = "strongroom.client"
    method.__qualname__ = f"{owner}.{build.__name__}"
    return method
