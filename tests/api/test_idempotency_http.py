"""Idempotency-Key over real HTTP: replays, reuse with another request, concurrent duplicates."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from tests.api.conftest import Server

NewTenant = Callable[[str], tuple[str, str]]
CONCURRENCY = 20


def problem(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """The problem document of ``response``, checked to carry ``status`` and ``code``."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert body["code"] == code
    return body


def create(api: httpx.Client, account_id: str, **fields: Any) -> None:
    response = api.post("/v1/accounts", json={"id": account_id, "currency": "USD", **fields})
    assert response.status_code == 201, response.text


def posted(api: httpx.Client, account_id: str) -> int:
    return int(api.get(f"/v1/accounts/{account_id}").json()["balance"]["posted"])


def keyed(key: str) -> dict[str, str]:
    return {"Idempotency-Key": key}


def replayed(response: httpx.Response) -> bool:
    return response.headers.get("idempotent-replayed") == "true"


def setup_books(api: httpx.Client) -> None:
    """``@world`` (unlimited), ``alice`` holding 1000 and an empty ``bob``."""
    create(api, "@world", overdraft_limit=None)
    create(api, "alice")
    create(api, "bob")
    body = {"from": "@world", "to": "alice", "amount": 1000, "currency": "USD"}
    assert api.post("/v1/transfers", json=body).status_code == 201


@pytest.fixture
def funded(api: httpx.Client) -> httpx.Client:
    setup_books(api)
    return api


PAYMENT = {"from": "alice", "to": "bob", "amount": 100, "currency": "USD"}


# -- replays -----------------------------------------------------------------------------------


def test_a_replay_returns_the_first_response(funded: httpx.Client) -> None:
    """The same key and body answer the first status and body with Idempotent-Replayed: true."""
    first = funded.post("/v1/transfers", json=PAYMENT, headers=keyed("pay-1"))
    assert first.status_code == 201
    assert not replayed(first)
    again = funded.post("/v1/transfers", json=PAYMENT, headers=keyed("pay-1"))
    assert again.status_code == 201
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json() == first.json()
    assert (posted(funded, "alice"), posted(funded, "bob")) == (900, 100)
    listed = funded.get("/v1/transactions", params={"account": "bob"}).json()["data"]
    assert [tx["id"] for tx in listed] == [first.json()["id"]]


def test_the_same_key_with_another_body_is_rejected(funded: httpx.Client) -> None:
    """The same key with a different request answers 422 IDEMPOTENCY_KEY_REUSED; nothing moves."""
    funded.post("/v1/transfers", json=PAYMENT, headers=keyed("pay-1"))
    other = PAYMENT | {"amount": 101}
    response = funded.post("/v1/transfers", json=other, headers=keyed("pay-1"))
    problem(response, 422, "IDEMPOTENCY_KEY_REUSED")
    assert posted(funded, "bob") == 100


def test_the_same_key_on_another_endpoint_is_rejected(funded: httpx.Client) -> None:
    """A key used for a transfer, sent with an account creation, answers 422."""
    funded.post("/v1/transfers", json=PAYMENT, headers=keyed("k"))
    response = funded.post("/v1/accounts", json={"id": "c", "currency": "USD"}, headers=keyed("k"))
    problem(response, 422, "IDEMPOTENCY_KEY_REUSED")
    problem(funded.get("/v1/accounts/c"), 404, "NOT_FOUND")


def test_a_replayed_account_creation_is_not_a_conflict(api: httpx.Client) -> None:
    """Creating an account again with the same key replays 201 instead of 409 ALREADY_EXISTS."""
    body = {"id": "user:1", "currency": "USD", "metadata": {"a": "b"}}
    first = api.post("/v1/accounts", json=body, headers=keyed("acct-1"))
    again = api.post("/v1/accounts", json=body, headers=keyed("acct-1"))
    assert (first.status_code, again.status_code) == (201, 201)
    assert replayed(again)
    assert again.json() == first.json()
    problem(api.post("/v1/accounts", json=body), 409, "ALREADY_EXISTS")


def _transaction(api: httpx.Client, headers: dict[str, str]) -> httpx.Response:
    lines = [
        {"account": "alice", "side": "debit", "amount": 100},
        {"account": "bob", "side": "credit", "amount": 100},
    ]
    return api.post("/v1/transactions", json={"lines": lines, "currency": "USD"}, headers=headers)


