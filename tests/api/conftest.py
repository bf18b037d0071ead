"""A real HTTP server per test (uvicorn on 127.0.0.1, a free port), on each backend."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import httpx
import pytest
import uvicorn

from strongroom.api.app import create_app
from strongroom.api.protocol import ProblemHttpToolsProtocol
from strongroom.api.settings import Settings
from tests.api.problems import create

ADMIN_TOKEN = "test-admin-token-0123456789"


@dataclass(frozen=True)
class Server:
    base_url: str
    database_url: str
    admin_token: str

    def client(self, key: str | None = None, **kwargs: object) -> httpx.Client:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        return httpx.Client(base_url=self.base_url, headers=headers, timeout=30, **kwargs)  # type: ignore[arg-type]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def server(db_url: str) -> Iterator[Server]:
    """``strongroom``'s app served by uvicorn in a thread, stopped at the end."""
    port = _free_port()
    settings = Settings(
        database_url=db_url,
        admin_token=ADMIN_TOKEN,
        webhook_allowed_hosts="127.0.0.1,localhost",  # the tests' receivers listen here
        poll_interval_seconds=0.1,
    )
    config = uvicorn.Config(
        create_app(settings),
        host="127.0.0.1",
        port=port,
        log_level="warning",
        lifespan="on",
        http=ProblemHttpToolsProtocol,  # as `strongroom serve` does
    )
    uv = uvicorn.Server(config)
    thread = threading.Thread(target=uv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not uv.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test server did not start")
        time.sleep(0.02)
    try:
        yield Server(f"http://127.0.0.1:{port}", db_url, ADMIN_TOKEN)
    finally:
        uv.should_exit = True
        thread.join(timeout=20)


@pytest.fixture
def new_tenant(server: Server) -> Callable[[str], tuple[str, str]]:
    """Create a tenant through the API: returns ``(tenant id, its all-scopes key)``."""

    used: dict[str, int] = {}

    def create(name: str = "acme") -> tuple[str, str]:
        used[name] = used.get(name, 0) + 1  # names are unique: a test's second "acme" is "acme-2"
        if used[name] > 1:
            name = f"{name}-{used[name]}"
        with server.client(server.admin_token) as admin:
            response = admin.post("/v1/tenants", json={"name": name})
        assert response.status_code == 201, response.text
        body = response.json()
        return body["tenant"]["id"], body["api_key"]

    return create


@pytest.fixture
def api(server: Server, new_tenant: Callable[[str], tuple[str, str]]) -> Iterator[httpx.Client]:
    """An HTTP client authenticated as a fresh tenant's all-scopes key."""
    _, key = new_tenant("acme")
    with server.client(key) as client:
        yield client


@pytest.fixture
def funded(api: httpx.Client) -> httpx.Client:
    """``@world`` (unlimited), ``alice`` holding 1000 and an empty ``bob``."""
    create(api, "@world", overdraft_limit=None)
    create(api, "alice")
    create(api, "bob")
    body = {"from": "@world", "to": "alice", "amount": 1000, "currency": "USD"}
    assert api.post("/v1/transfers", json=body).status_code == 201
    return api
