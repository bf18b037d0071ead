"""Contract of transactions, transfers, batches, holds and reversals over real HTTP."""

from __future__ import annotations

import re
import time
from typing import Any

import httpx
import pytest

TRANSACTION_FIELDS = {
    "id",
    "seq",
    "status",
    "currency",
    "lines",
    "description",
    "metadata",
    "kind",
    "hash",
    "created_at",
}
PROBLEM_FIELDS = {"type", "title", "status", "detail", "code"}


def problem(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """The problem document of ``response``, checked to carry ``status`` and ``code``."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert body["code"] == code
    assert body.keys() >= PROBLEM_FIELDS
    return body


def create(api: httpx.Client, account_id: str, currency: str = "USD", **fields: Any) -> Any:
    response = api.post("/v1/accounts", json={"id": account_id, "currency": currency, **fields})
    assert response.status_code == 201, response.text
    return response.json()


def transfer(api: httpx.Client, source: str, to: str, amount: int, **fields: Any) -> Any:
    body = {"from": source, "to": to, "amount": amount, "currency": "USD", **fields}
    response = api.post("/v1/transfers", json=body)
    assert response.status_code == 201, response.text
    return response.json()


def posted(api: httpx.Client, account_id: str) -> int:
    return int(api.get(f"/v1/accounts/{account_id}").json()["balance"]["posted"])


def available(api: httpx.Client, account_id: str) -> int:
    return int(api.get(f"/v1/accounts/{account_id}").json()["balance"]["available"])


def lines(*spec: tuple[str, str, int]) -> list[dict[str, Any]]:
    return [{"account": a, "side": s, "amount": n} for a, s, n in spec]


def tx_ids(api: httpx.Client, **params: Any) -> list[str]:
    response = api.get("/v1/transactions", params=params)
    assert response.status_code == 200, response.text
    return [tx["id"] for tx in response.json()["data"]]


@pytest.fixture
def funded(api: httpx.Client) -> httpx.Client:
    """``@world`` (unlimited), ``alice`` holding 1000, empty ``bob`` and ``carol`` (USD),
    and ``euro`` in EUR."""
    create(api, "@world", overdraft_limit=None)
    for account_id in ("alice", "bob", "carol"):
        create(api, account_id)
    create(api, "euro", currency="EUR")
    transfer(api, "@world", "alice", 1000)
    return api


# -- POST /v1/transactions --------------------------------------------------------------


def test_post_a_multi_line_transaction(funded: httpx.Client) -> None:
    """A balanced transaction answers 201 with the Transaction and moves every balance."""
    body = {
        "lines": lines(("alice", "debit", 70), ("bob", "credit", 50), ("carol", "credit", 20)),
        "currency": "USD",
        "description": "sale",
        "metadata": {"order": "o-1"},
        "kind": "sale",
    }
    response = funded.post("/v1/transactions", json=body)
    assert response.status_code == 201
    tx = response.json()
    assert tx.keys() >= TRANSACTION_FIELDS
    assert tx["status"] == "posted"
    assert tx["currency"] == "USD"
    assert tx["lines"] == body["lines"]
    assert (tx["description"], tx["metadata"], tx["kind"]) == ("sale", {"order": "o-1"}, "sale")
    assert isinstance(tx["seq"], int)
    assert tx["seq"] > 0
    assert re.fullmatch(r"[0-9a-f]{64}", tx["hash"])
    assert (posted(funded, "alice"), posted(funded, "bob"), posted(funded, "carol")) == (
        930,
        50,
        20,
    )


def test_a_transaction_defaults_description_metadata_and_kind(funded: httpx.Client) -> None:
    """Without them, description is "", metadata {} and kind null."""
    body = {"lines": lines(("alice", "debit", 1), ("bob", "credit", 1)), "currency": "USD"}
    tx = funded.post("/v1/transactions", json=body).json()
    assert (tx["description"], tx["metadata"], tx["kind"]) == ("", {}, None)


def test_an_unbalanced_transaction_is_rejected(funded: httpx.Client) -> None:
    """Debits that differ from credits answer 422 UNBALANCED_TRANSACTION; nothing moves."""
    body = {"lines": lines(("alice", "debit", 70), ("bob", "credit", 60)), "currency": "USD"}
    problem(funded.post("/v1/transactions", json=body), 422, "UNBALANCED_TRANSACTION")
    assert (posted(funded, "alice"), posted(funded, "bob")) == (1000, 0)


def test_a_line_in_another_currency_is_rejected(funded: httpx.Client) -> None:
    """An account not in the transaction's currency answers 422 CURRENCY_MISMATCH."""
    body = {"lines": lines(("alice", "debit", 5), ("euro", "credit", 5)), "currency": "USD"}
    problem(funded.post("/v1/transactions", json=body), 422, "CURRENCY_MISMATCH")
    mismatch = {"from": "alice", "to": "euro", "amount": 5, "currency": "USD"}
    problem(funded.post("/v1/transfers", json=mismatch), 422, "CURRENCY_MISMATCH")
    assert posted(funded, "alice") == 1000


def test_spending_more_than_available_is_rejected(funded: httpx.Client) -> None:
    """A debit beyond available (limit 0) answers 422 INSUFFICIENT_FUNDS; nothing moves."""
    body = {"lines": lines(("alice", "debit", 1001), ("bob", "credit", 1001)), "currency": "USD"}
    problem(funded.post("/v1/transactions", json=body), 422, "INSUFFICIENT_FUNDS")
    problem(
        funded.post(
            "/v1/transfers", json={"from": "bob", "to": "alice", "amount": 1, "currency": "USD"}
        ),
        422,
        "INSUFFICIENT_FUNDS",
    )
    assert (posted(funded, "alice"), posted(funded, "bob")) == (1000, 0)


def test_a_transaction_touching_a_frozen_or_closed_account_is_rejected(
    funded: httpx.Client,
) -> None:
    """A line on a frozen account answers 422 ACCOUNT_FROZEN; on a closed one ACCOUNT_CLOSED."""
    funded.patch("/v1/accounts/bob", json={"status": "frozen"})
    funded.patch("/v1/accounts/carol", json={"status": "closed"})
    for account, code in (("bob", "ACCOUNT_FROZEN"), ("carol", "ACCOUNT_CLOSED")):
        body = {"lines": lines(("alice", "debit", 5), (account, "credit", 5)), "currency": "USD"}
        problem(funded.post("/v1/transactions", json=body), 422, code)
    assert posted(funded, "alice") == 1000


def test_an_overdraft_limit_allows_going_below_zero_up_to_it(funded: httpx.Client) -> None:
    """An account with overdraft_limit 100 can reach -100, not -101."""
    funded.patch("/v1/accounts/bob", json={"overdraft_limit": 100})
    transfer(funded, "bob", "alice", 100)
    assert posted(funded, "bob") == -100
    body = {"from": "bob", "to": "alice", "amount": 1, "currency": "USD"}
    problem(funded.post("/v1/transfers", json=body), 422, "INSUFFICIENT_FUNDS")


def test_a_line_on_a_missing_account_is_not_found(funded: httpx.Client) -> None:
    """A transaction naming an account that does not exist answers 404 NOT_FOUND."""
    body = {"lines": lines(("alice", "debit", 5), ("ghost", "credit", 5)), "currency": "USD"}
    problem(funded.post("/v1/transactions", json=body), 404, "NOT_FOUND")
    assert posted(funded, "alice") == 1000


def test_a_transaction_in_an_unknown_currency_is_rejected(funded: httpx.Client) -> None:
    """A transaction in a currency nobody knows answers 422 UNKNOWN_CURRENCY."""
    body = {"lines": lines(("alice", "debit", 5), ("bob", "credit", 5)), "currency": "ZZZ"}
    problem(funded.post("/v1/transactions", json=body), 422, "UNKNOWN_CURRENCY")


INVALID_TRANSACTIONS = {
    "one-line": {"lines": lines(("alice", "debit", 5)), "currency": "USD"},
    "no-lines": {"lines": [], "currency": "USD"},
    "no-currency": {"lines": lines(("alice", "debit", 5), ("bob", "credit", 5))},
    "bad-side": {"lines": lines(("alice", "out", 5), ("bob", "credit", 5)), "currency": "USD"},
    "unknown-field": {
        "lines": lines(("alice", "debit", 5), ("bob", "credit", 5)),
        "currency": "USD",
        "status": "posted",
    },
    "line-extra-field": {
        "lines": [
            {"account": "alice", "side": "debit", "amount": 5, "x": 1},
            *lines(("bob", "credit", 5)),
        ],
        "currency": "USD",
    },
    "pending-not-bool": {
        "lines": lines(("alice", "debit", 5), ("bob", "credit", 5)),
        "currency": "USD",
        "pending": "yes",
    },
    "zero-timeout": {
        "lines": lines(("alice", "debit", 5), ("bob", "credit", 5)),
        "currency": "USD",
        "pending": True,
        "timeout_seconds": 0,
    },
}


def test_a_malformed_transaction_is_a_validation_error(funded: httpx.Client) -> None:
    """Malformed transactions answer 400 VALIDATION_ERROR with errors [{loc, msg}]."""
    for case, body in INVALID_TRANSACTIONS.items():
        response = funded.post("/v1/transactions", json=body)
        assert response.status_code == 400, case
        errors = problem(response, 400, "VALIDATION_ERROR")["errors"]
        assert errors, case
        assert all(e.keys() >= {"loc", "msg"} for e in errors), case
    assert posted(funded, "alice") == 1000


# -- POST /v1/transfers ------------------------------------------------------------------


def test_a_transfer_debits_from_and_credits_to(funded: httpx.Client) -> None:
    """POST /v1/transfers answers 201 with a debit line of from and a credit line of to."""
    response = funded.post(
        "/v1/transfers",
        json={
            "from": "alice",
            "to": "bob",
            "amount": 250,
            "currency": "USD",
            "description": "rent",
            "metadata": {"month": "03"},
            "kind": "rent",
        },
    )
    assert response.status_code == 201
    tx = response.json()
    assert tx.keys() >= TRANSACTION_FIELDS
    assert tx["status"] == "posted"
    assert tx["lines"] == lines(("alice", "debit", 250), ("bob", "credit", 250))
    assert (tx["description"], tx["metadata"], tx["kind"]) == ("rent", {"month": "03"}, "rent")
    assert (posted(funded, "alice"), posted(funded, "bob")) == (750, 250)


def test_a_transfer_to_itself_is_a_validation_error(funded: httpx.Client) -> None:
    """from equal to to answers 400 VALIDATION_ERROR."""
    body = {"from": "alice", "to": "alice", "amount": 5, "currency": "USD"}
    problem(funded.post("/v1/transfers", json=body), 400, "VALIDATION_ERROR")


def test_a_transfer_from_a_missing_account_is_not_found(funded: httpx.Client) -> None:
    """A transfer from an unknown account answers 404 NOT_FOUND."""
    body = {"from": "ghost", "to": "alice", "amount": 5, "currency": "USD"}
    problem(funded.post("/v1/transfers", json=body), 404, "NOT_FOUND")


# -- batches -------------------------------------------------------------------------------


def item(source: str, to: str, amount: int, **fields: Any) -> dict[str, Any]:
    return {
        "lines": lines((source, "debit", amount), (to, "credit", amount)),
        "currency": "USD",
        **fields,
    }


def test_a_batch_answers_each_item_in_order(funded: httpx.Client) -> None:
    """A non-atomic batch answers 200 with a result per item, in request order."""
    body = {
        "transactions": [
            item("alice", "bob", 100),
            item("bob", "carol", 500),
            item("alice", "carol", 10),
        ],
        "atomic": False,
    }
    response = funded.post("/v1/transactions/batch", json=body)
    assert response.status_code == 200
    results = response.json()["results"]
    assert [r["status"] for r in results] == [201, 422, 201]
    assert results[0]["transaction"]["lines"] == body["transactions"][0]["lines"]
    assert results[2]["transaction"]["lines"] == body["transactions"][2]["lines"]
    error = results[1]["error"]
    assert error.keys() >= PROBLEM_FIELDS
    assert (error["status"], error["code"]) == (422, "INSUFFICIENT_FUNDS")
    assert (posted(funded, "alice"), posted(funded, "bob"), posted(funded, "carol")) == (
        890,
        100,
        10,
    )


def test_an_atomic_batch_with_a_failure_applies_nothing(funded: httpx.Client) -> None:
    """In an atomic batch one failing item leaves every item unapplied, each with a 4xx."""
    body = {
        "transactions": [
            item("alice", "bob", 100),
            item("bob", "carol", 500),
            item("alice", "carol", 10),
        ],
        "atomic": True,
    }
    response = funded.post("/v1/transactions/batch", json=body)
    assert response.status_code == 200
    results = response.json()["results"]
    assert len(results) == 3
    assert all(400 <= r["status"] < 500 and r.get("transaction") is None for r in results)
    assert results[1]["error"]["code"] == "INSUFFICIENT_FUNDS"
    assert all(r["error"].keys() >= PROBLEM_FIELDS for r in results)
    assert (posted(funded, "alice"), posted(funded, "bob"), posted(funded, "carol")) == (
        1000,
        0,
        0,
    )
    assert len(tx_ids(funded)) == 1


def test_an_atomic_batch_commits_every_item(funded: httpx.Client) -> None:
    """An atomic batch whose items all pass commits them all, each 201."""
    body = {
        "transactions": [item("alice", "bob", 600), item("bob", "carol", 600)],
        "atomic": True,
    }
    results = funded.post("/v1/transactions/batch", json=body).json()["results"]
    assert [r["status"] for r in results] == [201, 201]
    assert (posted(funded, "alice"), posted(funded, "bob"), posted(funded, "carol")) == (
        400,
        0,
        600,
    )


def test_a_batch_item_key_replays_that_item(funded: httpx.Client) -> None:
    """An item's idempotency_key seen before returns the first transaction, applied once."""
    first = funded.post(
        "/v1/transactions/batch",
        json={"transactions": [item("alice", "bob", 100, idempotency_key="k-1")]},
    ).json()["results"][0]
    again = funded.post(
        "/v1/transactions/batch",
        json={
            "transactions": [
                item("alice", "bob", 100, idempotency_key="k-1"),
                item("alice", "carol", 1, idempotency_key="k-2"),
            ]
        },
    ).json()["results"]
    assert [r["status"] for r in again] == [201, 201]
    assert again[0]["transaction"]["id"] == first["transaction"]["id"]
    assert posted(funded, "bob") == 100


def test_a_malformed_batch_is_a_validation_error(funded: httpx.Client) -> None:
    """An empty batch, or an item with a float amount, answers 400 VALIDATION_ERROR."""
    problem(
        funded.post("/v1/transactions/batch", json={"transactions": []}), 400, "VALIDATION_ERROR"
    )
    bad = item("alice", "bob", 5)
    bad["lines"][0]["amount"] = 5.0
    bad["lines"][1]["amount"] = 5.0
    body = {"transactions": [item("alice", "bob", 5), bad]}
    problem(funded.post("/v1/transactions/batch", json=body), 400, "VALIDATION_ERROR")
    assert posted(funded, "bob") == 0


# -- holds -------------------------------------------------------------------------------


def test_a_pending_transfer_holds_funds(funded: httpx.Client) -> None:
    """pending: true answers 201 status pending with expires_at, reserving without posting."""
    hold = transfer(funded, "alice", "bob", 300, pending=True, timeout_seconds=600)
    assert hold["status"] == "pending"
    assert hold["expires_at"]
    assert (posted(funded, "alice"), available(funded, "alice")) == (1000, 700)
    assert posted(funded, "bob") == 0


def test_posting_a_hold_in_full(funded: httpx.Client) -> None:
    """POST .../post without an amount posts the whole hold."""
    hold = transfer(funded, "alice", "bob", 300, pending=True)
    response = funded.post(f"/v1/transactions/{hold['id']}/post")
    assert response.status_code == 200, response.text
    assert response.json()["id"] == hold["id"]
    assert response.json()["status"] == "posted"
    assert (posted(funded, "alice"), available(funded, "alice"), posted(funded, "bob")) == (
        700,
        700,
        300,
    )


def test_posting_part_of_a_hold_releases_the_rest(funded: httpx.Client) -> None:
    """POST .../post {"amount"} posts that much and releases the remainder."""
    hold = transfer(funded, "alice", "bob", 300, pending=True)
    response = funded.post(f"/v1/transactions/{hold['id']}/post", json={"amount": 120})
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "posted"
    assert response.json()["pending_amount_posted"] == 120
    assert funded.get(f"/v1/transactions/{hold['id']}").json()["pending_amount_posted"] == 120
    assert (posted(funded, "alice"), available(funded, "alice"), posted(funded, "bob")) == (
        880,
        880,
        120,
    )


def test_posting_more_than_the_hold_is_rejected(funded: httpx.Client) -> None:
    """An amount above the held amount answers 422 AMOUNT_EXCEEDS_HOLD; the hold stays."""
    hold = transfer(funded, "alice", "bob", 300, pending=True)
    response = funded.post(f"/v1/transactions/{hold['id']}/post", json={"amount": 301})
    problem(response, 422, "AMOUNT_EXCEEDS_HOLD")
    assert funded.get(f"/v1/transactions/{hold['id']}").json()["status"] == "pending"


def test_voiding_a_hold_releases_it(funded: httpx.Client) -> None:
    """POST .../void sets status voided and gives the reserved funds back."""
    hold = transfer(funded, "alice", "bob", 300, pending=True)
    response = funded.post(f"/v1/transactions/{hold['id']}/void")
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "voided"
    assert funded.get(f"/v1/transactions/{hold['id']}").json()["status"] == "voided"
    assert (posted(funded, "alice"), available(funded, "alice"), posted(funded, "bob")) == (
        1000,
        1000,
        0,
    )


def test_only_a_pending_transaction_can_be_posted_or_voided(funded: httpx.Client) -> None:
    """post or void of a posted, voided or already-posted hold answers 409 HOLD_NOT_PENDING."""
    plain = transfer(funded, "alice", "bob", 1)
    voided = transfer(funded, "alice", "bob", 2, pending=True)
    funded.post(f"/v1/transactions/{voided['id']}/void")
    settled = transfer(funded, "alice", "bob", 3, pending=True)
    funded.post(f"/v1/transactions/{settled['id']}/post")
    for tx in (plain, voided, settled):
        for action in ("post", "void"):
            response = funded.post(f"/v1/transactions/{tx['id']}/{action}")
            problem(response, 409, "HOLD_NOT_PENDING")
    assert posted(funded, "bob") == 4


def test_a_missing_transaction_is_not_found(api: httpx.Client) -> None:
    """GET, post, void and reverse of an unknown transaction id answer 404 NOT_FOUND."""
    problem(api.get("/v1/transactions/tx_missing"), 404, "NOT_FOUND")
    for action in ("post", "void", "reverse"):
        problem(api.post(f"/v1/transactions/tx_missing/{action}"), 404, "NOT_FOUND")


def test_a_hold_past_its_timeout_cannot_be_posted(funded: httpx.Client) -> None:
    """Posting a hold after its timeout answers 409 HOLD_NOT_PENDING."""
    hold = transfer(funded, "alice", "bob", 300, pending=True, timeout_seconds=1)
    time.sleep(1.1)
    problem(funded.post(f"/v1/transactions/{hold['id']}/post"), 409, "HOLD_NOT_PENDING")
    assert posted(funded, "bob") == 0


def test_the_server_expires_a_hold_past_its_timeout(funded: httpx.Client) -> None:
    """A hold past its timeout is voided by the server: status expired, funds released."""
    hold = transfer(funded, "alice", "bob", 300, pending=True, timeout_seconds=1)
    deadline = time.monotonic() + 4
    # The hold reads expired from its deadline on; its funds return with the sweep.
    while available(funded, "alice") != 1000 and time.monotonic() < deadline:
        time.sleep(0.25)
    assert available(funded, "alice") == 1000
    assert funded.get(f"/v1/transactions/{hold['id']}").json()["status"] == "expired"


# -- reversals -------------------------------------------------------------------------------


def test_a_reversal_swaps_every_line(funded: httpx.Client) -> None:
    """POST .../reverse answers 201 with a new posted transaction that reverses the original."""
    original = funded.post(
        "/v1/transactions",
        json={
            "lines": lines(("alice", "debit", 70), ("bob", "credit", 50), ("carol", "credit", 20)),
            "currency": "USD",
        },
    ).json()
    response = funded.post(f"/v1/transactions/{original['id']}/reverse")
    assert response.status_code == 201
    reversal = response.json()
    assert reversal["id"] != original["id"]
    assert reversal["status"] == "posted"
    assert reversal["reverses"] == original["id"]
    assert reversal["lines"] == lines(
        ("alice", "credit", 70), ("bob", "debit", 50), ("carol", "debit", 20)
    )
    assert (posted(funded, "alice"), posted(funded, "bob"), posted(funded, "carol")) == (
        1000,
        0,
        0,
    )
    assert funded.get(f"/v1/transactions/{reversal['id']}").json()["reverses"] == original["id"]


def test_a_transaction_reverses_only_once(funded: httpx.Client) -> None:
    """Reversing a transaction a second time answers 409 INVALID_STATE."""
    tx = transfer(funded, "alice", "bob", 10)
    assert funded.post(f"/v1/transactions/{tx['id']}/reverse").status_code == 201
    problem(funded.post(f"/v1/transactions/{tx['id']}/reverse"), 409, "INVALID_STATE")
    assert posted(funded, "bob") == 0


def test_a_pending_transaction_cannot_be_reversed(funded: httpx.Client) -> None:
    """Reversing a hold answers 409 INVALID_STATE."""
    hold = transfer(funded, "alice", "bob", 10, pending=True)
    problem(funded.post(f"/v1/transactions/{hold['id']}/reverse"), 409, "INVALID_STATE")


# -- reading transactions ----------------------------------------------------------------------


def test_get_a_transaction_answers_what_was_posted(funded: httpx.Client) -> None:
    """GET /v1/transactions/{id} answers the Transaction as created."""
    tx = transfer(funded, "alice", "bob", 10, kind="fee", metadata={"a": "b"})
    response = funded.get(f"/v1/transactions/{tx['id']}")
    assert response.status_code == 200
    found = response.json()
    for field in TRANSACTION_FIELDS:
        assert found[field] == tx[field], field


def test_list_transactions_in_sequence_order_with_paging(funded: httpx.Client) -> None:
    """The list walks every transaction once, by seq, through limit and cursor."""
    for amount in (1, 2, 3):
        transfer(funded, "alice", "bob", amount)
    seen: list[dict[str, Any]] = []
    cursor = None
    for _ in range(10):
        params: dict[str, Any] = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        page = funded.get("/v1/transactions", params=params).json()
        assert set(page) == {"data", "next_cursor"}
        seen += page["data"]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert cursor is None
    assert [tx["lines"][0]["amount"] for tx in seen] == [1000, 1, 2, 3]
    assert [tx["seq"] for tx in seen] == sorted(tx["seq"] for tx in seen)


def test_list_transactions_pages_by_100_by_default(funded: httpx.Client) -> None:
    """Without limit a page holds 100 transactions and a next_cursor to the rest."""
    items = [item("@world", "bob", 1) for _ in range(100)]
    assert funded.post("/v1/transactions/batch", json={"transactions": items}).status_code == 200
    first = funded.get("/v1/transactions").json()
    assert len(first["data"]) == 100
    assert first["next_cursor"] is not None
    rest = funded.get("/v1/transactions", params={"cursor": first["next_cursor"]}).json()
    assert len(rest["data"]) == 1
    assert rest["next_cursor"] is None


def test_list_transactions_filters_by_account_and_kind(funded: httpx.Client) -> None:
    """account keeps transactions touching it; kind keeps those of that kind."""
    to_bob = transfer(funded, "alice", "bob", 1, kind="fee")
    to_carol = transfer(funded, "alice", "carol", 2, kind="fee")
    other = transfer(funded, "alice", "carol", 3, kind="refund")
    assert tx_ids(funded, account="bob") == [to_bob["id"]]
    assert tx_ids(funded, account="carol") == [to_carol["id"], other["id"]]
    assert tx_ids(funded, kind="fee") == [to_bob["id"], to_carol["id"]]
    assert tx_ids(funded, account="carol", kind="refund") == [other["id"]]
    assert tx_ids(funded, account="ghost") == []


def test_list_transactions_filters_by_time(funded: httpx.Client) -> None:
    """from keeps transactions at or after it; to drops those after it."""
    first = funded.get("/v1/transactions").json()["data"][0]
    second = transfer(funded, "alice", "bob", 1)
    third = transfer(funded, "alice", "bob", 2)
    assert tx_ids(funded, **{"from": second["created_at"]}) == [second["id"], third["id"]]
    until = tx_ids(funded, to=second["created_at"])
    assert until[0] == first["id"]
    assert third["id"] not in until


def test_list_transactions_refuses_bad_filters(api: httpx.Client) -> None:
    """A time without offset, or a limit over 1000, answers 400 VALIDATION_ERROR."""
    for params in [{"from": "2026-01-01T00:00:00"}, {"to": "soon"}, {"limit": 1001}]:
        problem(api.get("/v1/transactions", params=params), 400, "VALIDATION_ERROR")
