"""The async client: the same operations, types and retries over asyncio."""

from __future__ import annotations

import asyncio

import httpx

from strongroom import Balance, TxStatus
from strongroom.client import AsyncClient, Client
from tests.api.conftest import Server


class AsyncLoseFirstWrite(httpx.AsyncBaseTransport):
    """The async twin of LoseFirstWrite: the first write arrives, its answer is lost."""

    def __init__(self) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.sent: list[httpx.Request] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.sent.append(request)
        response = await self.inner.handle_async_request(request)
        if request.method != "GET" and len(self.sent) == 1:
            await response.aread()
            await response.aclose()
            raise httpx.ReadTimeout("the response was lost", request=request)
        return response

    async def aclose(self) -> None:
        await self.inner.aclose()


async def _no_sleep(seconds: float) -> None:
    pass


def test_async_client_transfers(server: Server, tenant: tuple[str, str]) -> None:
    """AsyncClient creates accounts, transfers and reads balances."""

    async def scenario() -> tuple[TxStatus, Balance]:
        async with AsyncClient(server.base_url, tenant[1]) as ledger:
            await ledger.create_account("@world", currency="USD", overdraft_limit=None)
            await ledger.create_account("user:1", currency="USD")
            tx = await ledger.transfer("@world", "user:1", 250, "USD")
            return tx.status, await ledger.balance("user:1")

    assert asyncio.run(scenario()) == (TxStatus.POSTED, Balance(250, 0, 0, 250))


def test_async_lost_transfer_is_applied_once(
    books: Client, server: Server, tenant: tuple[str, str]
) -> None:
    """AsyncClient retries a lost transfer with the same key; it applies once."""
    transport = AsyncLoseFirstWrite()

    async def scenario() -> None:
        async with AsyncClient(
            server.base_url, tenant[1], transport=transport, sleep=_no_sleep
        ) as ledger:
            await ledger.transfer("@world", "user:1", 500, "USD")

    asyncio.run(scenario())
    keys = {request.headers["Idempotency-Key"] for request in transport.sent}
    assert (len(transport.sent), len(keys)) == (2, 1)
    assert books.balance("user:1").posted == 500
    assert len(books.list_transactions(account="user:1").data) == 1
