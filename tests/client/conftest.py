"""Clients of a real server (per test, per backend), and a transport that loses answers."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import httpx
import pytest

from strongroom import Ledger
from strongroom.client import Client
from tests.api.conftest import Server, api, new_tenant, server  # noqa: F401


class LoseFirstWrite(httpx.BaseTransport):
    """Forwards every request; the first write reaches the server, its answer is lost.

    The server applies and commits that write; the client sees ``httpx.ReadTimeout``
    instead of the response, as when a connection drops after the request went out.
    """

    def __init__(self) -> None:
        self.inner = httpx.HTTPTransport()
        self.sent: list[httpx.Request] = []
        self.lost = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.sent.append(request)
        response = self.inner.handle_request(request)
        if request.method != "GET" and not self.lost:
            self.lost += 1
            response.read()
            response.close()
            raise httpx.ReadTimeout("the response was lost", request=request)
        return response

    def close(self) -> None:
        self.inner.close()


@pytest.fixture
def tenant(new_tenant: Callable[[str], tuple[str, str]]) -> tuple[str, str]:  # noqa: F811
    """A fresh tenant: ``(tenant id, its all-scopes API key)``."""
    return new_tenant("acme")


@pytest.fixture
def sleeps() -> list[float]:
    """The delays the clients waited, instead of waiting."""
    return []


@pytest.fixture
def make_client(
    server: Server,  # noqa: F811
    tenant: tuple[str, str],
    sleeps: list[float],
) -> Iterator[Callable[..., Client]]:
    """Clients of the tenant (closed at the end); keyword arguments go to ``Client``."""
    made: list[Client] = []

    def make(**kwargs: object) -> Client:
        kwargs.setdefault("sleep", sleeps.append)
        made_client = Client(server.base_url, tenant[1], **kwargs)  # type: ignore[arg-type]
        made.append(made_client)
        return made_client

    yield make
    for made_client in made:
        made_client.close()


@pytest.fixture
def client(make_client: Callable[..., Client]) -> Client:
    """A client of a fresh tenant whose retries do not sleep."""
    return make_client()


@pytest.fixture
def books(client: Client) -> Client:
    """The client, with ``@world`` (unlimited), ``user:1`` and ``shop`` in USD."""
    client.create_account("@world", currency="USD", overdraft_limit=None)
    client.create_account("user:1", currency="USD")
    client.create_account("shop", currency="USD")
    return client


@pytest.fixture
def library(server: Server, tenant: tuple[str, str]) -> Iterator[Ledger]:  # noqa: F811
    """The library's ``Ledger`` on the server's database, for the same tenant."""
    with Ledger.open(server.database_url, tenant=tenant[0], create_tenant=False) as ledger:
        yield ledger
