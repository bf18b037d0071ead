"""A write whose response is lost is retried with the same key and applied once."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from strongroom import Balance, Ledger
from strongroom.client import Client
from tests.client.conftest import LoseFirstWrite


@pytest.fixture
def lossy(books: Client, make_client: Callable[..., Client]) -> tuple[Client, LoseFirstWrite]:
    """A second client of the booked tenant whose first write loses its response."""
    transport = LoseFirstWrite()
    return make_client(transport=transport), transport


def test_lost_transfer_is_applied_once(books: Client, lossy: tuple[Client, LoseFirstWrite]) -> None:
    """A transfer whose response is lost is retried and shows in the ledger once."""
    client, transport = lossy
    tx = client.transfer("@world", "user:1", 500, "USD")
    assert transport.lost == 1
    assert len(transport.sent) == 2
    assert books.balance("user:1") == Balance(500, 0, 0, 500)
    assert books.balance("@world").posted == -500
    assert books.list_transactions().data == [tx]


def test_retry_carries_the_same_idempotency_key(lossy: tuple[Client, LoseFirstWrite]) -> None:
    """The retried request carries the first attempt's Idempotency-Key."""
    client, transport = lossy
    client.transfer("@world", "user:1", 500, "USD")
    first, retry = (request.headers.get("Idempotency-Key") for request in transport.sent)
    assert first is not None
    assert retry == first


def test_retry_of_a_lost_write_is_a_replay(lossy: tuple[Client, LoseFirstWrite]) -> None:
    """The answer to the retry is the stored first result, marked replayed."""
    client, _ = lossy
    assert client.transfer("@world", "user:1", 500, "USD").replayed


def test_retry_waits_a_backoff(lossy: tuple[Client, LoseFirstWrite], sleeps: list[float]) -> None:
    """The client waits one backoff delay before the retry."""
    client, _ = lossy
    client.transfer("@world", "user:1", 500, "USD")
    assert len(sleeps) == 1
    assert 0 < sleeps[0] <= client.retry.backoff


def test_lost_account_creation_is_not_a_conflict(
    books: Client, lossy: tuple[Client, LoseFirstWrite]
) -> None:
    """An account creation whose response is lost returns the account, not ALREADY_EXISTS."""
    client, _ = lossy
    account = client.create_account("user:2", currency="USD")
    assert account.id == "user:2"
    assert [a.id for a in books.list_accounts(prefix="user:2").data] == ["user:2"]


def test_lost_hold_post_is_applied_once(
    books: Client, lossy: tuple[Client, LoseFirstWrite], library: Ledger
) -> None:
    """Posting part of a hold whose response is lost posts it once."""
    client, _ = lossy
    books.transfer("@world", "user:1", 1000, "USD")
    hold = books.transfer("user:1", "shop", 300, "USD", pending=True)
    client.post_pending(hold.id, amount=100)
    assert library.get_account("shop").balance == Balance(100, 0, 0, 100)
    assert library.verify().ok


def test_exhausted_retries_name_the_key(books: Client, make_client: Callable[..., Client]) -> None:
    """With no retries left the timeout propagates, naming the key that recovers the result."""
    client = make_client(transport=LoseFirstWrite(), retries=0)
    with pytest.raises(httpx.ReadTimeout) as caught:
        client.transfer("@world", "user:1", 500, "USD", idempotency_key="dep-1")
    assert any("idempotency_key='dep-1'" in note for note in caught.value.__notes__)


def test_resending_with_the_key_recovers_the_result(
    books: Client, make_client: Callable[..., Client]
) -> None:
    """After the retries ran out, the same call with the same key returns the one transfer."""
    client = make_client(transport=LoseFirstWrite(), retries=0)
    with pytest.raises(httpx.ReadTimeout):
        client.transfer("@world", "user:1", 500, "USD", idempotency_key="dep-1")
    tx = client.transfer("@world", "user:1", 500, "USD", idempotency_key="dep-1")
    assert tx.replayed
    assert books.list_transactions(account="user:1").data == [tx]


def test_lost_api_key_creation_replays_without_the_secret(
    books: Client, lossy: tuple[Client, LoseFirstWrite]
) -> None:
    """A key creation whose response was lost is resent and replayed: one key, no second secret."""
    client, transport = lossy
    key = client.create_api_key("lost", ["ledger:read"])
    assert len(transport.sent) == 2
    assert key.key is None
    assert key.replayed
    assert [k.name for k in books.list_api_keys().data].count("lost") == 1
