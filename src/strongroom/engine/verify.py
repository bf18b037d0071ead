"""Verifying a tenant's ledger: the hash chain, and the running sums against a replay."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection

from strongroom.domain.accounts import Side, Sums
from strongroom.domain.chain import GENESIS, Entry, link
from strongroom.domain.transactions import Effect, EntryType, Posting, move_sums
from strongroom.store import queries as q


@dataclass(frozen=True, slots=True)
class Drift:
    """An account whose stored running sums differ from a replay of the journal."""

    account: str
    stored: Sums
    replayed: Sums

    def to_dict(self) -> dict[str, Any]:
        return {
            "account": self.account,
            "stored": _sums(self.stored),
            "replayed": _sums(self.replayed),
        }


def _sums(s: Sums) -> dict[str, int]:
    return {
        "posted_debits": s.posted_debits,
        "posted_credits": s.posted_credits,
        "pending_debits": s.pending_debits,
        "pending_credits": s.pending_credits,
    }


@dataclass(frozen=True, slots=True)
class VerifyReport:
    """``ok`` only when the chain is intact and every account matches the replay."""

    checked: int
    first_bad_seq: int | None
    drift: list[Drift] = field(default_factory=list)
    head_seq: int = 0
    head_hash: str = GENESIS

    @property
    def balances_ok(self) -> bool:
        return not self.drift

    @property
    def ok(self) -> bool:
        return self.first_bad_seq is None and self.balances_ok

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "checked": self.checked,
            "first_bad_seq": self.first_bad_seq,
            "balances_ok": self.balances_ok,
            "drift": [d.to_dict() for d in self.drift],
        }


def _entry(tenant: str, row: Any, postings: list[Any]) -> Entry:
    return Entry(
        tenant=tenant,
        seq=row.seq,
        transaction_id=row.transaction_id,
        type=EntryType(row.type),
        currency=row.currency,
        postings=[
            Posting(p.account_id, Side(p.side), p.amount, Effect(p.effect)) for p in postings
        ],
        description=row.description,
        kind=row.kind,
        metadata=json.loads(row.metadata),
        reverses=row.reverses,
        expires_at=row.expires_at,
        created_at=row.created_at,
    )


def verify(conn: Connection, tenant: str) -> VerifyReport:
    """Walk the chain from the first entry; replay every posting; compare.

    ``first_bad_seq`` is the first sequence whose entry is missing, out of
    place, altered, or whose recorded running sums disagree with the replay.
    """
    prev, expected, checked = GENESIS, 1, 0
    first_bad: int | None = None
    replayed: dict[str, Sums] = {}

    def bad(seq: int) -> None:
        nonlocal first_bad
        first_bad = seq if first_bad is None else min(first_bad, seq)

    for row, postings in q.iter_journal(conn, tenant):
        checked += 1
        if row.seq != expected:
            bad(expected)
        elif link(prev, _entry(tenant, row, postings)) != row.hash:
            bad(row.seq)
        for p in postings:
            moved = move_sums(
                replayed.get(p.account_id, Sums()),
                Posting(p.account_id, Side(p.side), p.amount, Effect(p.effect)),
            )
            replayed[p.account_id] = moved
            recorded = Sums(
                p.posted_debits_after,
                p.posted_credits_after,
                p.pending_debits_after,
                p.pending_credits_after,
            )
            if recorded != moved:
                bad(row.seq)
        prev, expected = row.hash, row.seq + 1
    head = q.read_head(conn, tenant)
    if head is not None and (head.seq != expected - 1 or head.hash != prev):
        bad(min(head.seq, expected))
    drift = [
        Drift(account.id, account.sums, replayed.get(account.id, Sums()))
        for account in q.iter_accounts(conn, tenant)
        if account.sums != replayed.get(account.id, Sums())
    ]
    return VerifyReport(
        checked=checked,
        first_bad_seq=first_bad,
        drift=drift,
        head_seq=head.seq if head else 0,
        head_hash=head.hash if head else GENESIS,
    )
