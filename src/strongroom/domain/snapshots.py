"""Rebuilding results from their stored JSON form (idempotent replays).

The inverse of ``Account.to_dict`` and ``Transaction.to_dict``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from strongroom.domain.accounts import Account, AccountStatus, Balance, Side, Sums
from strongroom.domain.transactions import Line, Transaction, TxStatus


def parse_time(value: str | None) -> datetime | None:
    if value is None:
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _time(value: str) -> datetime:
    parsed = parse_time(value)
    assert parsed is not None
    return parsed


def account_snapshot(account: Account) -> dict[str, Any]:
    """``Account.to_dict`` plus the running sums, so a replay rebuilds it exactly."""
    s = account.sums
    body = account.to_dict()
    body["sums"] = [s.posted_debits, s.posted_credits, s.pending_debits, s.pending_credits]
    return body


def account_from_dict(body: dict[str, Any], *, replayed: bool = False) -> Account:
    normal = Side(body["normal_balance"])
    return Account(
        id=body["id"],
        currency=body["currency"],
        normal_balance=normal,
        status=AccountStatus(body["status"]),
        overdraft_limit=body["overdraft_limit"],
        metadata=body["metadata"],
        sums=Sums(*body["sums"]),
        version=body["version"],
        created_at=_time(body["created_at"]),
        updated_at=_time(body["created_at"]),
        replayed=replayed,
    )


def balance_from_dict(body: dict[str, int]) -> Balance:
    return Balance(
        body["posted"], body["pending_debits"], body["pending_credits"], body["available"]
    )


def transaction_from_dict(body: dict[str, Any], *, replayed: bool = False) -> Transaction:
    return Transaction(
        id=body["id"],
        seq=body["seq"],
        status=TxStatus(body["status"]),
        currency=body["currency"],
        lines=tuple(Line(x["account"], x["side"], x["amount"]) for x in body["lines"]),
        description=body["description"],
        metadata=body["metadata"],
        kind=body["kind"],
        hash=body["hash"],
        created_at=_time(body["created_at"]),
        pending_amount_posted=body.get("pending_amount_posted"),
        reverses=body.get("reverses"),
        expires_at=parse_time(body.get("expires_at")),
        balances={k: balance_from_dict(v) for k, v in (body.get("balances") or {}).items()},
        replayed=replayed,
    )