def _batch(api: httpx.Client, headers: dict[str, str]) -> httpx.Response:
    lines = [
        {"account": "alice", "side": "debit", "amount": 100},
        {"account": "bob", "side": "credit", "amount": 100},
    ]
    body = {"transactions": [{"lines": lines, "currency": "USD"}]}
    return api.post("/v1/transactions/batch", json=body, headers=headers)


def _hold(api: httpx.Client) -> str:
    body = PAYMENT | {"pending": True}
    return str(api.post("/v1/transfers", json=body, headers=keyed("the-hold")).json()["id"])


def _post_hold(api: httpx.Client, headers: dict[str, str]) -> httpx.Response:
    return api.post(f"/v1/transactions/{_hold(api)}/post", headers=headers)


def _void_hold(api: httpx.Client, headers: dict[str, str]) -> httpx.Response:
    return api.post(f"/v1/transactions/{_hold(api)}/void", headers=headers)


def _reverse(api: httpx.Client, headers: dict[str, str]) -> httpx.Response:
    deposit = api.get("/v1/transactions", params={"account": "alice"}).json()["data"][0]
    return api.post(f"/v1/transactions/{deposit['id']}/reverse", headers=headers)


def _patch(api: httpx.Client, headers: dict[str, str]) -> httpx.Response:
    return api.patch("/v1/accounts/alice", json={"metadata": {"v": "2"}}, headers=headers)


@pytest.mark.parametrize(
    "write",
    [_transaction, _batch, _post_hold, _void_hold, _reverse, _patch],
    ids=["transaction", "batch", "post-hold", "void-hold", "reverse", "patch-account"],
)
def test_every_write_replays_under_its_key(
    funded: httpx.Client, write: Callable[[httpx.Client, dict[str, str]], httpx.Response]
) -> None:
    """Each write sent twice with one key applies once; the second answer is a replay."""
    first = write(funded, keyed("w-1"))
    assert first.status_code in {200, 201}, first.text
    head = funded.get("/v1/ledger/head").json()
    again = write(funded, keyed("w-1"))
    assert again.status_code == first.status_code, again.text
    assert replayed(again)
    assert again.json() == first.json()
    assert funded.get("/v1/ledger/head").json() == head


def test_an_idempotency_key_outside_the_limits_is_refused(funded: httpx.Client) -> None:
    """An empty key or one over 255 characters answers 400 VALIDATION_ERROR; nothing moves."""
    for key in ["", "x" * 256]:
        response = funded.post("/v1/transfers", json=PAYMENT, headers=keyed(key))
        problem(response, 400, "VALIDATION_ERROR")
    assert posted(funded, "bob") == 0


def test_a_key_of_255_printable_characters_is_accepted(funded: httpx.Client) -> None:
    """A key of 255 printable characters, spaces and punctuation included, works and replays."""
    key = ("Ab9 ~!:/" * 40)[:255]
    assert funded.post("/v1/transfers", json=PAYMENT, headers=keyed(key)).status_code == 201
    assert replayed(funded.post("/v1/transfers", json=PAYMENT, headers=keyed(key)))


# -- concurrent duplicates ------------------------------------------------------------------------


def _together(
    server: Server, key: str, send: Callable[[httpx.Client], httpx.Response]
) -> list[httpx.Response]:
    """``send`` from CONCURRENCY threads, each with its own client, released at once."""
    barrier = threading.Barrier(CONCURRENCY)

    def one(_: int) -> httpx.Response:
        with server.client(key) as client:
            client.get("/healthz")  # connect before the race starts
            barrier.wait(timeout=30)
            return send(client)

    with ThreadPoolExecutor(max_workers=CONCURRENCY) as pool:
        return list(pool.map(one, range(CONCURRENCY)))


