"""``Ledger``: the library's entry point, and the one write path of Strongroom.

Every write runs in a unit of work (:mod:`strongroom.engine.uow`) inside
:meth:`Ledger.transact`, which retries the whole unit when the database reports
a deadlock, a serialization failure or a busy file; a write is acknowledged
only after its transaction committed. Reads run on short read transactions.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from datetime import datetime
from typing import Any, Literal, TypeVar

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import DBAPIError, IntegrityError

from strongroom.domain.accounts import Account, Balance, is_text
from strongroom.domain.clock import Clock, SystemClock
from strongroom.domain.errors import (
    AlreadyExists,
    BatchAborted,
    InvalidState,
    NotFound,
    StorageUnavailable,
    StrongroomError,
    ValidationError,
)
from strongroom.domain.money import Currency
from strongroom.domain.transactions import Line, StatementLine, Transaction, as_seen_at
from strongroom.engine.checkpoints import Checkpoint, SigningKey, matches_chain
from strongroom.engine.checkpoints import take as take_checkpoint
from strongroom.engine.feed import Event, check_types, read_page
from strongroom.engine.group import GroupCommitter
from strongroom.engine.pages import DEFAULT_LIMIT, Page, check_limit, decode_cursor, page_of
from strongroom.engine.reconcile import ReconcileReport
from strongroom.engine.reconcile import rebuild as rebuild_sums
from strongroom.engine.requests import (
    BatchResult,
    TransactionRequest,
    TransferRequest,
    accounts_of,
    as_request,
    describe,
)
from strongroom.engine.tenants import Choice, check_tenant_id, choose_tenant
from strongroom.engine.uow import KEEP, Keep, UnitOfWork, post_call, transfer_call
from strongroom.engine.verify import VerifyReport, verify
from strongroom.store import access as tenant_sql
from strongroom.store import checkpoints as checkpoint_sql
from strongroom.store import queries as q
from strongroom.store.database import (
    DEFAULT_URL,
    create_db_engine,
    is_retryable,
    read_connection,
    write_connection,
)
from strongroom.store.migrate import require_current, upgrade

T = TypeVar("T")
MAX_BATCH = 1000
MAX_ATTEMPTS = 10


class _AtomicFailure(Exception):
    """Unwinds an atomic batch's unit of work when one of its items fails."""

    def __init__(self, index: int, error: StrongroomError) -> None:
        super().__init__(index, error)
        self.index = index
        self.error = error


def _aware(value: datetime | None, name: str) -> datetime | None:
    if value is not None and (not isinstance(value, datetime) or value.tzinfo is None):
        raise ValidationError(f"{name} must be a timezone-aware datetime", loc=(name,))
    return value


