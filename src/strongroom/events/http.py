"""The real webhook sender: ``httpx``, bounded in time, pinned to a checked address.

Before each attempt the URL's host is resolved and every address checked
against the operator's policy; the request then goes to the checked address
(the ``Host`` header and TLS server name stay the URL's), so a DNS answer that
changes between the check and the connection cannot point it somewhere
private. Redirects are not followed: a 3xx is a failed attempt. At most 4 KiB
of the answer is read, and 500 characters of it are kept in the history.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from datetime import UTC, datetime

import httpx

from strongroom.events.addresses import AddressPolicy, AddressRefused
from strongroom.events.schedule import parse_retry_after
from strongroom.events.sinks import SendResult

MAX_READ = 4096
EXCERPT = 500


class HttpSender:
    """Sends webhooks with one pooled ``httpx.AsyncClient``."""

    def __init__(self, policy: AddressPolicy, *, timeout: float = 10.0) -> None:
        self.policy = policy
        self.timeout = timeout
        self._http: httpx.AsyncClient | None = None

    @property
    def _client(self) -> httpx.AsyncClient:
        """The pooled client, made on first use (in the event loop that uses it)."""
        if self._http is None:
            self._http = httpx.AsyncClient(
                timeout=httpx.Timeout(self.timeout, connect=min(self.timeout, 5.0)),
                follow_redirects=False,
                limits=httpx.Limits(max_connections=64, max_keepalive_connections=16),
                trust_env=False,
            )
        return self._http

    async def send(self, url: str, headers: Mapping[str, str], body: bytes) -> SendResult:
        started = time.perf_counter()

        def took() -> int:
            return int((time.perf_counter() - started) * 1000)

        try:
            async with asyncio.timeout(self.timeout):
                target = (await self.policy.resolve(url))[0]
        except AddressRefused as exc:
            return SendResult(None, error=f"refused: {exc}"[:500], duration_ms=took())
        except TimeoutError:
            return SendResult(
                None, error="the host name did not resolve in time", duration_ms=took()
            )
        request_headers = {**headers, "host": target.host_header}
        extensions = {"sni_hostname": target.sni_hostname} if target.sni_hostname else {}
        try:
            async with self._client.stream(
                "POST", target.url, content=body, headers=request_headers, extensions=extensions
            ) as response:
                excerpt = await _read_some(response)
                return SendResult(
                    response.status_code,
                    error=None if response.is_success else f"HTTP {response.status_code}",
                    retry_after_seconds=parse_retry_after(
                        response.headers.get("retry-after"), datetime.now(UTC)
                    ),
                    response_excerpt=excerpt,
                    duration_ms=took(),
                )
        except httpx.TimeoutException:
            return SendResult(None, error=f"timed out after {self.timeout:g}s", duration_ms=took())
        except httpx.HTTPError as exc:
            reason = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            return SendResult(None, error=reason[:500], duration_ms=took())

    async def aclose(self) -> None:
        """Close the pool; a later ``send`` opens a new one."""
        if self._http is not None:
            http, self._http = self._http, None
            await http.aclose()


async def _read_some(response: httpx.Response) -> str:
    data = b""
    async for chunk in response.aiter_raw():
        data += chunk
        if len(data) >= MAX_READ:
            break
    return data[:MAX_READ].decode("utf-8", errors="replace")[:EXCERPT]
