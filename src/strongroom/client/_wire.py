"""Translating between the HTTP API's JSON and the library's domain types.

Everything here is pure: no I/O, no httpx client. The sync and async clients
share it through :mod:`strongroom.client._operations`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import quote

import httpx

from strongroom.domain.accounts import Account, AccountStatus, Balance, Side, Sums
from strongroom.domain.errors import StrongroomError, ValidationError, error_from_dict
from strongroom.domain.snapshots import balance_from_dict, parse_time, transaction_from_dict
from strongroom.domain.transactions import Line, StatementLine, Transaction
from strongroom.engine.requests import (
    BatchResult,
    TransactionRequest,
    TransferRequest,
    as_request,
)
from strongroom.engine.verify import Drift

# -- results the library has no type for -----------------------------------------------


@dataclass(frozen=True, slots=True)
class ApiKey:
    """An API key as the server lists it; ``key`` (the secret) only right after creation."""

    id: str
    name: str
    prefix: str
    scopes: tuple[str, ...]
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None
    created_at: datetime
    key: str | None = field(default=None, repr=False)
    replayed: bool = field(default=False, compare=False)
    """A replayed creation: the same key, its secret (shown once) not included."""


@dataclass(frozen=True, slots=True)
class Event:
    """One event of the feed (``GET /v1/events``), as webhooks deliver it too."""

    id: str
    type: str
    created_at: datetime
    data: dict[str, Any] = field(hash=False)


@dataclass(frozen=True, slots=True)
class WebhookEndpoint:
    """A webhook endpoint; ``secret`` (``whsec_...``) only right after creation or rotation."""

    id: str
    url: str
    events: tuple[str, ...]
    description: str
    status: str
    disabled_reason: str | None
    created_at: datetime
    updated_at: datetime
    secret: str | None = field(default=None, repr=False)
    replayed: bool = field(default=False, compare=False)
    """A replayed creation: the same endpoint, its secret (shown once) not included."""


@dataclass(frozen=True, slots=True)
class WebhookAttempt:
    """One attempt of a delivery; ``status_code`` is ``None`` when no HTTP answer came."""

    number: int
    at: datetime
    status_code: int | None
    error: str | None
    response_excerpt: str
    duration_ms: int


@dataclass(frozen=True, slots=True)
class WebhookDelivery:
    """An event's delivery to one endpoint (``pending``, ``succeeded`` or ``dead``)."""

    id: str
    endpoint_id: str
    event_id: str
    event_type: str
    status: str
    attempt_count: int
    next_attempt_at: datetime | None
    last_status_code: int | None
    last_error: str | None
    delivered_at: datetime | None
    created_at: datetime
    updated_at: datetime
    attempts: tuple[WebhookAttempt, ...]


@dataclass(frozen=True, slots=True)
class VerifyResult:
    """``POST /v1/ledger/verify``: the fields of the library's ``VerifyReport``.

    The HTTP answer carries no chain head, so this is not a ``VerifyReport``
    (whose ``head_seq``/``head_hash`` would be made up); ask :meth:`head` for it.
    """

    ok: bool
    checked: int
    first_bad_seq: int | None
    balances_ok: bool
    drift: list[Drift]


# -- requests ----------------------------------------------------------------------------


def path(*parts: str) -> str:
    """A URL path with every dynamic part percent-encoded (``@``, ``:``, ``+`` in ids)."""
    return "/" + "/".join(quote(part, safe="") for part in parts)


def time_param(value: datetime | None, name: str) -> str | None:
    """An RFC 3339 query value; a naive datetime is refused as the library refuses it."""
    if value is None:
        return None
    if not isinstance(value, datetime) or value.tzinfo is None:
        raise ValidationError(f"{name} must be a timezone-aware datetime", loc=(name,))
    return value.isoformat()


def params(**values: Any) -> dict[str, Any]:
    """Query parameters without the ones left out (``None``)."""
    return {name: value for name, value in values.items() if value is not None}


