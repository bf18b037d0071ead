"""The unit of work: one database transaction in which ledger writes are applied.

A unit of work locks its tenant's chain head before its first write (so writers
of a tenant are serialised and deadlocks between them cannot happen), then
locks and caches each account and hold the first time a request touches it.
Every request is applied in two steps: all its checks run first against the
in-memory state, with no side effect; only then is the state changed. A request
that fails therefore leaves the unit of work exactly as it found it, so many
requests can share one unit of work and one commit, each with its own result.

Writes are buffered and flushed once (``flush``, called by the ledger before
commit): journal entries, postings, transactions, idempotency keys and outbox
events in bulk, each changed account once. A long unit of work (a batch) may
send its journal rows ahead as it goes (``write_ahead``): on PostgreSQL they are
written while the next requests are checked, rather than all after them.
Feature modules open a unit of work through ``Ledger.unit_of_work`` or
``Ledger.transact``, call these methods, and write their own rows on
``uow.connection`` in the same transaction.
"""

from __future__ import annotations

import enum
import hashlib
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import ExitStack, suppress
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, Literal, TypeVar

from sqlalchemy import Connection

from strongroom.domain.accounts import (
    Account,
    AccountStatus,
    Side,
    Sums,
    change_status,
    check_account_id,
    check_metadata,
    check_overdraft_limit,
    check_side,
    is_text,
)
from strongroom.domain.chain import Entry, link
from strongroom.domain.clock import Clock
from strongroom.domain.errors import (
    AlreadyExists,
    Conflict,
    IdempotencyInProgress,
    IdempotencyKeyReused,
    InvalidState,
    NotFound,
    Rejected,
    ValidationError,
    error_from_dict,
)
from strongroom.domain.ids import new_id
from strongroom.domain.money import (
    Currency,
    check_amount,
    define_unit,
    iso_currency,
    resolve_currency,
)
from strongroom.domain.snapshots import account_from_dict, account_snapshot, transaction_from_dict
from strongroom.domain.transactions import (
    MAX_DESCRIPTION,
    MAX_KIND,
    Effect,
    EntryType,
    Line,
    Transaction,
    TxStatus,
    apply_postings,
    as_seen_at,
    check_accounts,
    check_lines,
    check_pending,
    check_text,
    check_timeout,
    postings_for,
    reversal_lines,
    settle_lines,
)
from strongroom.store import queries as q
from strongroom.store.prepared import pipelined, raw

R = TypeVar("R")
_ERROR = "__error__"  # marks a stored refusal among stored responses
MAX_IDEMPOTENCY_KEY = 255


@dataclass(frozen=True, slots=True)
class TxRequest:
    """A validated request for a new transaction."""

    lines: tuple[Line, ...]
    currency: str
    description: str
    metadata: Mapping[str, str]
    kind: str | None
    pending: bool
    timeout_seconds: int | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "lines": [line.to_dict() for line in self.lines],
            "currency": self.currency,
            "description": self.description,
            "metadata": dict(self.metadata),
            "kind": self.kind,
            "pending": self.pending,
            "timeout_seconds": self.timeout_seconds,
        }


def tx_request(
    lines: Any,
    currency: Any,
    *,
    description: Any = None,
    metadata: Any = None,
    kind: Any = None,
    pending: Any = False,
    timeout_seconds: Any = None,
) -> TxRequest:
    """Validate the shape of a transaction request (no database needed)."""
    if not isinstance(currency, str) or not currency:
        raise ValidationError("currency must be a non-empty string", loc=("currency",))
    checked_lines = check_lines(lines)
    timeout = check_timeout(pending, timeout_seconds)  # also checks that pending is a bool
    return TxRequest(
        lines=checked_lines,
        currency=currency,
        description=check_text(description, "description", MAX_DESCRIPTION, optional=False) or "",
        metadata=check_metadata(metadata),
        kind=check_text(kind, "kind", MAX_KIND, optional=True),
        pending=pending,
        timeout_seconds=timeout,
    )


def transfer_lines(source: Any, destination: Any, amount: Any) -> list[Line]:
    """A transfer is a debit of ``source`` and a credit of ``destination``."""
    check_account_id(source, loc=("from",))
    check_account_id(destination, loc=("to",))
    if source == destination:
        raise ValidationError("from and to must be different accounts", loc=("to",))
    value = check_amount(amount)
    return [Line(source, Side.DEBIT.value, value), Line(destination, Side.CREDIT.value, value)]


