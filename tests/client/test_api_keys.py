"""API keys through the client: create, list, revoke."""

from __future__ import annotations

import pytest

from strongroom import Forbidden, Unauthenticated
from strongroom.client import ApiKey, Client
from tests.api.conftest import Server


def test_create_api_key_returns_its_secret_once(client: Client) -> None:
    """create_api_key returns the key with its secret; list_api_keys never shows it."""
    created = client.create_api_key("reader", ["ledger:read"])
    assert isinstance(created, ApiKey)
    assert created.key is not None
    assert created.key.startswith(created.prefix)
    listed = {k.id: k for k in client.list_api_keys().data}
    assert listed[created.id].key is None
    assert listed[created.id].scopes == ("ledger:read",)


def test_list_api_keys_pages(client: Client) -> None:
    """list_api_keys pages with limit and cursor."""
    client.create_api_key("second", ["ledger:read"])
    first = client.list_api_keys(limit=1)
    second = client.list_api_keys(limit=1, cursor=first.next_cursor)
    assert len({k.id for k in first.data + second.data}) == 2


def test_a_new_key_works_with_its_scopes(client: Client, server: Server) -> None:
    """A read-only key created through the client reads but may not write."""
    secret = client.create_api_key("reader", ["ledger:read"]).key
    assert secret is not None
    with Client(server.base_url, secret) as reader:
        assert reader.list_accounts().data == []
        with pytest.raises(Forbidden):
            reader.create_account("user:1", currency="USD")


def test_revoke_api_key_locks_the_key_out(client: Client, server: Server) -> None:
    """revoke_api_key sets revoked_at, and the key's next request is UNAUTHENTICATED."""
    created = client.create_api_key("temp", ["ledger:read"])
    assert created.key is not None
    assert client.revoke_api_key(created.id).revoked_at is not None
    with Client(server.base_url, created.key) as revoked, pytest.raises(Unauthenticated):
        revoked.list_accounts()
