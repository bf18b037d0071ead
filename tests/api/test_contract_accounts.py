"""Contract of /v1/accounts over real HTTP: create, read, list, update, balance, statement."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import httpx
import pytest

from tests.api.problems import problem

ACCOUNT_FIELDS = {
    "id",
    "currency",
    "normal_balance",
    "status",
    "overdraft_limit",
    "metadata",
    "balance",
    "version",
    "created_at",
}
ZERO = {"posted": 0, "pending_debits": 0, "pending_credits": 0, "available": 0}


def create(api: httpx.Client, account_id: str, currency: str = "USD", **fields: Any) -> Any:
    response = api.post("/v1/accounts", json={"id": account_id, "currency": currency, **fields})
    assert response.status_code == 201, response.text
    return response.json()


def transfer(api: httpx.Client, source: str, to: str, amount: int, **fields: Any) -> Any:
    body = {"from": source, "to": to, "amount": amount, "currency": "USD", **fields}
    response = api.post("/v1/transfers", json=body)
    assert response.status_code == 201, response.text
    return response.json()


def balance(api: httpx.Client, account_id: str) -> Any:
    response = api.get(f"/v1/accounts/{account_id}")
    assert response.status_code == 200, response.text
    return response.json()["balance"]


@pytest.fixture
def funded(api: httpx.Client) -> httpx.Client:
    """``@world`` (unlimited), ``alice`` holding 1000 and an empty ``bob``, all in USD."""
    create(api, "@world", overdraft_limit=None)
    create(api, "alice")
    create(api, "bob")
    transfer(api, "@world", "alice", 1000)
    return api


# -- create --------------------------------------------------------------------------


def test_create_returns_the_account_with_defaults(api: httpx.Client) -> None:
    """POST /v1/accounts answers 201 with every Account field and the documented defaults."""
    response = api.post("/v1/accounts", json={"id": "user:42", "currency": "USD"})
    assert response.status_code == 201
    body = response.json()
    assert set(body) == ACCOUNT_FIELDS
    assert body["id"] == "user:42"
    assert body["currency"] == "USD"
    assert body["normal_balance"] == "credit"
    assert body["status"] == "active"
    assert body["overdraft_limit"] == 0
    assert body["metadata"] == {}
    assert body["balance"] == ZERO
    assert isinstance(body["version"], int)
    assert datetime.fromisoformat(body["created_at"]).utcoffset() is not None


def test_create_keeps_the_given_options(api: httpx.Client) -> None:
    """normal_balance, overdraft_limit (null: unlimited) and metadata are stored as given."""
    body = create(
        api, "cash", normal_balance="debit", overdraft_limit=None, metadata={"owner": "ops"}
    )
    assert body["normal_balance"] == "debit"
    assert body["overdraft_limit"] is None
    assert body["metadata"] == {"owner": "ops"}
    assert api.get("/v1/accounts/cash").json() == body


def test_create_without_id_generates_one(api: httpx.Client) -> None:
    """An account created without an id gets one that can be read back."""
    response = api.post("/v1/accounts", json={"currency": "EUR"})
    assert response.status_code == 201
    account_id = response.json()["id"]
    assert isinstance(account_id, str)
    assert account_id
    assert api.get(f"/v1/accounts/{account_id}").json()["currency"] == "EUR"


def test_create_an_existing_id_is_a_conflict(api: httpx.Client) -> None:
    """Creating the same id twice answers 409 ALREADY_EXISTS and keeps the first account."""
    create(api, "user:1", metadata={"v": "1"})
    response = api.post("/v1/accounts", json={"id": "user:1", "currency": "EUR"})
    problem(response, 409, "ALREADY_EXISTS")
    assert api.get("/v1/accounts/user:1").json()["currency"] == "USD"


def test_create_with_an_unknown_currency_is_rejected(api: httpx.Client) -> None:
    """A currency that is neither ISO 4217 nor a unit of the tenant answers 422 UNKNOWN_CURRENCY."""
    for currency in ["ZZZ", "usd", "DOLLARS"]:
        response = api.post("/v1/accounts", json={"id": "x", "currency": currency})
        problem(response, 422, "UNKNOWN_CURRENCY")
    problem(api.get("/v1/accounts/x"), 404, "NOT_FOUND")


INVALID_CREATES = {
    "no-currency": {"id": "a"},
    "unknown-field": {"id": "a", "currency": "USD", "balance": 100},
    "bad-normal-balance": {"id": "a", "currency": "USD", "normal_balance": "both"},
    "negative-overdraft": {"id": "a", "currency": "USD", "overdraft_limit": -1},
    "float-overdraft": {"id": "a", "currency": "USD", "overdraft_limit": 1.5},
    "string-overdraft": {"id": "a", "currency": "USD", "overdraft_limit": "10"},
    "metadata-not-strings": {"id": "a", "currency": "USD", "metadata": {"n": 1}},
    "empty-id": {"id": "", "currency": "USD"},
    "id-with-space": {"id": "a b", "currency": "USD"},
    "numeric-currency": {"id": "a", "currency": 840},
}


def test_create_with_an_invalid_body_is_a_validation_error(api: httpx.Client) -> None:
    """A malformed account answers 400 VALIDATION_ERROR listing errors as {loc, msg}."""
    for case, body in INVALID_CREATES.items():
        response = api.post("/v1/accounts", json=body)
        assert response.status_code == 400, case
        found = problem(response, 400, "VALIDATION_ERROR")
        assert found["errors"], case
        for error in found["errors"]:
            assert isinstance(error["loc"], list), case
            assert isinstance(error["msg"], str), case
            assert error["msg"], case
    assert api.get("/v1/accounts").json()["data"] == []


# -- read and list ---------------------------------------------------------------------


def test_a_missing_account_is_not_found(api: httpx.Client) -> None:
    """GET, PATCH, balance and statement of an id never created answer 404 NOT_FOUND."""
    problem(api.get("/v1/accounts/ghost"), 404, "NOT_FOUND")
    problem(api.patch("/v1/accounts/ghost", json={"status": "frozen"}), 404, "NOT_FOUND")
    problem(api.get("/v1/accounts/ghost/balance"), 404, "NOT_FOUND")
    problem(api.get("/v1/accounts/ghost/statement"), 404, "NOT_FOUND")


def test_list_pages_through_every_account_in_a_stable_order(api: httpx.Client) -> None:
    """limit and cursor walk every account once, in id order, ending with next_cursor null."""
    ids = ["b", "d", "a", "e", "c"]
    for account_id in ids:
        create(api, account_id)
    seen: list[str] = []
    cursor = None
    for _ in range(10):
        params: dict[str, Any] = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        page = api.get("/v1/accounts", params=params).json()
        assert set(page) == {"data", "next_cursor"}
        assert len(page["data"]) <= 2
        seen += [account["id"] for account in page["data"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == sorted(ids)
    assert cursor is None


def test_list_without_limit_returns_everything_small(api: httpx.Client) -> None:
    """Without limit a short list comes whole, full Account objects, next_cursor null."""
    first = create(api, "a")
    page = api.get("/v1/accounts").json()
    assert page == {"data": [first], "next_cursor": None}


def test_list_filters_by_prefix(api: httpx.Client) -> None:
    """prefix keeps only ids starting with it, taking _ and % literally."""
    for account_id in ["user:1", "user:2", "users", "shop:1", "user_x", "userAx"]:
        create(api, account_id)
    listed = api.get("/v1/accounts", params={"prefix": "user:"}).json()["data"]
    assert [a["id"] for a in listed] == ["user:1", "user:2"]
    literal = api.get("/v1/accounts", params={"prefix": "user_"}).json()["data"]
    assert [a["id"] for a in literal] == ["user_x"]
    assert api.get("/v1/accounts", params={"prefix": "%"}).json()["data"] == []


def test_list_refuses_bad_paging(api: httpx.Client) -> None:
    """limit outside 1..1000 or an unreadable cursor answers 400 VALIDATION_ERROR."""
    for params in [{"limit": 0}, {"limit": 1001}, {"limit": "ten"}, {"cursor": "not-a-cursor"}]:
        problem(api.get("/v1/accounts", params=params), 400, "VALIDATION_ERROR")
    assert api.get("/v1/accounts", params={"limit": 1000}).status_code == 200


# -- update ------------------------------------------------------------------------------


def test_patch_changes_status_limit_and_metadata(api: httpx.Client) -> None:
    """PATCH applies status, overdraft_limit and metadata (replaced) and bumps the version."""
    before = create(api, "a", metadata={"old": "1"})
    response = api.patch(
        "/v1/accounts/a",
        json={"status": "frozen", "overdraft_limit": 50, "metadata": {"new": "2"}},
    )
    assert response.status_code == 200
    after = response.json()
    assert set(after) == ACCOUNT_FIELDS
    assert (after["status"], after["overdraft_limit"], after["metadata"]) == (
        "frozen",
        50,
        {"new": "2"},
    )
    assert after["version"] > before["version"]
    assert api.get("/v1/accounts/a").json() == after


def test_patch_overdraft_null_makes_it_unlimited(funded: httpx.Client) -> None:
    """overdraft_limit null lets the account go below zero without bound."""
    response = funded.patch("/v1/accounts/bob", json={"overdraft_limit": None})
    assert response.json()["overdraft_limit"] is None
    transfer(funded, "bob", "alice", 10**9)
    assert balance(funded, "bob")["posted"] == -(10**9)


def test_patch_with_an_invalid_body_is_a_validation_error(api: httpx.Client) -> None:
    """A PATCH body with a bad or unknown field answers 400 VALIDATION_ERROR and changes nothing."""
    before = create(api, "a")
    bodies = [{"status": "deleted"}, {"overdraft_limit": -5}, {"currency": "EUR"}, {"balance": 1}]
    for body in bodies:
        problem(api.patch("/v1/accounts/a", json=body), 400, "VALIDATION_ERROR")
    assert api.get("/v1/accounts/a").json() == before


def test_closing_needs_a_zero_balance(funded: httpx.Client) -> None:
    """Closing an account that holds money answers 409 INVALID_STATE."""
    problem(funded.patch("/v1/accounts/alice", json={"status": "closed"}), 409, "INVALID_STATE")
    assert funded.get("/v1/accounts/alice").json()["status"] == "active"


def test_a_closed_account_cannot_be_reopened(api: httpx.Client) -> None:
    """A closed account stays closed: reactivating it answers 409 INVALID_STATE."""
    create(api, "a")
    assert api.patch("/v1/accounts/a", json={"status": "closed"}).status_code == 200
    problem(api.patch("/v1/accounts/a", json={"status": "active"}), 409, "INVALID_STATE")


def test_a_frozen_account_takes_no_debit_or_credit(funded: httpx.Client) -> None:
    """A transfer from or to a frozen account answers 422 ACCOUNT_FROZEN and moves nothing."""
    funded.patch("/v1/accounts/alice", json={"status": "frozen"})
    for source, to in [("alice", "bob"), ("@world", "alice")]:
        body = {"from": source, "to": to, "amount": 5, "currency": "USD"}
        problem(funded.post("/v1/transfers", json=body), 422, "ACCOUNT_FROZEN")
    assert balance(funded, "alice")["posted"] == 1000


def test_a_frozen_account_still_releases_its_own_holds(funded: httpx.Client) -> None:
    """A hold of a frozen account can still be voided, giving its funds back."""
    hold = transfer(funded, "alice", "bob", 300, pending=True)
    funded.patch("/v1/accounts/alice", json={"status": "frozen"})
    response = funded.post(f"/v1/transactions/{hold['id']}/void")
    assert response.status_code == 200, response.text
    assert balance(funded, "alice")["available"] == 1000


def test_a_closed_account_takes_nothing(funded: httpx.Client) -> None:
    """A transfer from or to a closed account answers 422 ACCOUNT_CLOSED."""
    create(funded, "closed", overdraft_limit=None)
    assert funded.patch("/v1/accounts/closed", json={"status": "closed"}).status_code == 200
    for source, to in [("closed", "@world"), ("@world", "closed")]:
        body = {"from": source, "to": to, "amount": 5, "currency": "USD"}
        problem(funded.post("/v1/transfers", json=body), 422, "ACCOUNT_CLOSED")
    assert balance(funded, "closed")["posted"] == 0


# -- balances ------------------------------------------------------------------------------


def test_balance_counts_holds_against_available(funded: httpx.Client) -> None:
    """A pending debit lowers available but not posted; the Account shows both."""
    transfer(funded, "alice", "bob", 300, pending=True)
    assert balance(funded, "alice") == {
        "posted": 1000,
        "pending_debits": 300,
        "pending_credits": 0,
        "available": 700,
    }
    assert balance(funded, "bob")["pending_credits"] == 300
    assert balance(funded, "bob")["available"] == 0


def test_debit_normal_balance_counts_debits_as_positive(funded: httpx.Client) -> None:
    """On a debit-normal account posted is debits minus credits."""
    create(funded, "cash", normal_balance="debit")
    transfer(funded, "cash", "@world", 40)
    assert balance(funded, "cash")["posted"] == 40


def test_balance_endpoint_answers_now(funded: httpx.Client) -> None:
    """GET /v1/accounts/{id}/balance without at answers the current balance."""
    body = funded.get("/v1/accounts/alice/balance").json()
    assert body["posted"] == 1000
    assert body["available"] == 1000
    assert (body["pending_debits"], body["pending_credits"]) == (0, 0)
    assert body["account"] == "alice"
    assert body["currency"] == "USD"


def test_balance_at_a_past_time_is_the_balance_then(funded: httpx.Client) -> None:
    """?at= answers the balance as it stood at that time, not now."""
    first = funded.get("/v1/transactions", params={"account": "alice"}).json()["data"][0]
    later = transfer(funded, "@world", "alice", 500)
    at_first = funded.get("/v1/accounts/alice/balance", params={"at": first["created_at"]})
    assert at_first.status_code == 200
    assert at_first.json()["posted"] == 1000
    at_later = funded.get("/v1/accounts/alice/balance", params={"at": later["created_at"]})
    assert at_later.json()["posted"] == 1500
    before = funded.get("/v1/accounts/alice/balance", params={"at": "2000-01-01T00:00:00Z"})
    assert before.json()["posted"] == 0


def test_balance_at_needs_an_rfc3339_time(funded: httpx.Client) -> None:
    """?at= without a UTC offset, or not a time, answers 400 VALIDATION_ERROR."""
    for at in ["2026-01-01T00:00:00", "yesterday"]:
        response = funded.get("/v1/accounts/alice/balance", params={"at": at})
        problem(response, 400, "VALIDATION_ERROR")


# -- statements ------------------------------------------------------------------------------


def test_statement_lists_posted_lines_with_running_balance(funded: httpx.Client) -> None:
    """Each statement line has the documented fields, in sequence order, with balance_after."""
    out = transfer(funded, "alice", "bob", 300, description="rent")
    transfer(funded, "@world", "alice", 50)
    page = funded.get("/v1/accounts/alice/statement").json()
    assert page["next_cursor"] is None
    lines = page["data"]
    assert [set(line) for line in lines] == [
        {"transaction_id", "seq", "side", "amount", "balance_after", "posted_at", "description"}
    ] * 3
    assert [(x["side"], x["amount"], x["balance_after"]) for x in lines] == [
        ("credit", 1000, 1000),
        ("debit", 300, 700),
        ("credit", 50, 750),
    ]
    assert [x["seq"] for x in lines] == sorted(x["seq"] for x in lines)
    assert lines[1]["transaction_id"] == out["id"]
    assert lines[1]["description"] == "rent"
    assert lines[1]["posted_at"] == out["created_at"]


def test_statement_leaves_out_pending_holds(funded: httpx.Client) -> None:
    """A hold appears on the statement only once it is posted."""
    hold = transfer(funded, "alice", "bob", 300, pending=True)
    assert len(funded.get("/v1/accounts/alice/statement").json()["data"]) == 1
    funded.post(f"/v1/transactions/{hold['id']}/post", json={"amount": 120})
    lines = funded.get("/v1/accounts/alice/statement").json()["data"]
    assert [(x["side"], x["amount"], x["balance_after"]) for x in lines[1:]] == [
        ("debit", 120, 880)
    ]


def test_statement_pages_with_a_cursor(funded: httpx.Client) -> None:
    """limit and cursor walk the statement once, in order."""
    for amount in (1, 2, 3, 4):
        transfer(funded, "@world", "alice", amount)
    amounts: list[int] = []
    cursor = None
    for _ in range(10):
        params: dict[str, Any] = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        page = funded.get("/v1/accounts/alice/statement", params=params).json()
        amounts += [line["amount"] for line in page["data"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert amounts == [1000, 1, 2, 3, 4]
    assert cursor is None


def test_statement_filters_by_time(funded: httpx.Client) -> None:
    """from keeps lines at or after it; to drops lines after it."""
    second = transfer(funded, "@world", "alice", 7)
    transfer(funded, "@world", "alice", 9)
    since = funded.get("/v1/accounts/alice/statement", params={"from": second["created_at"]})
    assert [x["amount"] for x in since.json()["data"]] == [7, 9]
    until = funded.get("/v1/accounts/alice/statement", params={"to": second["created_at"]})
    amounts = [x["amount"] for x in until.json()["data"]]
    assert amounts[0] == 1000
    assert 9 not in amounts