def check_idempotency_key(key: Any) -> str:
    if (
        not isinstance(key, str)
        or not 1 <= len(key) <= MAX_IDEMPOTENCY_KEY
        or not (key.isascii() and key.isprintable())  # " " to "~"
    ):
        raise ValidationError(
            f"an idempotency key is 1 to {MAX_IDEMPOTENCY_KEY} printable ASCII characters",
            loc=("idempotency_key",),
        )
    return key


def request_hash(operation: str, request: Mapping[str, Any]) -> str:
    """SHA-256 of ``json.dumps([operation, request], sort_keys=True, separators=(",", ":"))``.

    That form escapes every character outside printable ASCII, DEL (``\x7f``)
    included; stored keys hold its digests. orjson writes the same bytes for
    requests in printable ASCII (tests/store/test_json.py), several times faster,
    so it is used unless the request holds other characters.
    """
    body = q.dumps_bytes([operation, request])
    if not body.isascii() or b"\x7f" in body:
        body = json.dumps([operation, request], sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(body).hexdigest()


@dataclass(frozen=True, slots=True)
class TxCall:
    """A call for a new transaction, checked before any unit of work: the request,
    its idempotency key and the key's request digest.

    ``Ledger`` checks calls in the caller's thread, so a group commit's leader
    spends its time on the ledger's rules, not on checking its followers' input.
    """

    operation: str
    request: TxRequest
    key: str | None
    digest: str | None

    @classmethod
    def of(cls, operation: str, request: TxRequest, key: Any) -> TxCall:
        if key is None:
            return cls(operation, request, None, None)
        key = check_idempotency_key(key)
        return cls(operation, request, key, request_hash(operation, request.to_dict()))


def transfer_call(
    source: Any,
    destination: Any,
    amount: Any,
    currency: Any,
    *,
    description: Any = None,
    metadata: Any = None,
    kind: Any = None,
    pending: Any = False,
    timeout_seconds: Any = None,
    idempotency_key: Any = None,
) -> TxCall:
    """A checked call of :meth:`UnitOfWork.transfer` (the same arguments); raises
    what the unit of work's operation would."""
    request = tx_request(
        transfer_lines(source, destination, amount),
        currency,
        description=description,
        metadata=metadata,
        kind=kind,
        pending=pending,
        timeout_seconds=timeout_seconds,
    )
    return TxCall.of("transfer", request, idempotency_key)


def post_call(
    lines: Any,
    *,
    currency: Any,
    description: Any = None,
    metadata: Any = None,
    kind: Any = None,
    pending: Any = False,
    timeout_seconds: Any = None,
    idempotency_key: Any = None,
) -> TxCall:
    """A checked call of :meth:`UnitOfWork.post` (the same arguments); raises what
    the unit of work's operation would."""
    request = tx_request(
        lines,
        currency,
        description=description,
        metadata=metadata,
        kind=kind,
        pending=pending,
        timeout_seconds=timeout_seconds,
    )
    return TxCall.of("post", request, idempotency_key)


class Keep(enum.Enum):
    """The default of ``update_account(overdraft_limit=...)``: leave the limit as it
    is (``None`` there means unlimited)."""

    KEEP = "keep"


KEEP = Keep.KEEP


WRITE_AHEAD_ENTRIES = 100
"""How many journal entries a batch buffers before it sends them ahead: each send
is one more statement for PostgreSQL to parse and plan; fewer, larger ones leave
more rows to write at the end."""


@dataclass(slots=True)
class _Sent:
    """How many of each buffered list's rows were sent ahead."""

    entries: int = 0
    postings: int = 0
    txs: int = 0
    keys: int = 0
    events: int = 0


class UnitOfWork:
    """Ledger writes inside one database transaction (see the module docstring)."""

    def __init__(self, connection: Connection, tenant: str, clock: Clock) -> None:
        self._connection = connection
        self.tenant = tenant
        self._clock = clock
        self._head: q.Head | None = None
        self._units: dict[str, Currency] | None = None
        self._accounts: dict[str, Account] = {}
        self._absent: set[str] = set()
        self._new_accounts: dict[str, Account] = {}
        self._changed_accounts: set[str] = set()
        self._txs: dict[str, Transaction] = {}
        self._new_units: list[Currency] = []
        self._entries: list[dict[str, Any]] = []
        self._postings: list[dict[str, Any]] = []
        self._new_txs: list[dict[str, Any]] = []
        self._finished: dict[str, dict[str, Any]] = {}
        self._keys: dict[str, dict[str, Any]] = {}
        self._events: list[dict[str, Any]] = []
        self._reversed: set[str] = set()
        self._known_keys: dict[str, q.StoredKey | None] = {}  # prefetched lookups
        self._bodies: dict[str, tuple[Transaction, dict[str, Any]]] = {}
        # While rows sent ahead await their answers: the open pipeline (see write_ahead).
        self._ahead: ExitStack | None = None
        self._sent = _Sent()

    @property
    def connection(self) -> Connection:
        """The unit of work's connection, once every row sent ahead is written."""
        if self._ahead is not None:
            self._catch_up()
        return self._connection

    # -- state ---------------------------------------------------------------------

    def _lock(self) -> q.Head:
        if self._head is None:
            self._head = q.lock_head(self.connection, self.tenant)
        return self._head

    def _now(self) -> datetime:
        """Now, never before the last entry: sequence order is also time order."""
        head = self._lock()
        now = self._clock.now()
        return now if now > head.at else head.at + timedelta(microseconds=1)

    def _currency(self, code: Any) -> Currency:
        """ISO 4217 needs no query; a tenant's own unit is read once per unit of work."""
        if isinstance(code, str) and (found := iso_currency(code)) is not None:
            return found
        return resolve_currency(code, self._tenant_units())

    def _tenant_units(self) -> dict[str, Currency]:
        if self._units is None:
            self._units = q.load_units(self.connection, self.tenant)
        return self._units

    def _load_accounts(self, ids: Sequence[str]) -> dict[str, Account | None]:
        wanted = [i for i in ids if i not in self._accounts and i not in self._absent]
        if wanted:
            found = q.load_accounts(self.connection, self.tenant, wanted, lock=True)
            self._accounts.update(found)
            self._absent.update(i for i in wanted if i not in found)
        return {i: self._accounts.get(i) for i in ids}

    def prefetch(self, account_ids: Iterable[Any], keys: Iterable[Any] = ()) -> None:
        """Lock the head, lock and load these accounts in id order, and look up these
        idempotency keys: one round trip on PostgreSQL for up to 1,000 of each. Only
        a speed-up: operations load whatever they touch anyway."""
        wanted = sorted({i for i in account_ids if is_text(i)})
        names = sorted({k for k in keys if is_text(k)} - self._known_keys.keys())
        if self._head is None:
            # The head lock, the first accounts and keys: one round trip on PostgreSQL.
            first, first_keys = wanted[:1000], names[:1000]
            self._head, found, stored = q.lock_head_and_load(
                self.connection, self.tenant, first, first_keys
            )
            self._accounts.update(found)
            self._absent.update(i for i in first if i not in found)
            self._known_keys.update({k: stored.get(k) for k in first_keys})
            wanted, names = wanted[1000:], names[1000:]
        for start in range(0, len(wanted), 1000):
            self._load_accounts(wanted[start : start + 1000])
        for start in range(0, len(names), 1000):
            chunk = names[start : start + 1000]
            more = q.load_keys(self.connection, self.tenant, chunk)
            self._known_keys.update({k: more.get(k) for k in chunk})

    def account(self, account_id: str) -> Account:
        """The account as this unit of work sees it (locked), or NotFound."""
        self._lock()
        if not is_text(account_id):
            raise NotFound("account not found")
        found = self._load_accounts([account_id])[account_id]
        if found is None:
            raise NotFound(f"account {account_id!r} not found")
        return found

    def transaction(self, tx_id: str) -> Transaction:
        """The transaction as this unit of work sees it (locked), or NotFound."""
        self._lock()
        found = self._txs.get(tx_id)
        if found is None:
            if not is_text(tx_id):
                raise NotFound("transaction not found")
            found = q.load_transaction(self.connection, self.tenant, tx_id, lock=True)
            if found is None:
                raise NotFound(f"transaction {tx_id!r} not found")
            self._txs[tx_id] = found
        return found

    # -- idempotency ---------------------------------------------------------------

    def idempotent(
        self,
        key: str | None,
        operation: str,
        request: Mapping[str, Any] | None,
        apply: Callable[[], R],
        dump: Callable[[R], dict[str, Any]],
        load: Callable[[dict[str, Any]], R],
        *,
        digest: str | None = None,
    ) -> R:
        """Run ``apply`` once per key: a stored result is loaded instead of re-applied.

        The same key with another ``operation`` or ``request`` raises
        IDEMPOTENCY_KEY_REUSED. The first response is what a replay returns: a
        success, or a refusal by a rule of the ledger (404, 409, 422), which is
        raised again (``.replayed`` set). A malformed request (400) never got
        that far and leaves its key unused. The stored refusal is committed only
        by callers that commit after a failed operation (``Ledger``'s writes do);
        inside ``transact`` an exception rolls it back with everything else.
        Feature modules use this for their own writes. ``digest``, when given, is
        ``request_hash(operation, request)`` made beforehand, with ``key`` checked;
        ``request`` is then not needed.
        """
        self._lock()
        if key is None:
            return apply()
        if digest is None:
            if request is None:
                raise TypeError("idempotent() needs the request or its digest")
            key = check_idempotency_key(key)
            digest = request_hash(operation, request)
        pending = self._keys.get(key)
        stored: q.StoredKey | None
        if pending is not None:
            stored = q.StoredKey(pending["operation"], pending["request_hash"], pending["response"])
        elif key in self._known_keys:
            stored = self._known_keys[key]
        else:
            stored = q.load_key(self.connection, self.tenant, key)
        if stored is not None:
            if stored.operation != operation or stored.request_hash != digest:
                raise IdempotencyKeyReused(
                    f"idempotency key {key!r} was used for a different request"
                )
            body = json.loads(stored.response)
            if _ERROR in body:
                error = error_from_dict(body[_ERROR])
                error.replayed = True
                raise error
            return load(body)
        try:
            result = apply()
        except (Rejected, Conflict, NotFound) as exc:
            if not isinstance(exc, IdempotencyKeyReused | IdempotencyInProgress):
                self._remember(key, operation, digest, {_ERROR: exc.to_dict()})
            raise
        self._remember(key, operation, digest, dump(result))
        return result

    def _remember(self, key: str, operation: str, digest: str, response: Any) -> None:
        self._keys[key] = {
            "tenant_id": self.tenant,
            "key": key,
            "operation": operation,
            "request_hash": digest,
            "response": q.dumps(response),
            "created_at": self._clock.now(),
        }

    def _tx_idempotent(
        self, key: str | None, operation: str, request: Mapping[str, Any] | None,
        apply: Callable[[], Transaction], *, digest: str | None = None,
    ) -> Transaction:  # fmt: skip
        return self.idempotent(
            key,
            operation,
            request,
            apply,
            self.tx_body,
            lambda body: transaction_from_dict(body, replayed=True),
            digest=digest,
        )

    # -- accounts and units ----------------------------------------------------------

    def define_unit(self, code: str, exponent: int) -> Currency:
        """Define a unit of this tenant (chips, credits). Same definition again: no-op."""
        unit = define_unit(code, exponent)
        self._lock()
        existing = self._tenant_units().get(unit.code)
        if existing is not None:
            if existing.exponent != unit.exponent:
                raise AlreadyExists(f"unit {code} exists with exponent {existing.exponent}")
            return existing
        self._tenant_units()[unit.code] = unit
        self._new_units.append(unit)
        return unit

    def create_account(
        self,
        account_id: str | None = None,
        *,
        currency: str,
        normal_balance: str = "credit",
        overdraft_limit: int | None = 0,
        metadata: Mapping[str, str] | None = None,
        idempotency_key: str | None = None,
    ) -> Account:
        request = {
            "id": None if account_id is None else check_account_id(account_id),
            "currency": currency,
            "normal_balance": check_side(normal_balance, loc=("normal_balance",)).value,
            "overdraft_limit": check_overdraft_limit(overdraft_limit),
            "metadata": check_metadata(metadata),
        }
        return self.idempotent(
            idempotency_key,
            "create_account",
            request,
            lambda: self._create_account(request),
            account_snapshot,
            lambda body: account_from_dict(body, replayed=True),
        )

    def _create_account(self, request: Mapping[str, Any]) -> Account:
        currency = self._currency(request["currency"])
        account_id = request["id"] or new_id("acc")
        if self._load_accounts([account_id])[account_id] is not None:
            raise AlreadyExists(f"account {account_id!r} already exists", account=account_id)
        now = self._now()
        account = Account(
            id=account_id,
            currency=currency.code,
            normal_balance=Side(request["normal_balance"]),
            status=AccountStatus.ACTIVE,
            overdraft_limit=request["overdraft_limit"],
            metadata=request["metadata"],
            sums=Sums(),
            version=1,
            created_at=now,
            updated_at=now,
        )
        self._accounts[account_id] = account
        self._absent.discard(account_id)
        self._new_accounts[account_id] = account
        self._event("account.created", account.to_dict(), now)
        return account

    def update_account(
        self,
        account_id: str,
        *,
        status: str | None = None,
        overdraft_limit: int | Literal[Keep.KEEP] | None = KEEP,
        metadata: Mapping[str, str] | None = None,
        idempotency_key: str | None = None,
    ) -> Account:
        """Change status, overdraft limit (``None``: unlimited) or metadata (replaced).

        ``status=None`` and ``metadata=None`` leave them as they are; so does
        ``overdraft_limit`` left out (:data:`KEEP`).
        """
        request: dict[str, Any] = {"id": account_id}
        if status is not None:
            request["status"] = status
        if overdraft_limit is not Keep.KEEP:
            request["overdraft_limit"] = check_overdraft_limit(overdraft_limit)
        if metadata is not None:
            request["metadata"] = check_metadata(metadata)
        return self.idempotent(
            idempotency_key,
            "update_account",
            request,
            lambda: self._update_account(request),
            account_snapshot,
            lambda body: account_from_dict(body, replayed=True),
        )

    def _update_account(self, request: Mapping[str, Any]) -> Account:
        account = self.account(request["id"])
        changes: dict[str, Any] = {}
        if "status" in request:
            changes["status"] = change_status(account, request["status"])
        if "overdraft_limit" in request:
            changes["overdraft_limit"] = request["overdraft_limit"]
        if "metadata" in request:
            changes["metadata"] = request["metadata"]
        now = self._now()
        updated = replace(account, **changes, version=account.version + 1, updated_at=now)
        self._store_account(updated)
        self._event("account.updated", updated.to_dict(), now)
        return updated

    def _store_account(self, account: Account) -> None:
        self._accounts[account.id] = account
        if account.id in self._new_accounts:
            self._new_accounts[account.id] = account
        else:
            self._changed_accounts.add(account.id)

    # -- transactions ----------------------------------------------------------------

    def post(
        self,
        lines: Sequence[Line | Mapping[str, Any]],
        *,
        currency: str,
        description: str | None = None,
        metadata: Mapping[str, str] | None = None,
        kind: str | None = None,
        pending: bool = False,
        timeout_seconds: int | None = None,
        idempotency_key: str | None = None,
    ) -> Transaction:
        """Post a multi-line transaction (or hold it, with ``pending=True``)."""
        return self.apply(
            post_call(
                lines,
                currency=currency,
                description=description,
                metadata=metadata,
                kind=kind,
                pending=pending,
                timeout_seconds=timeout_seconds,
                idempotency_key=idempotency_key,
            )
        )

    def transfer(
        self,
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
    ) -> Transaction:
        """Move ``amount`` from ``source`` (debited) to ``destination`` (credited)."""
        return self.apply(
            transfer_call(
                source,
                destination,
                amount,
                currency,
                description=description,
                metadata=metadata,
                kind=kind,
                pending=pending,
                timeout_seconds=timeout_seconds,
                idempotency_key=idempotency_key,
            )
        )

    def apply(self, call: TxCall) -> Transaction:
        """A new transaction from a checked call (see :class:`TxCall`)."""
        request = call.request
        return self._tx_idempotent(
            call.key,
            call.operation,
            None,
            lambda: self._new_transaction(request),
            digest=call.digest,
        )

    def _new_transaction(self, request: TxRequest, reverses: str | None = None) -> Transaction:
        currency = self._currency(request.currency)
        accounts = self._load_accounts([line.account for line in request.lines])
        check_accounts(request.lines, currency.code, accounts)
        effect = Effect.PEND if request.pending else Effect.POST
        postings = postings_for(request.lines, effect)
        now = self._now()
        sums, after = apply_postings(postings, _present(accounts))
        # Every check has passed: from here on nothing raises.
        tx_id = new_id("tx")
        expires_at = (
            now + timedelta(seconds=request.timeout_seconds)
            if request.timeout_seconds is not None
            else None
        )
        entry_type = EntryType.PENDING if request.pending else EntryType.POSTED
        seq, digest = self._append(
            Entry(
                tenant=self.tenant,
                seq=self._lock().seq + 1,
                transaction_id=tx_id,
                type=entry_type,
                currency=currency.code,
                postings=postings,
                description=request.description,
                kind=request.kind,
                metadata=request.metadata,
                reverses=reverses,
                expires_at=expires_at,
                created_at=now,
            ),
            after,
        )
        tx = Transaction(
            id=tx_id,
            seq=seq,
            status=TxStatus.PENDING if request.pending else TxStatus.POSTED,
            currency=currency.code,
            lines=request.lines,
            description=request.description,
            metadata=request.metadata,
            kind=request.kind,
            hash=digest,
            created_at=now,
            reverses=reverses,
            expires_at=expires_at,
            balances=self._apply_sums(sums, now),
        )
        self._txs[tx_id] = tx
        self._new_txs.append(_tx_row(self.tenant, tx))
        self._event(f"transaction.{tx.status.value}", self.tx_body(tx), now)
        return tx

    def tx_body(self, tx: Transaction) -> dict[str, Any]:
        """``tx.to_dict()``, made once for a transaction this unit of work wrote: its
        event, its stored response and a batch's response share it (read only)."""
        made = self._bodies.get(tx.id)
        if made is not None and made[0] is tx:
            return made[1]
        body = tx.to_dict()
        self._bodies[tx.id] = (tx, body)
        return body

    def post_pending(
        self, tx_id: str, amount: int | None = None, *, idempotency_key: str | None = None
    ) -> Transaction:
        """Post a hold in full (``amount=None``) or in part; the rest is released."""
        if amount is not None:
            check_amount(amount)
        request = {"id": tx_id, "amount": amount}
        return self._tx_idempotent(
            idempotency_key,
            "post_pending",
            request,
            lambda: self._finish_hold(tx_id, EntryType.POST_PENDING, amount),
        )

    def void_pending(self, tx_id: str, *, idempotency_key: str | None = None) -> Transaction:
        """Release a hold: nothing of it is posted."""
        return self._tx_idempotent(
            idempotency_key,
            "void_pending",
            {"id": tx_id},
            lambda: self._finish_hold(tx_id, EntryType.VOID, None),
        )

    def _finish_hold(self, tx_id: str, how: EntryType, amount: int | None) -> Transaction:
        hold = self.transaction(tx_id)
        now = self._now()
        if how is EntryType.EXPIRE:
            if hold.status is not TxStatus.PENDING:
                return hold
        else:
            check_pending(hold, now)
        postings = postings_for(hold.lines, Effect.RELEASE)
        posted: int | None = None
        if how is EntryType.POST_PENDING:
            lines = settle_lines(hold, amount)
            posted = sum(x.amount for x in lines if x.side == Side.DEBIT.value)
            postings += postings_for(lines, Effect.POST)
        accounts = _present(self._load_accounts([p.account for p in postings]))
        sums, after = apply_postings(postings, accounts)
        # Every check has passed: from here on nothing raises.
        seq, _ = self._append(
            Entry(
                tenant=self.tenant,
                seq=self._lock().seq + 1,
                transaction_id=hold.id,
                type=how,
                currency=hold.currency,
                postings=postings,
                description=hold.description,
                kind=hold.kind,
                metadata={},
                reverses=None,
                expires_at=None,
                created_at=now,
            ),
            after,
        )
        status = {
            EntryType.POST_PENDING: TxStatus.POSTED,
            EntryType.VOID: TxStatus.VOIDED,
            EntryType.EXPIRE: TxStatus.EXPIRED,
        }[how]
        done = replace(
            hold, status=status, pending_amount_posted=posted, balances=self._apply_sums(sums, now)
        )
        self._txs[hold.id] = done
        self._finished[hold.id] = {
            "t_id": self.tenant,
            "x_id": hold.id,
            "status": status.value,
            "pending_amount_posted": posted,
            "finished_seq": seq,
        }
        self._event(f"transaction.{status.value}", self.tx_body(done), now)
        return done

    def expire_hold(self, tx_id: str) -> Transaction:
        """Release a hold past its deadline, with status ``expired``."""
        return self._finish_hold(tx_id, EntryType.EXPIRE, None)

    def expire_due(self, limit: int = 500) -> int:
        """Expire up to ``limit`` holds whose deadline has passed; return how many."""
        now = self._now()
        due = q.due_holds(self.connection, self.tenant, now, limit)
        for tx_id in due:
            self.expire_hold(tx_id)
        return len(due)

    def reverse(
        self,
        tx_id: str,
        *,
        description: str | None = None,
        idempotency_key: str | None = None,
    ) -> Transaction:
        """Post a new transaction with every posted line of ``tx_id`` swapped."""
        request = {"id": tx_id, "description": description}
        return self._tx_idempotent(
            idempotency_key, "reverse", request, lambda: self._reverse(tx_id, description)
        )

    def _reverse(self, tx_id: str, description: str | None) -> Transaction:
        original = self.transaction(tx_id)
        lines = reversal_lines(as_seen_at(original, self._now()))  # an expired hold says so
        if tx_id in self._reversed or q.find_reversal(self.connection, self.tenant, tx_id):
            raise InvalidState(f"transaction {tx_id} is already reversed")
        request = tx_request(
            lines,
            original.currency,
            description=description if description is not None else f"reversal of {tx_id}",
            metadata=original.metadata,
            kind=original.kind,
        )
        reversal = self._new_transaction(request, reverses=tx_id)
        self._reversed.add(tx_id)
        body = {"id": tx_id, "reversed_by": reversal.id, "reversal": reversal.to_dict()}
        self._event("transaction.reversed", body, reversal.created_at)
        return reversal

    # -- appending ---------------------------------------------------------------------

    def _append(self, entry: Entry, after: Sequence[Sums]) -> tuple[int, str]:
        """Link ``entry`` (numbered the head's seq + 1) to the chain and buffer its rows."""
        head = self._lock()
        seq = head.seq + 1
        assert entry.seq == seq, "an entry is numbered right after the head"
        digest = link(head.hash, entry, q.dumps_bytes)
        head.seq, head.hash, head.at = seq, digest, entry.created_at
        self._entries.append(
            {
                "tenant_id": self.tenant,
                "seq": seq,
                "transaction_id": entry.transaction_id,
                "type": entry.type.value,
                "currency": entry.currency,
                "description": entry.description,
                "kind": entry.kind,
                "metadata": q.dumps(dict(entry.metadata)),
                "reverses": entry.reverses,
                "expires_at": entry.expires_at,
                "created_at": entry.created_at,
                "hash": digest,
            }
        )
        self._postings.extend(
            q.posting_row(self.tenant, seq, i, p, s)
            for i, (p, s) in enumerate(zip(entry.postings, after, strict=True))
        )
        return seq, digest

    def _apply_sums(self, sums: Mapping[str, Sums], now: datetime) -> dict[str, Any]:
        balances = {}
        for account_id, new in sums.items():
            account = self._accounts[account_id]
            updated = account.moved(new, now)
            self._store_account(updated)
            balances[account_id] = updated.balance
        return balances

    def _event(self, kind: str, data: Mapping[str, Any], now: datetime) -> None:
        head = self._lock()
        head.event_seq += 1
        self._events.append(
            {
                "tenant_id": self.tenant,
                "seq": head.event_seq,
                "id": new_id("evt"),
                "type": kind,
                "data": q.dumps(dict(data)),
                "created_at": now,
            }
        )

    def write_ahead(self, entries: int | None = None) -> None:
        """Send the journal buffered so far once it holds ``entries`` entries
        (by default :data:`WRITE_AHEAD_ENTRIES`), on PostgreSQL.

        Without this a batch builds all its transactions in Python while
        PostgreSQL waits, then waits while PostgreSQL writes them. Called between
        requests, it sends the rows the requests so far appended (entries and
        postings, the transactions they created as they stand now, idempotency
        keys, outbox events) and the balance checks of those entries, and does
        not wait for the answers: PostgreSQL writes and checks them while the
        next requests are built. The rest (accounts, holds that ended since, the
        chain head) is written by ``flush``, in the same database transaction.
        An error in what was sent surfaces at the unit of work's next statement
        or at ``flush`` and fails the unit of work whole, as it would have at
        ``flush``. Does nothing on SQLite (in process: nothing to overlap), nor
        while accounts or units made in this unit of work are unwritten (rows
        sent ahead may refer to them).
        """
        sent = self._sent
        if (
            len(self._entries) - sent.entries < (entries or WRITE_AHEAD_ENTRIES)
            or self._connection.dialect.name != "postgresql"
            or self._new_accounts
            or self._new_units
        ):
            return
        if self._ahead is None:  # a pipeline left open until _catch_up or abandon
            self._ahead = ExitStack()
            self._ahead.enter_context(pipelined(self._connection))
        q.write_journal_ahead(
            self._connection,
            entries=self._entries[sent.entries :],
            postings=self._postings[sent.postings :],
            new_transactions=self._new_txs[sent.txs :],
            keys=list(self._keys.values())[sent.keys :],
            events=self._events[sent.events :],
        )
        sent.entries, sent.postings = len(self._entries), len(self._postings)
        sent.txs, sent.keys, sent.events = len(self._new_txs), len(self._keys), len(self._events)

    def _catch_up(self) -> None:
        """Read the answers to the rows sent ahead: raises the first error."""
        ahead, self._ahead = self._ahead, None
        if ahead is not None:
            ahead.close()

    def abandon(self, exc: BaseException) -> None:
        """The unit of work failed with ``exc``: end any sending ahead, raising nothing
        (the transaction rolls back)."""
        ahead, self._ahead = self._ahead, None
        if ahead is not None:
            with suppress(Exception):
                ahead.__exit__(type(exc), exc, exc.__traceback__)

    def flush(self, *, commit: bool = False) -> None:
        """Write everything buffered (one round trip on PostgreSQL); the caller commits.

        With ``commit`` on PostgreSQL, COMMIT goes out in the same pipeline, which
        saves the commit's own round trip; the caller's commit then finds nothing
        left to do. A failure at commit (the deferred balance check, a
        serialization failure) is raised here, with nothing committed.
        """
        with pipelined(self.connection) as postgresql:
            self._write_all(self.connection, self.tenant)
            if commit and postgresql:
                raw(self.connection).execute("COMMIT")
        self._new_units.clear()
        self._new_accounts.clear()
        self._entries.clear()
        self._postings.clear()
        self._new_txs.clear()
        self._finished.clear()
        self._changed_accounts.clear()
        self._keys.clear()
        self._events.clear()
        self._sent = _Sent()

    def _write_all(self, conn: Connection, tenant: str) -> None:
        """Write what is buffered and was not sent ahead (see ``write_ahead``)."""
        for unit in self._new_units:
            q.insert_unit(conn, tenant, unit, self._clock.now())
        sent = self._sent
        new_txs = self._new_txs[sent.txs :]
        # A hold created and ended in this unit of work is inserted as it ended
        # (unless it was sent ahead: then its row is updated like any other's).
        created = {row["id"]: row for row in new_txs}
        finished = []
        for end in self._finished.values():
            row = created.get(end["x_id"])
            if row is None:
                finished.append(end)
            else:
                row["status"] = end["status"]
                row["pending_amount_posted"] = end["pending_amount_posted"]
                row["finished_seq"] = end["finished_seq"]
        q.write_changes(
            conn,
            tenant,
            new_accounts=list(self._new_accounts.values()),
            entries=self._entries[sent.entries :],
            postings=self._postings[sent.postings :],
            new_transactions=new_txs,
            finished=finished,
            changed_accounts=[self._accounts[i] for i in sorted(self._changed_accounts)],
            keys=list(self._keys.values())[sent.keys :],
            events=self._events[sent.events :],
            head=self._head,
        )


def _present(accounts: Mapping[str, Account | None]) -> dict[str, Account]:
    return {k: v for k, v in accounts.items() if v is not None}


def _tx_row(tenant: str, tx: Transaction) -> dict[str, Any]:
    return {
        "tenant_id": tenant,
        "id": tx.id,
        "seq": tx.seq,
        "status": tx.status.value,
        "currency": tx.currency,
        "description": tx.description,
        "kind": tx.kind,
        "metadata": q.dumps(dict(tx.metadata)),
        "pending_amount_posted": tx.pending_amount_posted,
        "reverses": tx.reverses,
        "expires_at": tx.expires_at,
        "finished_seq": None,
        "hash": tx.hash,
        "created_at": tx.created_at,
    }
