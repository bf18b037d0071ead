"""Verifying a tenant's ledger: the hash chain, and the running sums against a replay."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection

from strongroom.domain.accounts import Side, Sums
from strongroom.domain.chain import GENESIS, Entry, link
from strongroom.domain.transactions import Effect, EntryType, Posting, TxStatus, move_sums
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


def posting_of_row(p: Any) -> Posting:
    """A stored ``journal_postings`` row as the posting it records."""
    return Posting(p.account_id, Side(p.side), p.amount, Effect(p.effect))


def entry_of_row(tenant: str, row: Any, postings: list[Any]) -> Entry:
    """A stored ``journal`` row and its postings as the entry that was hashed."""
    return Entry(
        tenant=tenant,
        seq=row.seq,
        transaction_id=row.transaction_id,
        type=EntryType(row.type),
        currency=row.currency,
        postings=[posting_of_row(p) for p in postings],
        description=row.description,
        kind=row.kind,
        metadata=json.loads(row.metadata),
        reverses=row.reverses,
        expires_at=row.expires_at,
        created_at=row.created_at,
    )


_CREATING = {EntryType.POSTED, EntryType.PENDING}
_ENDS = {
    EntryType.POST_PENDING: TxStatus.POSTED.value,
    EntryType.VOID: TxStatus.VOIDED.value,
    EntryType.EXPIRE: TxStatus.EXPIRED.value,
}


def _created_matches(entry: Any, tx: Any | None) -> bool:
    """The ``transactions`` row says what the entry that created it says."""
    if tx is None or tx.id != entry.transaction_id:
        return False
    status_ok = (
        tx.status == TxStatus.POSTED.value
        if entry.type == EntryType.POSTED.value
        else tx.status in {"pending", "posted", "voided", "expired"}
    )
    return (
        status_ok
        and tx.hash == entry.hash
        and tx.currency == entry.currency
        and tx.description == entry.description
        and tx.kind == entry.kind
        and json.loads(tx.metadata) == json.loads(entry.metadata)
        and tx.reverses == entry.reverses
        and tx.expires_at == entry.expires_at
        and tx.created_at == entry.created_at
        and (entry.type == EntryType.PENDING.value or tx.finished_seq is None)
    )


def _ended_matches(entry: Any, postings: list[Any], tx: Any) -> bool:
    """A hold's row records the entry that ended it, its status and amount posted."""
    posted = sum(
        p.amount for p in postings if p.effect == Effect.POST.value and p.side == Side.DEBIT.value
    )
    return bool(
        tx.finished_seq == entry.seq
        and tx.status == _ENDS[EntryType(entry.type)]
        and tx.pending_amount_posted == (posted if entry.type == EntryType.POST_PENDING else None)
    )


def verify(conn: Connection, tenant: str) -> VerifyReport:
    """Walk the chain from the first entry; replay every posting; compare.

    ``first_bad_seq`` is the first sequence whose entry is missing, out of
    place or altered, whose recorded running sums disagree with the replay, or
    whose transaction (status, amounts, text) disagrees with the journal.
    """
    prev, expected, checked = GENESIS, 1, 0
    first_bad: int | None = None
    replayed: dict[str, Sums] = {}
    holds: dict[str, int] = {}  # hold id -> seq of the entry that created it (still open)
    ends: dict[str, Any] = {}  # hold id -> (entry, postings) that ended it

    def bad(seq: int) -> None:
        nonlocal first_bad
        first_bad = seq if first_bad is None else min(first_bad, seq)

    for row, postings, created in q.iter_journal(conn, tenant):
        checked += 1
        if row.seq != expected:
            bad(expected)
        elif link(prev, entry_of_row(tenant, row, postings)) != row.hash:
            bad(row.seq)
        if EntryType(row.type) in _CREATING:
            if not _created_matches(row, created):
                bad(row.seq)
            elif row.type == EntryType.PENDING.value:
                holds[row.transaction_id] = row.seq
        elif created is not None or row.transaction_id in ends:
            bad(row.seq)
        else:
            ends[row.transaction_id] = (row, postings)
        for p in postings:
            posting = posting_of_row(p)
            moved = move_sums(replayed.get(p.account_id, Sums()), posting)
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
    _check_holds(conn, tenant, holds, ends, bad)
    orphan = q.orphan_transaction_seq(conn, tenant)
    if orphan is not None:
        bad(orphan)
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


def _check_holds(
    conn: Connection,
    tenant: str,
    holds: dict[str, int],
    ends: dict[str, Any],
    bad: Callable[[int], None],
) -> None:
    """Each hold ended at most once, by the entry its row names; open ones are pending."""
    for hold_id in ends.keys() - holds.keys():
        bad(ends[hold_id][0].seq)  # an end of something that was never a hold
    ids = sorted(holds)
    for start in range(0, len(ids), 1000):
        for tx in q.load_transaction_rows(conn, tenant, ids[start : start + 1000]):
            end = ends.get(tx.id)
            if end is None:
                if tx.finished_seq is not None:
                    bad(tx.finished_seq)  # the entry that ended it is gone
                elif tx.status != TxStatus.PENDING.value:
                    bad(holds[tx.id])
            elif not _ended_matches(end[0], end[1], tx):
                bad(end[0].seq)
