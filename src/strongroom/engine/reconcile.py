"""Reconciliation: the stored running sums against a replay of the journal, and a rebuild.

The replay is :func:`strongroom.engine.verify.verify`'s: drift is exactly the
accounts whose four stored sums differ from what the journal implies. A rebuild
writes the replayed sums back, inside one transaction that holds the tenant's
chain-head lock (every writer of the tenant takes it first), so no write
interleaves between the replay and the repair. The journal is the source of
truth only while its chain verifies: with a broken chain a rebuild is refused.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from strongroom.domain.errors import InvalidState, NotFound
from strongroom.engine.verify import Drift, VerifyReport, verify
from strongroom.store import queries as q

log = logging.getLogger("strongroom.integrity")


@dataclass(frozen=True, slots=True)
class ReconcileReport:
    """The drift found; ``rebuilt`` when it was repaired in the same transaction.

    ``ok`` when the chain verifies and no drift remains (none found, or rebuilt).
    """

    tenant: str
    checked: int
    first_bad_seq: int | None
    drift: list[Drift] = field(default_factory=list)
    rebuilt: bool = False

    @property
    def chain_ok(self) -> bool:
        return self.first_bad_seq is None

    @property
    def ok(self) -> bool:
        return self.chain_ok and (not self.drift or self.rebuilt)

    @classmethod
    def of(cls, tenant: str, report: VerifyReport, *, rebuilt: bool = False) -> ReconcileReport:
        return cls(tenant, report.checked, report.first_bad_seq, list(report.drift), rebuilt)

    def to_dict(self) -> dict[str, Any]:
        return {
            "tenant": self.tenant,
            "ok": self.ok,
            "checked": self.checked,
            "chain_ok": self.chain_ok,
            "first_bad_seq": self.first_bad_seq,
            "drift": [d.to_dict() for d in self.drift],
            "rebuilt": self.rebuilt,
        }


def rebuild(conn: Connection, tenant: str, now: datetime) -> ReconcileReport:
    """Replay the journal under the head lock and write back the sums of drifted accounts.

    Raises INVALID_STATE, changing nothing, when the chain does not verify.
    """
    try:
        q.lock_head(conn, tenant)
    except LookupError:
        raise NotFound(f"tenant {tenant!r} has no ledger") from None
    report = verify(conn, tenant)
    if report.first_bad_seq is not None:
        raise InvalidState(
            f"the journal's chain is broken at seq {report.first_bad_seq}: running sums "
            "are not rebuilt from a journal that does not verify (see strongroom verify)"
        )
    for drift in report.drift:
        q.restore_sums(conn, tenant, drift.account, drift.replayed, now)
        log.warning(
            "rebuilt the running sums of an account from the journal",
            extra={
                "tenant": tenant,
                "account": drift.account,
                "stored": drift.to_dict()["stored"],
                "replayed": drift.to_dict()["replayed"],
            },
        )
    return ReconcileReport.of(tenant, report, rebuilt=bool(report.drift))