class Ledger:
    """A tenant's ledger on SQLite or PostgreSQL (see API.md, "Python library")."""

    def __init__(
        self,
        engine: Engine,
        *,
        tenant: str,
        clock: Clock | None = None,
        group_commit: bool = True,
        _committer: GroupCommitter | None = None,
    ) -> None:
        self.engine = engine
        self.tenant = check_tenant_id(tenant)
        self.clock: Clock = clock or SystemClock()
        self.group_commit = group_commit
        self._committer = _committer or GroupCommitter(self._run_batch)

    @classmethod
    def open(
        cls,
        url: str = DEFAULT_URL,
        *,
        tenant: str | None = None,
        create_tenant: bool | None = None,
        clock: Clock | None = None,
        migrate: bool = True,
        group_commit: bool = True,
    ) -> Ledger:
        """Open the database at ``url`` (migrated to the newest schema unless
        ``migrate=False``) and the ledger of ``tenant``: its id or its name.

        Without ``tenant``, the database's only tenant, or the one called
        ``default``. A tenant that does not exist is created (with that id and
        name) on a database that has no tenant yet, or with
        ``create_tenant=True``; otherwise it raises NOT_FOUND naming the tenants
        that exist. ``create_tenant=False`` never creates one. An unreachable
        database, or one whose schema is not current with ``migrate=False``,
        raises STORAGE_UNAVAILABLE. ``group_commit=False`` gives every write a
        transaction of its own (see :mod:`strongroom.engine.group`).
        """
        engine = create_db_engine(url)
        try:
            if migrate:
                upgrade(engine)
            else:
                require_current(engine)
            chosen = _choose(engine, tenant, create_tenant)
            ledger = cls(engine, tenant=chosen.id, clock=clock, group_commit=group_commit)
            if chosen.create:
                ledger.ensure_tenant(tenant or chosen.id)
        except BaseException:
            engine.dispose()
            raise
        return ledger

    def for_tenant(self, tenant: str, *, create: bool = True) -> Ledger:
        """The ledger of another tenant on the same database and connection pool."""
        other = Ledger(
            self.engine,
            tenant=tenant,
            clock=self.clock,
            group_commit=self.group_commit,
            _committer=self._committer,
        )
        if create:
            other.ensure_tenant()
        return other

    def ensure_tenant(self, name: str | None = None) -> None:
        """Create this tenant's ledger if it does not exist yet."""

        wanted = name or self.tenant

        def create(conn: Connection) -> None:
            if q.tenant_exists(conn, self.tenant):
                return
            if tenant_sql.find_tenant(conn, wanted) is not None:
                raise AlreadyExists(f"another tenant is called {wanted!r}")
            q.insert_tenant(conn, self.tenant, wanted, self.clock.now())

        with self.engine.connect() as conn:
            if q.tenant_exists(conn, self.tenant):
                return
        with suppress(IntegrityError):  # another process created it first
            self._retrying(lambda: self._in_write(create))

    def close(self) -> None:
        """Finish the batches in flight, then close the database connections."""
        self._committer.close()
        self.engine.dispose()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- units of work ---------------------------------------------------------------

    @contextmanager
    def unit_of_work(self) -> Iterator[UnitOfWork]:
        """One database transaction: commits when the block ends, rolls back on error.

        No retry here: use :meth:`transact` unless the caller retries itself.
        """
        with self._unit(self.tenant) as uow:
            yield uow

    @contextmanager
    def _unit(self, tenant: str) -> Iterator[UnitOfWork]:
        with write_connection(self.engine) as conn, conn.begin():
            uow = UnitOfWork(conn, tenant, self.clock)
            try:
                yield uow
            except BaseException as exc:
                uow.abandon(exc)
                raise
            uow.flush(commit=True)

    def transact(self, work: Callable[[UnitOfWork], T]) -> T:
        """Run ``work`` in a unit of work and commit, retrying transient failures.

        ``work`` may run more than once, so it must do nothing outside the unit
        of work that cannot be repeated.
        """

        def attempt() -> T:
            with self.unit_of_work() as uow:
                return work(uow)

        return self._retrying(attempt)

    def _submit(self, work: Callable[[UnitOfWork], T], *accounts: Any, key: Any = None) -> T:
        """One operation: batched with concurrent ones of this tenant, or alone.

        ``accounts`` it will touch, when known, are loaded with the whole batch's.
        """
        if accounts:
            work = _Hinted(work, accounts, key)
        if self.group_commit:
            return self._committer.submit(self.tenant, work)
        # A batch of one: like a group, it commits the stored refusal of a keyed request.
        outcome = self._run_batch(self.tenant, [work])[0]
        if isinstance(outcome, StrongroomError):
            raise outcome
        return outcome  # type: ignore[no-any-return]

    async def _submit_async(
        self, work: Callable[[UnitOfWork], T], *accounts: Any, key: Any = None
    ) -> T:
        """:meth:`_submit` for an event loop: no thread waits while the batch runs."""
        if accounts:
            work = _Hinted(work, accounts, key)
        if self.group_commit:
            return await asyncio.wrap_future(self._committer.start(self.tenant, work))
        return await asyncio.to_thread(self._submit, work)

    def _run_batch(self, tenant: str, works: list[Callable[[UnitOfWork], Any]]) -> list[Any]:
        """Run ``works`` in one unit of work of ``tenant`` and commit (with retries).

        A work that raises a StrongroomError leaves the unit of work untouched
        (operations check before they change), so its error becomes its outcome.
        """

        def attempt() -> list[Any]:
            with self._unit(tenant) as uow:
                if len(works) > 1 or isinstance(works[0], _Hinted):
                    uow.prefetch(
                        (a for work in works for a in getattr(work, "accounts", ())),
                        (getattr(work, "key", None) for work in works),
                    )
                outcomes = [_outcome(uow, work) for work in works]
            return outcomes

        return self._retrying(attempt)

    def _in_write(self, work: Callable[[Connection], T]) -> T:
        with write_connection(self.engine) as conn, conn.begin():
            return work(conn)

    def _retrying(self, attempt: Callable[[], T]) -> T:
        delay = 0.002
        for number in range(1, MAX_ATTEMPTS + 1):
            try:
                return attempt()
            except DBAPIError as exc:
                if not is_retryable(exc):
                    raise
                if number == MAX_ATTEMPTS:
                    raise StorageUnavailable(
                        "the database stayed busy; nothing was applied, retry later"
                    ) from exc
            time.sleep(delay * random.uniform(0.5, 1.5))
            delay = min(delay * 2, 0.5)
        raise AssertionError("unreachable")

    # -- writes --------------------------------------------------------------------------

    def define_unit(self, code: str, exponent: int) -> Currency:
        return self._submit(lambda uow: uow.define_unit(code, exponent))

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
        """Create an account: ``account_id=None`` generates its id; ``overdraft_limit``
        is how far ``available`` may go below zero (``None``: unlimited)."""
        return self._submit(
            lambda uow: uow.create_account(
                account_id,
                currency=currency,
                normal_balance=normal_balance,
                overdraft_limit=overdraft_limit,
                metadata=metadata,
                idempotency_key=idempotency_key,
            )
        )

    def update_account(
        self,
        account_id: str,
        *,
        status: str | None = None,
        overdraft_limit: int | Literal[Keep.KEEP] | None = KEEP,
        metadata: Mapping[str, str] | None = None,
        idempotency_key: str | None = None,
    ) -> Account:
        """Change the status, the overdraft limit (``None``: unlimited; left out: as it
        is) or the metadata (replaced whole). ``None`` leaves status and metadata be."""
        return self._submit(
            lambda uow: uow.update_account(
                account_id,
                status=status,
                overdraft_limit=overdraft_limit,
                metadata=metadata,
                idempotency_key=idempotency_key,
            )
        )

    # A transfer or post is checked here, in the caller's thread, before it joins a
    # group commit: the leader of a group then only applies the ledger's rules.

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
        """Move ``amount`` from ``source`` (debited) to ``destination`` (credited); with
        ``pending=True`` hold it (until ``timeout_seconds``, when given)."""
        call = transfer_call(
            source, destination, amount, currency,
            description=description, metadata=metadata, kind=kind, pending=pending,
            timeout_seconds=timeout_seconds, idempotency_key=idempotency_key,
        )  # fmt: skip
        return self._submit(lambda uow: uow.apply(call), source, destination, key=call.key)

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
        """Post a transaction of two or more lines, debits equal to credits in
        ``currency``; with ``pending=True`` hold it (as :meth:`transfer`)."""
        call = post_call(
            lines, currency=currency,
            description=description, metadata=metadata, kind=kind, pending=pending,
            timeout_seconds=timeout_seconds, idempotency_key=idempotency_key,
        )  # fmt: skip
        hint = [line.account for line in call.request.lines]
        return self._submit(lambda uow: uow.apply(call), *hint, key=call.key)

    async def transfer_async(
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
        """:meth:`transfer` for asyncio: awaits its group commit without holding a thread."""
        call = transfer_call(
            source, destination, amount, currency,
            description=description, metadata=metadata, kind=kind, pending=pending,
            timeout_seconds=timeout_seconds, idempotency_key=idempotency_key,
        )  # fmt: skip
        return await self._submit_async(
            lambda uow: uow.apply(call), source, destination, key=call.key
        )

    async def post_async(
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
        """:meth:`post` for asyncio: awaits its group commit without holding a thread."""
        call = post_call(
            lines, currency=currency,
            description=description, metadata=metadata, kind=kind, pending=pending,
            timeout_seconds=timeout_seconds, idempotency_key=idempotency_key,
        )  # fmt: skip
        hint = [line.account for line in call.request.lines]
        return await self._submit_async(lambda uow: uow.apply(call), *hint, key=call.key)

    def post_pending(
        self, tx_id: str, amount: int | None = None, *, idempotency_key: str | None = None
    ) -> Transaction:
        return self._submit(
            lambda uow: uow.post_pending(tx_id, amount, idempotency_key=idempotency_key)
        )

    def void_pending(self, tx_id: str, *, idempotency_key: str | None = None) -> Transaction:
        return self._submit(lambda uow: uow.void_pending(tx_id, idempotency_key=idempotency_key))

    def reverse(
        self, tx_id: str, *, description: str | None = None, idempotency_key: str | None = None
    ) -> Transaction:
        """Post a new transaction with every line of ``tx_id`` (a posted one) swapped;
        ``description`` defaults to ``"reversal of <id>"``."""
        return self._submit(
            lambda uow: uow.reverse(tx_id, description=description, idempotency_key=idempotency_key)
        )

    def expire_holds_of_all_tenants(self) -> int:
        """Expire every due hold of every tenant on this database (the server's sweeper)."""
        with self._read() as conn:
            tenants = q.tenants_with_due_holds(conn, self.clock.now())
        return sum(self.for_tenant(t, create=False).expire_holds() for t in tenants)

    def expire_holds(self, *, chunk: int = 500) -> int:
        """Expire every hold past its deadline, ``chunk`` per transaction; return the count."""
        total = 0
        while True:
            done = self.transact(lambda uow: uow.expire_due(chunk))
            total += done
            if done < chunk:
                return total

    def batch(
        self,
        requests: Sequence[TransferRequest | TransactionRequest | Mapping[str, Any]],
        *,
        atomic: bool = False,
        idempotency_key: str | None = None,
    ) -> list[BatchResult]:
        """Apply many transactions in one database transaction, with a result per item.

        Non-atomic: each item succeeds or fails on its own. Atomic: all commit,
        or none does and every item that did not fail itself is ``BATCH_ABORTED``.
        ``idempotency_key`` covers the whole batch (each item may have its own too):
        a replay returns every item's first result, a refused atomic batch's too.
        The items of a refused atomic batch leave their own keys unused: none of
        them was applied, so each may be sent again under its key.
        """
        if not isinstance(requests, Sequence) or not 1 <= len(requests) <= MAX_BATCH:
            raise ValidationError(
                f"a batch has 1 to {MAX_BATCH} transactions", loc=("transactions",)
            )
        parsed: list[TransferRequest | TransactionRequest | StrongroomError] = []
        for i, raw in enumerate(requests):
            try:
                parsed.append(as_request(raw, index=i))
            except StrongroomError as exc:
                parsed.append(exc)
        request = {"atomic": atomic, "items": [describe(item) for item in parsed]}

        def run(uow: UnitOfWork) -> list[BatchResult]:
            results = []
            last = len(parsed) - 1
            for i, item in enumerate(parsed):
                result = _apply_one(uow, item)
                if atomic and result.error is not None:
                    raise _AtomicFailure(i, result.error)
                results.append(result)
                if i < last:
                    uow.write_ahead()  # PostgreSQL writes these while the next are built
            return results

        def keyed(uow: UnitOfWork, apply: Callable[[], list[BatchResult]]) -> list[BatchResult]:
            return uow.idempotent(
                idempotency_key,
                "batch",
                request,
                apply,
                lambda results: {"results": [r.to_dict(uow.tx_body) for r in results]},
                lambda body: [BatchResult.from_dict(r, replayed=True) for r in body["results"]],
            )

        def work(uow: UnitOfWork) -> list[BatchResult]:
            # The head, every item's accounts and every key (the batch's own too)
            # in one round trip, before the batch's key is looked at.
            uow.prefetch(
                (account for item in parsed for account in accounts_of(item)),
                [idempotency_key, *(getattr(item, "idempotency_key", None) for item in parsed)],
            )
            return keyed(uow, lambda: run(uow))

        try:
            return self.transact(work)
        except _AtomicFailure as failure:
            aborted = BatchAborted(f"not applied: item {failure.index} of the atomic batch failed")
            refused = [
                BatchResult.failed(failure.error if i == failure.index else aborted)
                for i in range(len(parsed))
            ]
        if idempotency_key is None:
            return refused
        # The refusal rolled back with its items, the batch's key with them. It is
        # the batch's first answer all the same: its key keeps it, in a unit of work
        # of its own that stores nothing else (the items' own keys stay unused: none
        # of them was applied). Under the head lock the key is looked at again: when
        # a duplicate of this batch stored its answer first, that answer is this
        # one's too, so one key never gives two answers nor applies twice.
        return self.transact(lambda uow: keyed(uow, lambda: refused))

    # -- reads -----------------------------------------------------------------------------

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        """A connection for reads (see ``read_connection``). On SQLite its first
        statement begins a read transaction that lasts until the block ends, so
        reads of several statements see one snapshot."""
        with read_connection(self.engine) as conn:
            yield conn

    def get_account(self, account_id: str) -> Account:
        if not is_text(account_id):  # nothing stored can match (PostgreSQL refuses NUL)
            raise NotFound("account not found")
        with self._read() as conn:
            found = q.load_accounts(conn, self.tenant, [account_id], lock=False)
        if account_id not in found:
            raise NotFound(f"account {account_id!r} not found")
        return found[account_id]

    def list_accounts(
        self, *, prefix: str | None = None, limit: int = DEFAULT_LIMIT, cursor: str | None = None
    ) -> Page[Account]:
        limit = check_limit(limit)
        after = decode_cursor(cursor, "accounts")
        if prefix is not None and not is_text(prefix):
            return Page([], None)
        with self._read() as conn:
            rows = q.list_accounts(conn, self.tenant, prefix=prefix, after=after, limit=limit + 1)
        return page_of(rows, limit, "accounts", lambda a: a.id)

    def balance(self, account_id: str, at: datetime | None = None) -> Balance:
        """The account's balance now, or as it stood at ``at``."""
        _aware(at, "at")
        account = self.get_account(account_id)
        if at is None:
            return account.balance
        with self._read() as conn:
            sums = q.sums_at(conn, self.tenant, account_id, at)
        return Balance.of(sums, account.normal_balance)

    def statement(
        self,
        account_id: str,
        *,
        start: datetime | None = None,
        end: datetime | None = None,
        limit: int = DEFAULT_LIMIT,
        cursor: str | None = None,
    ) -> Page[StatementLine]:
        """Posted lines of the account in sequence order, each with the balance after it."""
        limit = check_limit(limit)
        _aware(start, "from")
        _aware(end, "to")
        after = decode_cursor(cursor, "statement")
        account = self.get_account(account_id)
        with self._read() as conn:
            rows = q.statement(
                conn,
                self.tenant,
                account_id,
                start=start,
                end=end,
                after=tuple(after) if after is not None else None,
                limit=limit + 1,
            )
        credit = account.normal_balance.value == "credit"
        lines = [
            (
                (r.seq, r.idx),
                StatementLine(
                    transaction_id=r.transaction_id,
                    seq=r.seq,
                    side=r.side,
                    amount=r.amount,
                    balance_after=(r.posted_credits_after - r.posted_debits_after)
                    * (1 if credit else -1),
                    posted_at=r.created_at,
                    description=r.description,
                ),
            )
            for r in rows
        ]
        page = page_of(lines, limit, "statement", lambda item: list(item[0]))
        return Page([line for _, line in page.data], page.next_cursor)

    def get_transaction(self, tx_id: str) -> Transaction:
        """The transaction as it stands now: a hold past its deadline reads ``expired``
        although the sweeper has not yet written its expiry (post and void refuse it
        already). Its amount stays held in the accounts' balances until then."""
        if not is_text(tx_id):
            raise NotFound("transaction not found")
        with self._read() as conn:
            found = q.load_transaction(conn, self.tenant, tx_id, lock=False)
        if found is None:
            raise NotFound(f"transaction {tx_id!r} not found")
        return as_seen_at(found, self.clock.now())

    def list_transactions(
        self,
        *,
        account: str | None = None,
        kind: str | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
        limit: int = DEFAULT_LIMIT,
        cursor: str | None = None,
    ) -> Page[Transaction]:
        """Transactions in sequence order; a hold past its deadline reads ``expired``
        (see :meth:`get_transaction`)."""
        limit = check_limit(limit)
        _aware(start, "from")
        _aware(end, "to")
        after = decode_cursor(cursor, "transactions")
        if any(v is not None and not is_text(v) for v in (account, kind)):
            return Page([], None)
        with self._read() as conn:
            rows = q.list_transactions(
                conn, self.tenant, account=account, kind=kind, start=start, end=end,
                after=after, limit=limit + 1,
            )  # fmt: skip
        now = self.clock.now()
        seen = [as_seen_at(tx, now) for tx in rows]
        return page_of(seen, limit, "transactions", lambda tx: tx.seq)

    def events(self, *, after: int = 0, limit: int = DEFAULT_LIMIT) -> list[dict[str, Any]]:
        """Outbox events in commit order: ``{"id", "seq", "type", "created_at", "data"}``."""
        limit = check_limit(limit)
        with self._read() as conn:
            rows = q.list_events(conn, self.tenant, after=after, limit=limit)
        return [
            {
                "id": r.id,
                "seq": r.seq,
                "type": r.type,
                "created_at": r.created_at,
                "data": json.loads(r.data),
            }
            for r in rows
        ]

    def head(self) -> tuple[int, str]:
        """The last link of the tenant's chain: ``(seq, hash)``."""
        found = self.head_info()
        return found.seq, found.hash

    def head_info(self) -> q.Head:
        """The chain head with the time of its last entry."""
        with self._read() as conn:
            found = q.read_head(conn, self.tenant)
        if found is None:
            raise NotFound(f"tenant {self.tenant!r} has no ledger")
        return found

    def verify(self) -> VerifyReport:
        """Check the hash chain and every account's sums against a replay of the journal."""
        options: dict[str, Any] = {}
        if self.engine.dialect.name == "postgresql":
            options["isolation_level"] = "REPEATABLE READ"  # one snapshot for the whole walk
        with self.engine.connect().execution_options(**options) as conn, conn.begin():
            return verify(conn, self.tenant)

    # -- the event feed and the integrity jobs -----------------------------------------

    def list_events(
        self,
        *,
        after: str | None = None,
        types: Sequence[str] | str | None = None,
        limit: int = DEFAULT_LIMIT,
    ) -> Page[Event]:
        """Events in commit order after ``after``: the id of the last event handled,
        or the ``next_cursor`` of a previous page (``None``: from the first event).

        ``types`` (a list, or ``"a,b"``) keeps only those types. An unknown event
        id, another tenant's included, is a VALIDATION_ERROR on ``after``.
        """
        limit = check_limit(limit)
        wanted = check_types(types)
        with self._read() as conn:
            return read_page(conn, self.tenant, after=after, types=wanted, limit=limit)

    def reconcile(self, *, rebuild: bool = False) -> ReconcileReport:
        """Compare every account's running sums with a replay of the journal.

        ``rebuild=True`` also writes the replayed sums back to the accounts that
        drifted, in one transaction under the tenant's head lock; it refuses with
        INVALID_STATE, changing nothing, when the chain does not verify.
        """
        if not rebuild:
            return ReconcileReport.of(self.tenant, self.verify())
        return self._retrying(
            lambda: self._in_write(lambda conn: rebuild_sums(conn, self.tenant, self.clock.now()))
        )

    def checkpoint(self, key: SigningKey, *, verify_chain: bool = True) -> Checkpoint:
        """Sign the chain head with ``key`` and store the checkpoint (once per head and key).

        By default the whole chain is verified first, so a checkpoint never vouches
        for a history that was already altered: INVALID_STATE when it does not verify.
        """
        if verify_chain:
            report = self.verify()
            if report.first_bad_seq is not None:
                raise InvalidState(
                    f"the chain is broken at seq {report.first_bad_seq}; not signing it"
                )
            seq, digest = report.head_seq, report.head_hash
        else:
            seq, digest = self.head()
        return self._retrying(
            lambda: self._in_write(
                lambda conn: take_checkpoint(conn, self.tenant, key, seq, digest, self.clock.now())
            )
        )

    def list_checkpoints(
        self, *, limit: int = DEFAULT_LIMIT, cursor: str | None = None
    ) -> Page[Checkpoint]:
        """The tenant's stored checkpoints, oldest head first."""
        limit = check_limit(limit)
        after = decode_cursor(cursor, "checkpoints")
        if after is not None and not (
            isinstance(after, list)
            and len(after) == 2
            and type(after[0]) is int
            and 0 <= after[0] < 2**63
            and isinstance(after[1], str)
            and after[1].isascii()
            and after[1].isalnum()
        ):
            raise ValidationError("invalid cursor", loc=("cursor",))
        position = (after[0], after[1]) if after is not None else None
        with self._read() as conn:
            rows = checkpoint_sql.list_checkpoints(
                conn, self.tenant, after=position, limit=limit + 1
            )
        found = [Checkpoint.from_row(r) for r in rows]
        return page_of(found, limit, "checkpoints", lambda c: [c.seq, c.key_id])

    def check_checkpoint(self, checkpoint: Checkpoint) -> bool:
        """Whether the journal still has, at the checkpoint's seq, the hash and time it
        records: false once any entry up to there was rewritten, removed or reordered.

        This checks the chain, not the signature: see ``verify_checkpoint``.
        """
        if checkpoint.tenant != self.tenant:
            raise ValidationError(
                f"the checkpoint is of tenant {checkpoint.tenant!r}, not {self.tenant!r}",
                loc=("tenant",),
            )
        with self._read() as conn:
            return q.read_head(conn, self.tenant) is not None and matches_chain(conn, checkpoint)

    def tenant_ids(self) -> list[str]:
        """Every tenant that has a ledger in this database, in id order."""
        with self._read() as conn:
            return q.tenant_ids(conn)


def _choose(engine: Engine, tenant: str | None, create: bool | None) -> Choice:
    with read_connection(engine) as conn:
        return choose_tenant(conn, tenant, create=create)


def _apply_one(
    uow: UnitOfWork, item: TransferRequest | TransactionRequest | StrongroomError
) -> BatchResult:
    if isinstance(item, StrongroomError):
        return BatchResult.failed(item)
    try:
        return BatchResult.created(item.apply(uow))
    except StrongroomError as exc:
        return BatchResult.failed(exc)


def _outcome(uow: UnitOfWork, work: Callable[[UnitOfWork], Any]) -> Any:
    try:
        return work(uow)
    except StrongroomError as exc:
        return exc


class _Hinted:
    """A unit-of-work function with the accounts it will touch (for prefetching)."""

    __slots__ = ("accounts", "key", "work")

    def __init__(
        self, work: Callable[[UnitOfWork], Any], accounts: tuple[Any, ...], key: Any
    ) -> None:
        self.work = work
        self.accounts = accounts
        self.key = key

    def __call__(self, uow: UnitOfWork) -> Any:
        return self.work(uow)
