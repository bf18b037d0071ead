"""Every operation of the client, once: its signature, its request, how to read its answer.

Each function here returns a :class:`~strongroom.client._calls.Call`; the sync
:class:`~strongroom.client.Client` and the :class:`~strongroom.client.AsyncClient`
turn each into a method of the same name and signature that sends it. The
signatures mirror :class:`strongroom.Ledger`.

Every write the server deduplicates gets an idempotency key when it is built
(``idempotency_key`` or a new UUID4), so every retry of it carries the same key
and the server applies it at most once. The webhook routes other than creation
take no key: each says in its docstring whether it is safe to resend
(``Call.replay_safe``).
"""

from __future__ import annotations

import enum
import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Literal

import httpx

from strongroom.client import _wire as wire
from strongroom.client._calls import Call
from strongroom.domain.accounts import Account, Balance
from strongroom.domain.transactions import Line, StatementLine, Transaction
from strongroom.engine.pages import DEFAULT_LIMIT, Page
from strongroom.engine.requests import BatchResult, TransactionRequest, TransferRequest


class Keep(enum.Enum):
    """The default of ``update_account(overdraft_limit=...)``: leave it as it is."""

    KEEP = "keep"


KEEP = Keep.KEEP


def _key(given: str | None) -> str:
    return given if given is not None else str(uuid.uuid4())


def _account(response: httpx.Response) -> Account:
    return wire.account_from_json(response.json(), replayed=wire.replayed(response))


def _transaction(response: httpx.Response) -> Transaction:
    return wire.transaction_from_json(response.json(), replayed=wire.replayed(response))


def _write_tx(path: str, body: Any, idempotency_key: str | None) -> Call[Transaction]:
    return Call("POST", path, _transaction, json=body, idempotency_key=_key(idempotency_key))


# -- accounts ------------------------------------------------------------------------


def create_account(
    account_id: str | None = None,
    *,
    currency: str,
    normal_balance: str = "credit",
    overdraft_limit: int | None = 0,
    metadata: Mapping[str, str] | None = None,
    idempotency_key: str | None = None,
) -> Call[Account]:
    """Create an account (``overdraft_limit=None``: unlimited); its id again: ALREADY_EXISTS."""
    body: dict[str, Any] = {
        "currency": currency,
        "normal_balance": normal_balance,
        "overdraft_limit": overdraft_limit,
    }
    body.update(wire.params(id=account_id, metadata=None if metadata is None else dict(metadata)))
    return Call("POST", "/v1/accounts", _account, json=body, idempotency_key=_key(idempotency_key))


def get_account(account_id: str) -> Call[Account]:
    """The account with its balance."""
    return Call("GET", wire.path("v1", "accounts", account_id), _account)


def update_account(
    account_id: str,
    *,
    status: str | None = None,
    overdraft_limit: int | Literal[Keep.KEEP] | None = KEEP,
    metadata: Mapping[str, str] | None = None,
    idempotency_key: str | None = None,
) -> Call[Account]:
    """Change status, overdraft limit (``None``: unlimited) or metadata (replaced whole)."""
    body: dict[str, Any] = wire.params(
        status=status, metadata=None if metadata is None else dict(metadata)
    )
    if overdraft_limit is not KEEP:
        body["overdraft_limit"] = overdraft_limit
    return Call(
        "PATCH",
        wire.path("v1", "accounts", account_id),
        _account,
        json=body,
        idempotency_key=_key(idempotency_key),
    )


def list_accounts(
    *, prefix: str | None = None, limit: int = DEFAULT_LIMIT, cursor: str | None = None
) -> Call[Page[Account]]:
    """Accounts in id order, optionally those whose id starts with ``prefix``."""

    def parse(response: httpx.Response) -> Page[Account]:
        body = response.json()
        return Page([wire.account_from_json(a) for a in body["data"]], body["next_cursor"])

    query = wire.params(prefix=prefix, limit=limit, cursor=cursor)
    return Call("GET", "/v1/accounts", parse, params=query)


def balance(account_id: str, at: datetime | None = None) -> Call[Balance]:
    """The account's balance now, or as it stood at ``at`` (timezone-aware)."""
    query = wire.params(at=wire.time_param(at, "at"))
    return Call(
        "GET",
        wire.path("v1", "accounts", account_id, "balance"),
        lambda response: wire.balance_from_json(response.json()),
        params=query,
    )