def test_concurrent_duplicate_transfers_apply_once(server: Server, new_tenant: NewTenant) -> None:
    """20 identical transfers with one key, sent at once, all answer 201 with one transaction."""
    _, key = new_tenant("acme")
    with server.client(key) as api:
        setup_books(api)
    responses = _together(
        server, key, lambda c: c.post("/v1/transfers", json=PAYMENT, headers=keyed("race-1"))
    )
    assert [r.status_code for r in responses] == [201] * CONCURRENCY, [r.text for r in responses]
    assert len({r.json()["id"] for r in responses}) == 1
    assert sum(not replayed(r) for r in responses) == 1
    with server.client(key) as api:
        listed = api.get("/v1/transactions", params={"account": "bob"}).json()["data"]
        assert [tx["id"] for tx in listed] == [responses[0].json()["id"]]
        assert (posted(api, "alice"), posted(api, "bob")) == (900, 100)
        assert api.post("/v1/ledger/verify").json()["ok"] is True


def test_concurrent_duplicate_account_creations_create_one(
    server: Server, new_tenant: NewTenant
) -> None:
    """20 identical account creations with one key, sent at once, all answer 201 alike."""
    _, key = new_tenant("acme")
    body = {"currency": "USD", "metadata": {"owner": "race"}}
    responses = _together(
        server, key, lambda c: c.post("/v1/accounts", json=body, headers=keyed("acct-race"))
    )
    assert [r.status_code for r in responses] == [201] * CONCURRENCY, [r.text for r in responses]
    assert len({r.text for r in responses}) == 1
    with server.client(key) as api:
        listed = api.get("/v1/accounts").json()["data"]
    assert [a["id"] for a in listed] == [responses[0].json()["id"]]


# -- a refused atomic batch ------------------------------------------------------------------------


def _sale(amount: int, key: str | None = None) -> dict[str, Any]:
    lines = [
        {"account": "alice", "side": "debit", "amount": amount},
        {"account": "bob", "side": "credit", "amount": amount},
    ]
    item: dict[str, Any] = {"lines": lines, "currency": "USD"}
    if key is not None:
        item["idempotency_key"] = key
    return item


# alice holds 1000: the second item fails, and aborts the first.
REFUSED = {"transactions": [_sale(100, "sale-0"), _sale(2000, "sale-1")], "atomic": True}


def _fund_alice(api: httpx.Client) -> None:
    body = {"from": "@world", "to": "alice", "amount": 5000, "currency": "USD"}
    assert api.post("/v1/transfers", json=body).status_code == 201


def test_a_refused_atomic_batch_replays_its_refusal(funded: httpx.Client) -> None:
    """The same refused atomic batch and key, once the funds are there, replay the refusal."""
    first = funded.post("/v1/transactions/batch", json=REFUSED, headers=keyed("K1"))
    assert first.status_code == 200, first.text
    assert [r["status"] for r in first.json()["results"]] == [422, 422]
    assert not replayed(first)
    _fund_alice(funded)
    again = funded.post("/v1/transactions/batch", json=REFUSED, headers=keyed("K1"))
    assert again.status_code == 200, again.text
    assert replayed(again)
    assert again.json() == first.json()
    assert posted(funded, "bob") == 0


def test_an_item_key_of_a_refused_atomic_batch_stays_unused(funded: httpx.Client) -> None:
    """An item of a refused atomic batch was not applied: its own key applies it later."""
    funded.post("/v1/transactions/batch", json=REFUSED, headers=keyed("K1"))
    _fund_alice(funded)
    body = {"transactions": [_sale(2000, "sale-1")], "atomic": True}
    response = funded.post("/v1/transactions/batch", json=body, headers=keyed("K2"))
    assert [r["status"] for r in response.json()["results"]] == [201]
    assert not replayed(response)
    assert posted(funded, "bob") == 2000


def test_concurrent_duplicate_refused_atomic_batches_answer_alike(
    server: Server, new_tenant: NewTenant
) -> None:
    """20 identical refused atomic batches with one key, sent at once, answer one refusal."""
    _, key = new_tenant("acme")
    with server.client(key) as api:
        setup_books(api)
    responses = _together(
        server,
        key,
        lambda c: c.post("/v1/transactions/batch", json=REFUSED, headers=keyed("race-batch")),
    )
    assert [r.status_code for r in responses] == [200] * CONCURRENCY, [r.text for r in responses]
    assert len({r.text for r in responses}) == 1
    assert sum(not replayed(r) for r in responses) == 1
    with server.client(key) as api:
        assert posted(api, "bob") == 0