def lines_to_json(lines: Sequence[Line | Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Lines as JSON; a mapping goes as given, for the server to validate."""
    return [line.to_dict() if isinstance(line, Line) else dict(line) for line in lines]


def tx_fields(
    *,
    currency: str,
    description: str | None,
    metadata: Mapping[str, str] | None,
    kind: str | None,
    pending: bool,
    timeout_seconds: int | None,
) -> dict[str, Any]:
    """The fields transactions and transfers share; absent ones are left out."""
    body: dict[str, Any] = {"currency": currency, "pending": pending}
    optional = {
        "description": description,
        "metadata": None if metadata is None else dict(metadata),
        "kind": kind,
        "timeout_seconds": timeout_seconds,
    }
    body.update(params(**optional))
    return body


def batch_item(raw: TransferRequest | TransactionRequest | Mapping[str, Any], index: int) -> Any:
    """A batch item as ``POST /v1/transactions/batch`` takes it: always with ``lines``.

    A transfer becomes its two lines: a debit of ``source``, a credit of
    ``destination``. The shape is checked here as ``Ledger.batch`` checks it.
    """
    try:
        request = as_request(raw, index=index)
    except TypeError as exc:  # a mapping that misses a required field
        raise ValidationError(f"batch item {index}: {exc}", loc=(index,)) from None
    if isinstance(request, TransferRequest):
        lines = [
            {"account": request.source, "side": Side.DEBIT.value, "amount": request.amount},
            {"account": request.destination, "side": Side.CREDIT.value, "amount": request.amount},
        ]
    else:
        lines = lines_to_json(request.lines)
    body = {
        "lines": lines,
        **tx_fields(
            currency=request.currency,
            description=request.description,
            metadata=request.metadata,
            kind=request.kind,
            pending=request.pending,
            timeout_seconds=request.timeout_seconds,
        ),
    }
    if request.idempotency_key is not None:
        body["idempotency_key"] = request.idempotency_key
    return body


# -- responses ---------------------------------------------------------------------------


def replayed(response: httpx.Response) -> bool:
    value: str = response.headers.get("Idempotent-Replayed", "")
    return value.lower() == "true"


def _problem(response: httpx.Response) -> dict[str, Any] | None:
    """The body of a failed response when it is a problem document with a ``code``."""
    if response.is_success:
        return None
    try:
        body = response.json()
    except ValueError:
        return None
    if isinstance(body, dict) and isinstance(body.get("code"), str):
        return body
    return None


def problem_code(response: httpx.Response) -> str | None:
    """The ``code`` of a problem response, ``None`` for anything else."""
    body = _problem(response)
    return None if body is None else str(body["code"])


def raise_for_problem(response: httpx.Response) -> None:
    """Raise the ``StrongroomError`` subclass of a problem response (its ``code``).

    A failure without a problem body (a proxy's 502 page) raises the base class
    with the status and the start of the body.
    """
    if response.is_success:
        return
    body = _problem(response)
    if body is not None:
        raise error_from_dict(body)
    raise StrongroomError(
        f"HTTP {response.status_code} from {response.request.method} {response.request.url}: "
        f"{response.text[:200]}",
        status=response.status_code,
    )


def account_from_json(body: Mapping[str, Any], *, replayed: bool = False) -> Account:
    """An ``Account`` from its HTTP form, which has a balance but not the four running sums.

    The sums are synthesized so that ``account.balance`` equals the server's
    balance exactly: the posted balance lands on the normal side when positive
    and on the other side when negative (a credit-normal account with posted
    -300 gets ``posted_debits=300, posted_credits=0``); the pending sums are the
    server's. They are the account's net position, not its lifetime totals.
    ``updated_at`` is not on the wire and is ``None``.
    """
    normal = Side(body["normal_balance"])
    balance = body["balance"]
    posted = balance["posted"]
    on_normal, on_other = max(posted, 0), max(-posted, 0)
    debits, credits = (on_other, on_normal) if normal is Side.CREDIT else (on_normal, on_other)
    return Account(
        id=body["id"],
        currency=body["currency"],
        normal_balance=normal,
        status=AccountStatus(body["status"]),
        overdraft_limit=body["overdraft_limit"],
        metadata=dict(body["metadata"]),
        sums=Sums(debits, credits, balance["pending_debits"], balance["pending_credits"]),
        version=body["version"],
        created_at=_time(body["created_at"]),
        replayed=replayed,
    )


def transaction_from_json(body: Mapping[str, Any], *, replayed: bool = False) -> Transaction:
    return transaction_from_dict(dict(body), replayed=replayed)


def statement_line_from_json(body: Mapping[str, Any]) -> StatementLine:
    return StatementLine(
        transaction_id=body["transaction_id"],
        seq=body["seq"],
        side=body["side"],
        amount=body["amount"],
        balance_after=body["balance_after"],
        posted_at=_time(body["posted_at"]),
        description=body["description"],
    )


def batch_results_from_json(body: Mapping[str, Any], *, replayed: bool) -> list[BatchResult]:
    """Per-item results. ``replayed`` is the response's: the whole batch was a replay."""
    results = []
    for item in body["results"]:
        tx, error = item.get("transaction"), item.get("error")
        results.append(
            BatchResult(
                status=item["status"],
                transaction=None if tx is None else transaction_from_json(tx, replayed=replayed),
                error=None if error is None else error_from_dict(error),
                replayed=replayed,
            )
        )
    return results


def verify_from_json(body: Mapping[str, Any]) -> VerifyResult:
    return VerifyResult(
        ok=body["ok"],
        checked=body["checked"],
        first_bad_seq=body["first_bad_seq"],
        balances_ok=body["balances_ok"],
        drift=[
            Drift(d["account"], Sums(**d["stored"]), Sums(**d["replayed"])) for d in body["drift"]
        ],
    )


def api_key_from_json(body: Mapping[str, Any], *, replayed: bool = False) -> ApiKey:
    return ApiKey(
        id=body["id"],
        name=body["name"],
        prefix=body["prefix"],
        scopes=tuple(body["scopes"]),
        expires_at=parse_time(body.get("expires_at")),
        revoked_at=parse_time(body.get("revoked_at")),
        last_used_at=parse_time(body.get("last_used_at")),
        created_at=_time(body["created_at"]),
        key=body.get("key"),
        replayed=replayed,
    )


def event_from_json(body: Mapping[str, Any]) -> Event:
    return Event(
        id=body["id"],
        type=body["type"],
        created_at=_time(body["created_at"]),
        data=dict(body["data"]),
    )


def webhook_endpoint_from_json(
    body: Mapping[str, Any], *, replayed: bool = False
) -> WebhookEndpoint:
    return WebhookEndpoint(
        id=body["id"],
        url=body["url"],
        events=tuple(body["events"]),
        description=body["description"],
        status=body["status"],
        disabled_reason=body.get("disabled_reason"),
        created_at=_time(body["created_at"]),
        updated_at=_time(body["updated_at"]),
        secret=body.get("secret"),
        replayed=replayed,
    )


def webhook_attempt_from_json(body: Mapping[str, Any]) -> WebhookAttempt:
    return WebhookAttempt(
        number=body["number"],
        at=_time(body["at"]),
        status_code=body.get("status_code"),
        error=body.get("error"),
        response_excerpt=body["response_excerpt"],
        duration_ms=body["duration_ms"],
    )


def webhook_delivery_from_json(body: Mapping[str, Any]) -> WebhookDelivery:
    return WebhookDelivery(
        id=body["id"],
        endpoint_id=body["endpoint_id"],
        event_id=body["event_id"],
        event_type=body["event_type"],
        status=body["status"],
        attempt_count=body["attempt_count"],
        next_attempt_at=parse_time(body.get("next_attempt_at")),
        last_status_code=body.get("last_status_code"),
        last_error=body.get("last_error"),
        delivered_at=parse_time(body.get("delivered_at")),
        created_at=_time(body["created_at"]),
        updated_at=_time(body["updated_at"]),
        attempts=tuple(webhook_attempt_from_json(a) for a in body["attempts"]),
    )


def balance_from_json(body: Mapping[str, Any]) -> Balance:
    return balance_from_dict(dict(body))


def _time(value: str) -> datetime:
    parsed = parse_time(value)
    assert parsed is not None
    return parsed