def statement(
    account_id: str,
    *,
    start: datetime | None = None,
    end: datetime | None = None,
    limit: int = DEFAULT_LIMIT,
    cursor: str | None = None,
) -> Call[Page[StatementLine]]:
    """Posted lines of the account in sequence order, each with the balance after it."""

    def parse(response: httpx.Response) -> Page[StatementLine]:
        body = response.json()
        lines = [wire.statement_line_from_json(line) for line in body["data"]]
        return Page(lines, body["next_cursor"])

    query = wire.params(
        limit=limit,
        cursor=cursor,
        **{"from": wire.time_param(start, "from"), "to": wire.time_param(end, "to")},
    )
    return Call("GET", wire.path("v1", "accounts", account_id, "statement"), parse, params=query)


# -- transactions ----------------------------------------------------------------------


def transfer(
    source: str,
    destination: str,
    amount: int,
    currency: str,
    *,
    description: str | None = None,
    metadata: Mapping[str, str] | None = None,
    kind: str | None = None,
    pending: bool = False,
    timeout_seconds: int | None = None,
    idempotency_key: str | None = None,
) -> Call[Transaction]:
    """Move ``amount`` from ``source`` (debited) to ``destination`` (credited)."""
    body = {
        "from": source,
        "to": destination,
        "amount": amount,
        **wire.tx_fields(
            currency=currency,
            description=description,
            metadata=metadata,
            kind=kind,
            pending=pending,
            timeout_seconds=timeout_seconds,
        ),
    }
    return _write_tx("/v1/transfers", body, idempotency_key)


def post(
    lines: Sequence[Line | Mapping[str, Any]],
    *,
    currency: str,
    description: str | None = None,
    metadata: Mapping[str, str] | None = None,
    kind: str | None = None,
    pending: bool = False,
    timeout_seconds: int | None = None,
    idempotency_key: str | None = None,
) -> Call[Transaction]:
    """Post a multi-line transaction (or hold it, with ``pending=True``)."""
    body = {
        "lines": wire.lines_to_json(lines),
        **wire.tx_fields(
            currency=currency,
            description=description,
            metadata=metadata,
            kind=kind,
            pending=pending,
            timeout_seconds=timeout_seconds,
        ),
    }
    return _write_tx("/v1/transactions", body, idempotency_key)


def post_pending(
    tx_id: str, amount: int | None = None, *, idempotency_key: str | None = None
) -> Call[Transaction]:
    """Post a pending transaction in full (``amount=None``) or in part (the rest is released)."""
    body = wire.params(amount=amount)
    return _write_tx(wire.path("v1", "transactions", tx_id, "post"), body, idempotency_key)


def void_pending(tx_id: str, *, idempotency_key: str | None = None) -> Call[Transaction]:
    """Release a pending transaction."""
    return _write_tx(wire.path("v1", "transactions", tx_id, "void"), None, idempotency_key)


def reverse(
    tx_id: str, *, description: str | None = None, idempotency_key: str | None = None
) -> Call[Transaction]:
    """Post a new transaction with every posted line of ``tx_id`` swapped."""
    body = wire.params(description=description)
    return _write_tx(wire.path("v1", "transactions", tx_id, "reverse"), body, idempotency_key)


def batch(
    requests: Sequence[TransferRequest | TransactionRequest | Mapping[str, Any]],
    *,
    atomic: bool = False,
    idempotency_key: str | None = None,
) -> Call[list[BatchResult]]:
    """Many transactions in one database transaction, a result per item, in order.

    Items are ``TransferRequest``/``TransactionRequest`` objects or mappings
    shaped like the HTTP bodies (transfers with ``from``/``to``/``amount``);
    transfers are sent as their two lines. A malformed item raises
    ``ValidationError`` before anything is sent. ``idempotency_key`` covers the
    whole batch; each item may carry its own.
    """
    body = {
        "transactions": [wire.batch_item(raw, i) for i, raw in enumerate(requests)],
        "atomic": atomic,
    }

    def parse(response: httpx.Response) -> list[BatchResult]:
        return wire.batch_results_from_json(response.json(), replayed=wire.replayed(response))

    return Call(
        "POST", "/v1/transactions/batch", parse, json=body, idempotency_key=_key(idempotency_key)
    )


def get_transaction(tx_id: str) -> Call[Transaction]:
    """The transaction with this id."""
    return Call("GET", wire.path("v1", "transactions", tx_id), _transaction)


def list_transactions(
    *,
    account: str | None = None,
    kind: str | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    limit: int = DEFAULT_LIMIT,
    cursor: str | None = None,
) -> Call[Page[Transaction]]:
    """Transactions in sequence order, filtered by an account they touch, kind, or time."""

    def parse(response: httpx.Response) -> Page[Transaction]:
        body = response.json()
        return Page([wire.transaction_from_json(t) for t in body["data"]], body["next_cursor"])

    query = wire.params(
        account=account,
        kind=kind,
        limit=limit,
        cursor=cursor,
        **{"from": wire.time_param(start, "from"), "to": wire.time_param(end, "to")},
    )
    return Call("GET", "/v1/transactions", parse, params=query)


