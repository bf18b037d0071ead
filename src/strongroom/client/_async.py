"""The asynchronous client: the same operations and retry policy as :class:`Client`."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, Concatenate, ParamSpec, TypeVar

import httpx

from strongroom.client import _operations as op
from strongroom.client._calls import (
    DEFAULT_TIMEOUT,
    Call,
    RetryPolicy,
    as_method,
    default_headers,
    note_key,
)

P = ParamSpec("P")
T = TypeVar("T")


def _sends(
    build: Callable[P, Call[T]],
) -> Callable[Concatenate[AsyncClient, P], Coroutine[Any, Any, T]]:
    """A coroutine method of :class:`AsyncClient` that builds the call and sends it."""

    async def method(self: AsyncClient, /, *args: P.args, **kwargs: P.kwargs) -> T:
        return await self._run(build(*args, **kwargs))

    return as_method(method, build, "AsyncClient")


class AsyncClient:
    """:class:`~strongroom.client.Client` for asyncio: every method is a coroutine.

    ::

        async with AsyncClient("https://ledger.example.com", "sr_...") as ledger:
            await ledger.transfer("@world", "user:1", 1000, "USD")
    """

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        timeout: float | httpx.Timeout = DEFAULT_TIMEOUT,
        retries: int = 3,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
        retry: RetryPolicy | None = None,
    ) -> None:
        self.retry = retry if retry is not None else RetryPolicy(retries=retries)
        self._sleep = sleep
        self._http = httpx.AsyncClient(
            base_url=base_url,
            headers=default_headers(api_key),
            timeout=timeout,
            transport=transport,
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def _run(self, call: Call[T]) -> T:
        request = self._http.build_request(
            call.method, call.path, params=call.params, json=call.json, headers=call.headers
        )
        attempt = 0
        while True:
            try:
                response = await self._http.send(request)
            except httpx.TransportError as error:
                delay = self.retry.after_error(call, error, attempt)
                if delay is None:
                    note_key(error, call, attempt)
                    raise
            else:
                delay = self.retry.after_response(call, response, attempt)
                if delay is None:
                    return call.result(response)
            await self._sleep(delay)
            attempt += 1

    create_account = _sends(op.create_account)
    get_account = _sends(op.get_account)
    update_account = _sends(op.update_account)
    list_accounts = _sends(op.list_accounts)
    balance = _sends(op.balance)
    statement = _sends(op.statement)
    transfer = _sends(op.transfer)
    post = _sends(op.post)
    post_pending = _sends(op.post_pending)
    void_pending = _sends(op.void_pending)
    reverse = _sends(op.reverse)
    batch = _sends(op.batch)
    get_transaction = _sends(op.get_transaction)
    list_transactions = _sends(op.list_transactions)
    head = _sends(op.head)
    verify = _sends(op.verify)
    create_api_key = _sends(op.create_api_key)
    list_api_keys = _sends(op.list_api_keys)
    revoke_api_key = _sends(op.revoke_api_key)
    list_events = _sends(op.list_events)
    create_webhook_endpoint = _sends(op.create_webhook_endpoint)
    list_webhook_endpoints = _sends(op.list_webhook_endpoints)
    get_webhook_endpoint = _sends(op.get_webhook_endpoint)
    update_webhook_endpoint = _sends(op.update_webhook_endpoint)
    delete_webhook_endpoint = _sends(op.delete_webhook_endpoint)
    rotate_webhook_secret = _sends(op.rotate_webhook_secret)
    list_webhook_deliveries = _sends(op.list_webhook_deliveries)
    get_webhook_delivery = _sends(op.get_webhook_delivery)
    retry_webhook_delivery = _sends(op.retry_webhook_delivery)
