"""When the client retries and how long it waits, on scripted answers (no server)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from strongroom import IdempotencyInProgress, InsufficientFunds, QuotaExceeded, StrongroomError
from strongroom.client import Client, RetryPolicy

TX = {
    "id": "tx_1", "seq": 1, "status": "posted", "currency": "USD",
    "lines": [{"account": "a", "side": "debit", "amount": 5},
              {"account": "b", "side": "credit", "amount": 5}],
    "description": "", "metadata": {}, "kind": None, "pending_amount_posted": None,
    "reverses": None, "expires_at": None, "hash": "00", "created_at": "2026-03-01T12:00:00Z",
    "balances": None,
}  # fmt: skip
HEAD = {"seq": 1, "hash": "00", "at": "2026-03-01T12:00:00Z"}

Step = httpx.Response | Exception


def problem(status: int, code: str, **headers: str) -> httpx.Response:
    body = {"type": "about:blank", "title": code, "status": status, "detail": code, "code": code}
    return httpx.Response(status, json=body, headers=headers)


class Script:
    """Answers requests with the given responses or exceptions, in order; records requests."""

    def __init__(self, *steps: Step) -> None:
        self.steps = list(steps)
        self.sent: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.sent.append(request)
        step = self.steps.pop(0) if len(self.steps) > 1 else self.steps[0]
        if isinstance(step, Exception):
            raise step
        return step


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def scripted(sleeps: list[float]) -> Callable[..., tuple[Client, Script]]:
    """A client whose answers come from a Script; ``retry`` overrides the policy."""

    def make(*steps: Step, **kwargs: Any) -> tuple[Client, Script]:
        script = Script(*steps)
        client = Client(
            "http://ledger.test",
            "sr_test",
            transport=httpx.MockTransport(script),
            sleep=sleeps.append,
            **kwargs,
        )
        return client, script

    return make


def test_in_progress_write_is_retried_with_its_key(scripted: Callable[..., Any]) -> None:
    """409 IDEMPOTENCY_IN_PROGRESS is retried with the same key until the answer comes."""
    client, script = scripted(problem(409, "IDEMPOTENCY_IN_PROGRESS"), httpx.Response(201, json=TX))
    assert client.transfer("a", "b", 5, "USD").id == "tx_1"
    assert len({r.headers["Idempotency-Key"] for r in script.sent}) == 1


def test_in_progress_raises_when_retries_run_out(scripted: Callable[..., Any]) -> None:
    """IDEMPOTENCY_IN_PROGRESS on every attempt raises IdempotencyInProgress in the end."""
    client, script = scripted(problem(409, "IDEMPOTENCY_IN_PROGRESS"), retries=2)
    with pytest.raises(IdempotencyInProgress):
        client.transfer("a", "b", 5, "USD")
    assert len(script.sent) == 3


def test_storage_unavailable_is_retried(scripted: Callable[..., Any]) -> None:
    """503 STORAGE_UNAVAILABLE (nothing applied) is retried."""
    client, _ = scripted(problem(503, "STORAGE_UNAVAILABLE"), httpx.Response(201, json=TX))
    assert client.transfer("a", "b", 5, "USD").id == "tx_1"


def test_rate_limited_waits_retry_after(scripted: Callable[..., Any], sleeps: list[float]) -> None:
    """429 RATE_LIMITED is retried after at least its Retry-After."""
    client, _ = scripted(
        problem(429, "RATE_LIMITED", **{"Retry-After": "3"}), httpx.Response(200, json=HEAD)
    )
    assert client.head() == (1, "00")
    assert sleeps == [3.0]


def test_quota_exceeded_is_not_retried(scripted: Callable[..., Any]) -> None:
    """429 QUOTA_EXCEEDED raises at once: waiting does not help."""
    client, script = scripted(problem(429, "QUOTA_EXCEEDED"))
    with pytest.raises(QuotaExceeded):
        client.head()
    assert len(script.sent) == 1


def test_rejection_is_not_retried(scripted: Callable[..., Any]) -> None:
    """A 422 rejection raises at once."""
    client, script = scripted(problem(422, "INSUFFICIENT_FUNDS"))
    with pytest.raises(InsufficientFunds):
        client.transfer("a", "b", 5, "USD")
    assert len(script.sent) == 1


def test_read_is_retried_after_a_timeout(scripted: Callable[..., Any]) -> None:
    """A read that times out is sent again."""
    client, script = scripted(httpx.ReadTimeout("slow"), httpx.Response(200, json=HEAD))
    assert client.head() == (1, "00")
    assert len(script.sent) == 2


def test_retries_are_bounded(scripted: Callable[..., Any]) -> None:
    """After ``retries`` retries the last transport error propagates."""
    client, script = scripted(httpx.ConnectError("refused"), retries=3)
    with pytest.raises(httpx.ConnectError):
        client.head()
    assert len(script.sent) == 4


def test_backoff_grows_exponentially_with_jitter(
    scripted: Callable[..., Any], sleeps: list[float]
) -> None:
    """Delays are drawn from [d/2, d] with d doubling from the base backoff."""
    client, _ = scripted(httpx.ConnectError("refused"), retry=RetryPolicy(retries=4, backoff=1))
    with pytest.raises(httpx.ConnectError):
        client.head()
    assert [(0.5 <= s / d <= 1) for s, d in zip(sleeps, [1, 2, 4, 8], strict=True)] == [True] * 4


def test_backoff_is_capped(scripted: Callable[..., Any], sleeps: list[float]) -> None:
    """No delay exceeds max_backoff."""
    policy = RetryPolicy(retries=6, backoff=1, max_backoff=2)
    client, _ = scripted(httpx.ConnectError("refused"), retry=policy)
    with pytest.raises(httpx.ConnectError):
        client.head()
    assert max(sleeps) <= 2


def test_unsent_key_creation_is_retried(scripted: Callable[..., Any]) -> None:
    """Key creation is resent when the connection was never made."""
    created = {
        "id": "key_1", "name": "n", "prefix": "sr_abc", "scopes": ["admin"],
        "expires_at": None, "created_at": "2026-03-01T12:00:00Z", "key": "sr_abc",
    }  # fmt: skip
    client, script = scripted(httpx.ConnectError("refused"), httpx.Response(201, json=created))
    assert client.create_api_key("n", ["admin"]).id == "key_1"
    assert len(script.sent) == 2


def test_gateway_page_raises_the_base_error(scripted: Callable[..., Any]) -> None:
    """A 502 without a problem body raises StrongroomError with the status, after retries."""
    client, script = scripted(httpx.Response(502, text="<html>bad gateway</html>"), retries=1)
    with pytest.raises(StrongroomError) as caught:
        client.head()
    assert caught.value.extra["status"] == 502
    assert len(script.sent) == 2


def test_write_without_a_key_gets_a_new_one_per_call(scripted: Callable[..., Any]) -> None:
    """Two calls without idempotency_key send two different generated keys."""
    client, script = scripted(httpx.Response(201, json=TX))
    client.transfer("a", "b", 5, "USD")
    client.transfer("a", "b", 5, "USD")
    assert len({r.headers["Idempotency-Key"] for r in script.sent}) == 2


def test_explicit_key_is_sent(scripted: Callable[..., Any]) -> None:
    """idempotency_key= is sent as the Idempotency-Key header."""
    client, script = scripted(httpx.Response(201, json=TX))
    client.transfer("a", "b", 5, "USD", idempotency_key="dep-1")
    assert script.sent[0].headers["Idempotency-Key"] == "dep-1"


def test_replayed_header_marks_the_result(scripted: Callable[..., Any]) -> None:
    """Idempotent-Replayed: true sets the result's replayed."""
    client, _ = scripted(httpx.Response(201, json=TX, headers={"Idempotent-Replayed": "true"}))
    assert client.transfer("a", "b", 5, "USD").replayed


def test_ids_are_escaped_in_paths(scripted: Callable[..., Any]) -> None:
    """Account ids with @, : and + go into the path percent-encoded."""
    client, script = scripted(problem(404, "NOT_FOUND"))
    with pytest.raises(StrongroomError):
        client.get_account("@a:b+c")
    assert script.sent[0].url.raw_path == b"/v1/accounts/%40a%3Ab%2Bc"