# -- integrity -----------------------------------------------------------------------------


def head() -> Call[tuple[int, str]]:
    """The last link of the tenant's chain: ``(seq, hash)``."""

    def parse(response: httpx.Response) -> tuple[int, str]:
        body = response.json()
        return body["seq"], body["hash"]

    return Call("GET", "/v1/ledger/head", parse)


def verify() -> Call[wire.VerifyResult]:
    """Check the hash chain and every account's sums against a replay (scope ``admin``)."""
    # Verification writes nothing: sending it again is harmless.
    return Call(
        "POST", "/v1/ledger/verify", lambda response: wire.verify_from_json(response.json())
    )


# -- API keys ------------------------------------------------------------------------------


def create_api_key(
    name: str,
    scopes: Sequence[str],
    *,
    expires_at: datetime | None = None,
    idempotency_key: str | None = None,
) -> Call[wire.ApiKey]:
    """A new key of this tenant (scope ``admin``); its secret is in ``.key``, this once.

    A retry after a lost response replays the creation: the same key comes back
    with ``.key`` None, since a secret is never shown twice.
    """
    body = {
        "name": name,
        "scopes": list(scopes),
        "expires_at": wire.time_param(expires_at, "expires_at"),
    }
    return Call(
        "POST",
        "/v1/api-keys",
        lambda response: wire.api_key_from_json(response.json(), replayed=wire.replayed(response)),
        json=body,
        idempotency_key=_key(idempotency_key),
    )


def list_api_keys(
    *, limit: int = DEFAULT_LIMIT, cursor: str | None = None
) -> Call[Page[wire.ApiKey]]:
    """The tenant's keys, never their secrets."""

    def parse(response: httpx.Response) -> Page[wire.ApiKey]:
        body = response.json()
        return Page([wire.api_key_from_json(k) for k in body["data"]], body["next_cursor"])

    return Call("GET", "/v1/api-keys", parse, params=wire.params(limit=limit, cursor=cursor))


def revoke_api_key(key_id: str, *, idempotency_key: str | None = None) -> Call[wire.ApiKey]:
    """Revoke a key at once. Revoking again keeps the first revocation: safe to resend."""
    return Call(
        "DELETE",
        wire.path("v1", "api-keys", key_id),
        lambda response: wire.api_key_from_json(response.json()),
        idempotency_key=_key(idempotency_key),
    )


# -- events ----------------------------------------------------------------------------------


def list_events(
    *,
    after: str | None = None,
    types: Sequence[str] | None = None,
    limit: int = DEFAULT_LIMIT,
) -> Call[Page[wire.Event]]:
    """Events in commit order after ``after`` (an event id, or a page's ``next_cursor``).

    A consumer resumes where it stopped with the id of the last event it handled
    or the last ``next_cursor``; ``next_cursor`` is ``None`` when no more events
    exist yet. ``types`` keeps only those event types (one name or several;
    empty or ``None``: all). An unknown event id in ``after`` is a
    ``ValidationError``.
    """
    wanted = None if types is None else types if isinstance(types, str) else ",".join(types)

    def parse(response: httpx.Response) -> Page[wire.Event]:
        body = response.json()
        return Page([wire.event_from_json(e) for e in body["data"]], body["next_cursor"])

    return Call(
        "GET", "/v1/events", parse, params=wire.params(after=after, types=wanted, limit=limit)
    )


# -- webhooks ------------------------------------------------------------------------------


def _endpoint(response: httpx.Response) -> wire.WebhookEndpoint:
    return wire.webhook_endpoint_from_json(response.json(), replayed=wire.replayed(response))


def _delivery(response: httpx.Response) -> wire.WebhookDelivery:
    return wire.webhook_delivery_from_json(response.json())


def create_webhook_endpoint(
    url: str,
    events: Sequence[str] = ("*",),
    *,
    description: str | None = None,
    idempotency_key: str | None = None,
) -> Call[wire.WebhookEndpoint]:
    """Register ``url`` for these event types (``"*"``: all) (scope ``admin``).

    The signing secret (``whsec_...``) is in ``.secret``, this once. A retry
    after a lost response replays the creation: the same endpoint comes back
    with ``.secret`` None, since a secret is never shown twice (rotate it to
    get a new one). A URL whose host is not public is a ``ValidationError``
    unless the server's operator allowed it.
    """
    body = {"url": url, "events": list(events), **wire.params(description=description)}
    return Call(
        "POST",
        "/v1/webhook-endpoints",
        _endpoint,
        json=body,
        idempotency_key=_key(idempotency_key),
    )


def list_webhook_endpoints(
    *, limit: int = DEFAULT_LIMIT, cursor: str | None = None
) -> Call[Page[wire.WebhookEndpoint]]:
    """The tenant's webhook endpoints in id order, never their secrets."""

    def parse(response: httpx.Response) -> Page[wire.WebhookEndpoint]:
        body = response.json()
        endpoints = [wire.webhook_endpoint_from_json(e) for e in body["data"]]
        return Page(endpoints, body["next_cursor"])

    query = wire.params(limit=limit, cursor=cursor)
    return Call("GET", "/v1/webhook-endpoints", parse, params=query)


def get_webhook_endpoint(endpoint_id: str) -> Call[wire.WebhookEndpoint]:
    """One webhook endpoint, without its secret."""
    return Call("GET", wire.path("v1", "webhook-endpoints", endpoint_id), _endpoint)


def update_webhook_endpoint(
    endpoint_id: str,
    *,
    url: str | None = None,
    events: Sequence[str] | None = None,
    description: str | None = None,
    status: str | None = None,
) -> Call[wire.WebhookEndpoint]:
    """Change the URL, event types, description or status; ``None`` leaves a field as it is.

    ``status="enabled"`` re-enables an endpoint disabled by a user or by a
    ``410 Gone``; ``"disabled"`` stops its deliveries. The fields are set, not
    added to: sending the same update again changes nothing more, so it is safe
    to resend and takes no idempotency key.
    """
    body = wire.params(
        url=url,
        events=None if events is None else list(events),
        description=description,
        status=status,
    )
    return Call("PATCH", wire.path("v1", "webhook-endpoints", endpoint_id), _endpoint, json=body)


def delete_webhook_endpoint(endpoint_id: str) -> Call[wire.WebhookEndpoint]:
    """Delete the endpoint (returned as it was): nothing more is sent to it.

    Deleting twice leaves it deleted, so it is safe to resend and takes no
    idempotency key; a resend after a lost response raises ``NotFound``, as
    the endpoint is already gone.
    """
    return Call("DELETE", wire.path("v1", "webhook-endpoints", endpoint_id), _endpoint)


def rotate_webhook_secret(
    endpoint_id: str, *, overlap_seconds: int | None = None
) -> Call[wire.WebhookEndpoint]:
    """A new signing secret, in ``.secret`` this once.

    The previous secret also signs for ``overlap_seconds`` (``None``: a day, the
    server's default), so receivers can switch without losing a delivery. Not
    safe to resend, and not resent after a timeout or a lost connection: a
    second rotation would make the unseen secret of the first the previous one,
    and the secret receivers still use would stop signing at once. After such
    a failure, rotate again deliberately and give receivers the secret it returns.
    """
    body = None if overlap_seconds is None else {"overlap_seconds": overlap_seconds}
    return Call(
        "POST",
        wire.path("v1", "webhook-endpoints", endpoint_id, "rotate-secret"),
        _endpoint,
        json=body,
        replay_safe=False,
    )


def list_webhook_deliveries(
    endpoint_id: str,
    *,
    status: str | None = None,
    limit: int = DEFAULT_LIMIT,
    cursor: str | None = None,
) -> Call[Page[wire.WebhookDelivery]]:
    """The endpoint's deliveries, newest event first, each with its attempts.

    ``status`` keeps only ``"pending"``, ``"succeeded"`` or ``"dead"`` ones.
    """

    def parse(response: httpx.Response) -> Page[wire.WebhookDelivery]:
        body = response.json()
        deliveries = [wire.webhook_delivery_from_json(d) for d in body["data"]]
        return Page(deliveries, body["next_cursor"])

    query = wire.params(status=status, limit=limit, cursor=cursor)
    return Call(
        "GET", wire.path("v1", "webhook-endpoints", endpoint_id, "deliveries"), parse, params=query
    )


def get_webhook_delivery(delivery_id: str) -> Call[wire.WebhookDelivery]:
    """One delivery: its status, schedule and every attempt."""
    return Call("GET", wire.path("v1", "webhook-deliveries", delivery_id), _delivery)


def retry_webhook_delivery(delivery_id: str) -> Call[wire.WebhookDelivery]:
    """Send a finished (``dead`` or ``succeeded``) delivery again, at once; it is ``pending``.

    A delivery still pending, or whose endpoint is disabled, raises
    ``InvalidState``. Not safe to resend, and not resent after a timeout or a
    lost connection: a resend answers ``InvalidState`` (the first made it
    pending) or, if that round already finished, sends the event once more.
    After such a failure, look with :meth:`get_webhook_delivery`.
    """
    return Call(
        "POST",
        wire.path("v1", "webhook-deliveries", delivery_id, "retry"),
        _delivery,
        replay_safe=False,
    )
