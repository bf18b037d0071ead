"""Random sequences of ledger operations keep the books right, on every backend.

Each Hypothesis example plays up to 15 operations (deposits, transfers,
multi-line posts, holds with deadlines, full and partial posts of holds, voids,
expiry after the clock moves, reversals) on five accounts of a fresh tenant,
and keeps a small model of the running sums and of every transaction beside the
ledger. Refusals the rules call for (INSUFFICIENT_FUNDS, HOLD_NOT_PENDING, ...)
are part of the game.

Examples share the test's database, so each gets a tenant of its own. The
tenants share one engine (``Ledger.for_tenant``): an engine per example would
keep a pool of connections open per example until the test ends.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime

import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from strongroom import (
    AmountExceedsHold,
    Balance,
    HoldNotPending,
    InsufficientFunds,
    InvalidState,
    Ledger,
    Line,
    Side,
    StrongroomError,
    Sums,
    Transaction,
    TxStatus,
    UnitOfWork,
)
from strongroom.store.schema import journal_postings
from strongroom.testing import FakeClock

CURRENCY = "USD"
DEBIT, CREDIT = Side.DEBIT.value, Side.CREDIT.value
# account -> (normal side, overdraft limit)
ACCOUNTS: dict[str, tuple[Side, int | None]] = {
    "@world": (Side.CREDIT, None),
    "alice": (Side.CREDIT, 0),
    "bob": (Side.CREDIT, 0),
    "carol": (Side.CREDIT, 500),
    "vault": (Side.DEBIT, 0),
}
NAMES = sorted(ACCOUNTS)
# Deadlines are not multiples of 61 s and the clock moves by multiples of 61 s,
# so no check ever lands within a second of a deadline.
TIMEOUTS = [None, 60, 120, 600]
ADVANCES = [61, 183]
EXPECTED_REFUSALS = (InsufficientFunds, HoldNotPending, AmountExceedsHold, InvalidState)
MAX_EXAMPLES = 30
FUNDING = 1000
FUNDED = [("@world", "alice"), ("@world", "bob"), ("vault", "@world")]  # each gets FUNDING

# -- operations ------------------------------------------------------------------------


@dataclass(frozen=True)
class Transfer:
    source: str
    destination: str
    amount: int
    pending: bool = False
    timeout: int | None = None


@dataclass(frozen=True)
class Post:
    lines: tuple[Line, ...]
    pending: bool = False
    timeout: int | None = None


@dataclass(frozen=True)
class PostPending:
    """Post a hold: ``share`` tenths of it (rounded up; above 10 exceeds it), or all."""

    ref: int
    share: int | None


@dataclass(frozen=True)
class Void:
    ref: int


@dataclass(frozen=True)
class AdvanceAndExpire:
    seconds: int


@dataclass(frozen=True)
class Reverse:
    ref: int


Op = Transfer | Post | PostPending | Void | AdvanceAndExpire | Reverse

names = st.sampled_from(NAMES)
amounts = st.integers(1, 1500)
refs = st.integers(0, 20)


@st.composite
def holds_or_not(draw: st.DrawFn) -> tuple[bool, int | None]:
    pending = draw(st.booleans())
    return pending, draw(st.sampled_from(TIMEOUTS)) if pending else None


@st.composite
def transfers(draw: st.DrawFn) -> Transfer:
    source, destination = draw(st.lists(names, min_size=2, max_size=2, unique=True))
    return Transfer(source, destination, draw(amounts), *draw(holds_or_not()))


@st.composite
def posts(draw: st.DrawFn) -> Post:
    """One to three random lines, then a line that balances them."""
    raw = draw(
        st.lists(
            st.tuples(names, st.sampled_from([DEBIT, CREDIT]), amounts), min_size=1, max_size=3
        )
    )
    lines = [Line(account, side, amount) for account, side, amount in raw]
    gap = sum(x.amount if x.side == DEBIT else -x.amount for x in lines)
    if gap:
        lines.append(Line(draw(names), CREDIT if gap > 0 else DEBIT, abs(gap)))
    return Post(tuple(lines), *draw(holds_or_not()))


@st.composite
def holds(draw: st.DrawFn) -> Transfer:
    """A hold from an account that was funded at the start."""
    source = draw(st.sampled_from(["alice", "bob", "vault"]))
    destination = draw(st.sampled_from([n for n in NAMES if n != source]))
    return Transfer(
        source, destination, draw(st.integers(1, 600)), True, draw(st.sampled_from(TIMEOUTS))
    )


deposits = st.builds(
    Transfer, st.just("@world"), st.sampled_from(["alice", "bob", "carol"]), amounts
)
operations = st.lists(
    st.one_of(
        deposits,
        transfers(),
        posts(),
        holds(),
        st.builds(PostPending, refs, st.none() | st.integers(1, 12)),
        st.builds(PostPending, refs, st.integers(1, 9)),
        st.builds(Void, refs),
        st.builds(AdvanceAndExpire, st.sampled_from(ADVANCES)),
        st.builds(Reverse, refs),
    ),
    min_size=5,
    max_size=15,
)

# -- the model -------------------------------------------------------------------------


@dataclass
class ModelTx:
    id: str
    lines: tuple[Line, ...]
    status: TxStatus
    hold: bool = False
    expires_at: datetime | None = None
    reverses: str | None = None
    reversed: bool = False
    pending_amount_posted: int | None = None

    @property
    def amount(self) -> int:
        return sum(x.amount for x in self.lines if x.side == DEBIT)


Move = tuple[Line, str]  # a line and how it moves the sums: "post", "pend" or "release"


def _moved(sums: Sums, line: Line, how: str) -> Sums:
    amount = -line.amount if how == "release" else line.amount
    if how == "post" and line.side == DEBIT:
        return replace(sums, posted_debits=sums.posted_debits + amount)
    if how == "post":
        return replace(sums, posted_credits=sums.posted_credits + amount)
    if line.side == DEBIT:
        return replace(sums, pending_debits=sums.pending_debits + amount)
    return replace(sums, pending_credits=sums.pending_credits + amount)


def _available(account: str, sums: Sums) -> int:
    normal, _ = ACCOUNTS[account]
    if normal is Side.CREDIT:
        return sums.posted_credits - sums.posted_debits - sums.pending_debits
    return sums.posted_debits - sums.posted_credits - sums.pending_credits


@dataclass
class Model:
    sums: dict[str, Sums] = field(default_factory=lambda: {n: Sums() for n in NAMES})
    txs: list[ModelTx] = field(default_factory=list)

    def after(self, moves: list[Move]) -> dict[str, Sums]:
        new: dict[str, Sums] = {}
        for line, how in moves:
            new[line.account] = _moved(new.get(line.account, self.sums[line.account]), line, how)
        return new

    def refusal(self, moves: list[Move]) -> type[StrongroomError] | None:
        """INSUFFICIENT_FUNDS when an account with a limit would drop below it."""
        for account, new in self.after(moves).items():
            limit = ACCOUNTS[account][1]
            before, after = _available(account, self.sums[account]), _available(account, new)
            if limit is not None and after < before and after < -limit:
                return InsufficientFunds
        return None

    def pick(self, ref: int, *, holds: bool = False) -> ModelTx | None:
        """The ``ref``-th transaction (or hold) so far, wrapping around."""
        found = [tx for tx in self.txs if tx.hold or not holds]
        return found[ref % len(found)] if found else None


# -- playing a sequence ----------------------------------------------------------------


@dataclass
class PartialPost:
    lines: tuple[Line, ...]
    part: int
    before: dict[str, Sums]
    after: dict[str, Sums]


class Run:
    """Plays operations on a ledger and on the model side by side.

    ``strict``: every outcome must be the one the model predicts. Otherwise any
    of the expected refusals is accepted, and the model takes in only what the
    ledger accepted. ``each`` runs after every operation.
    """

    def __init__(
        self,
        ledger: Ledger,
        clock: FakeClock,
        *,
        strict: bool = False,
        each: Callable[[Run], None] | None = None,
    ) -> None:
        self.ledger, self.clock, self.strict, self.each = ledger, clock, strict, each
        self.model = Model()
        self.partial_posts: list[PartialPost] = []
        funded = ledger.transact(self._open_and_fund)
        for tx in funded:
            moves = [(line, "post") for line in tx.lines]
            self.model.sums.update(self.model.after(moves))
            self.model.txs.append(ModelTx(tx.id, tx.lines, TxStatus.POSTED))

    @staticmethod
    def _open_and_fund(uow: UnitOfWork) -> list[Transaction]:
        """Open the accounts and fund them from @world, in one database transaction."""
        for name, (normal, limit) in ACCOUNTS.items():
            uow.create_account(
                name, currency=CURRENCY, normal_balance=normal.value, overdraft_limit=limit
            )
        return [uow.transfer(*pair, FUNDING, CURRENCY) for pair in FUNDED]

    def play(self, ops: list[Op]) -> None:
        for op in ops:
            self.step(op)
            if self.each is not None:
                self.each(self)

    def stored(self) -> dict[str, Sums]:
        return {a.id: a.sums for a in self.ledger.list_accounts(limit=100).data}

    def step(self, op: Op) -> None:
        match op:
            case Transfer():
                lines = (
                    Line(op.source, DEBIT, op.amount),
                    Line(op.destination, CREDIT, op.amount),
                )
                self._new(
                    lambda: self.ledger.transfer(
                        op.source,
                        op.destination,
                        op.amount,
                        CURRENCY,
                        pending=op.pending,
                        timeout_seconds=op.timeout,
                    ),
                    lines,
                    op.pending,
                )
            case Post():
                self._new(
                    lambda: self.ledger.post(
                        op.lines, currency=CURRENCY, pending=op.pending, timeout_seconds=op.timeout
                    ),
                    op.lines,
                    op.pending,
                )
            case PostPending():
                self._post_pending(op)
            case Void():
                self._void(op)
            case AdvanceAndExpire():
                self._advance_and_expire(op.seconds)
            case Reverse():
                self._reverse(op)

    def _attempt(
        self, call: Callable[[], Transaction], expected: type[StrongroomError] | None
    ) -> Transaction | None:
        result: Transaction | None = None
        refused: StrongroomError | None = None
        try:
            result = call()
        except EXPECTED_REFUSALS as exc:
            refused = exc
            event(f"refused: {exc.code}")
        if self.strict:
            outcome = "accepted" if refused is None else f"refused with {refused!r}"
            assert type(refused) is (expected or type(None)), f"{outcome}; model: {expected}"
        return result

    def _commit(self, moves: list[Move], result: Transaction) -> None:
        new = self.model.after(moves)
        self.model.sums.update(new)
        if self.strict:
            for account, balance in result.balances.items():
                assert balance == Balance.of(self.model.sums[account], ACCOUNTS[account][0])

    def _new(
        self,
        call: Callable[[], Transaction],
        lines: tuple[Line, ...],
        pending: bool,
        *,
        refused: type[StrongroomError] | None = None,
        reverses: ModelTx | None = None,
    ) -> None:
        moves = [(line, "pend" if pending else "post") for line in lines]
        result = self._attempt(call, refused or self.model.refusal(moves))
        if result is None:
            return
        self._commit(moves, result)
        status = TxStatus.PENDING if pending else TxStatus.POSTED
        tx = ModelTx(result.id, lines, status, pending, result.expires_at)
        if reverses is not None:
            event("reversed")
            tx.reverses, reverses.reversed = reverses.id, True
        self.model.txs.append(tx)

    def _hold_refusal(self, hold: ModelTx) -> type[StrongroomError] | None:
        if hold.status is not TxStatus.PENDING:
            return HoldNotPending
        if hold.expires_at is not None and hold.expires_at <= self.clock.now():
            return HoldNotPending
        return None

    def _settle_refusal(self, hold: ModelTx, part: int) -> type[StrongroomError] | None:
        """Why posting ``part`` of ``hold`` is refused, before funds are looked at."""
        if self._hold_refusal(hold) is not None:
            return HoldNotPending
        if part > hold.amount:
            return AmountExceedsHold
        if part < hold.amount and len(hold.lines) != 2:
            return InvalidState  # only a two-line hold posts in part
        return None

    def _post_pending(self, op: PostPending) -> None:
        hold = self.model.pick(op.ref, holds=True)
        if hold is None:
            return
        amount = None if op.share is None else -(-hold.amount * op.share // 10)
        part = hold.amount if amount is None else amount
        settled = hold.lines
        if part != hold.amount:
            settled = tuple(Line(x.account, x.side, part) for x in hold.lines)
        moves = [(x, "release") for x in hold.lines] + [(x, "post") for x in settled]
        expected = self._settle_refusal(hold, part) or self.model.refusal(moves)
        before = self.stored() if part < hold.amount else {}
        result = self._attempt(lambda: self.ledger.post_pending(hold.id, amount), expected)
        if result is None:
            return
        if part < hold.amount:
            event("partial post")
            self.partial_posts.append(PartialPost(hold.lines, part, before, self.stored()))
        self._commit(moves, result)
        hold.status, hold.pending_amount_posted = TxStatus.POSTED, part

    def _void(self, op: Void) -> None:
        hold = self.model.pick(op.ref, holds=True)
        if hold is None:
            return
        moves = [(x, "release") for x in hold.lines]
        result = self._attempt(lambda: self.ledger.void_pending(hold.id), self._hold_refusal(hold))
        if result is not None:
            self._commit(moves, result)
            hold.status = TxStatus.VOIDED

    def _advance_and_expire(self, seconds: int) -> None:
        now = self.clock.advance(seconds)
        due = [
            tx
            for tx in self.model.txs
            if tx.status is TxStatus.PENDING and tx.expires_at is not None and tx.expires_at <= now
        ]
        expired = self.ledger.expire_holds()
        if due:
            event("holds expired")
        if self.strict:
            assert expired == len(due)
        for hold in due:
            self.model.sums.update(self.model.after([(x, "release") for x in hold.lines]))
            hold.status = TxStatus.EXPIRED

    def _reverse(self, op: Reverse) -> None:
        original = self.model.pick(op.ref)
        if original is None:
            return
        refused: type[StrongroomError] | None = None
        if original.status is not TxStatus.POSTED or original.reverses or original.reversed:
            refused = InvalidState
        part = original.pending_amount_posted
        lines = tuple(
            Line(
                x.account,
                CREDIT if x.side == DEBIT else DEBIT,
                x.amount if part is None or part == original.amount else part,
            )
            for x in original.lines
        )
        self._new(
            lambda: self.ledger.reverse(original.id),
            lines,
            False,
            refused=refused,
            reverses=original,
        )


# -- fixtures ----------------------------------------------------------------------------


@pytest.fixture
def fresh_ledger(open_ledger: Callable[..., Ledger]) -> Callable[[], Ledger]:
    """A ledger of a new tenant for each Hypothesis example, on the test's database."""
    base = open_ledger(tenant="base")
    counter = itertools.count()
    return lambda: base.for_tenant(f"p{next(counter)}")


def _all_transactions(ledger: Ledger) -> list[Transaction]:
    found: list[Transaction] = []
    cursor: str | None = None
    while True:
        page = ledger.list_transactions(limit=1000, cursor=cursor)
        found += page.data
        if page.next_cursor is None:
            return found
        cursor = page.next_cursor


def _journal_postings(ledger: Ledger) -> list[tuple[int, str, str, int]]:
    """Every posting of the tenant's journal: (seq, effect, side, amount)."""
    p = journal_postings
    query = select(p.c.seq, p.c.effect, p.c.side, p.c.amount).where(p.c.tenant_id == ledger.tenant)
    with ledger.engine.connect() as conn:
        return [(r.seq, r.effect, r.side, r.amount) for r in conn.execute(query)]


def _sides_balance(lines: list[tuple[str, int]]) -> bool:
    debits = sum(n for side, n in lines if side == DEBIT)
    return debits == sum(n for side, n in lines if side == CREDIT)


# -- properties --------------------------------------------------------------------------


@settings(max_examples=MAX_EXAMPLES)
@given(ops=operations)
def test_every_committed_transaction_balances(
    fresh_ledger: Callable[[], Ledger], clock: FakeClock, ops: list[Op]
) -> None:
    """After random operations every transaction, and every entry per effect, balances."""
    ledger = fresh_ledger()
    Run(ledger, clock).play(ops)
    for tx in _all_transactions(ledger):
        assert _sides_balance([(x.side, x.amount) for x in tx.lines]), tx
    entries: dict[tuple[int, str], list[tuple[str, int]]] = {}
    for seq, effect, side, amount in _journal_postings(ledger):
        entries.setdefault((seq, effect), []).append((side, amount))
    for (seq, effect), moved in entries.items():
        assert _sides_balance(moved), (seq, effect)


@settings(max_examples=MAX_EXAMPLES)
@given(ops=operations)
def test_stored_sums_equal_a_replay_of_the_journal(
    fresh_ledger: Callable[[], Ledger], clock: FakeClock, ops: list[Op]
) -> None:
    """After random operations verify finds the chain intact and no account drifted."""
    ledger = fresh_ledger()
    Run(ledger, clock).play(ops)
    report = ledger.verify()
    assert report.drift == []
    assert report.first_bad_seq is None
    assert report.ok
    assert report.checked == ledger.head()[0]


def _within_limits(run: Run) -> None:
    for account in run.ledger.list_accounts(limit=100).data:
        limit = ACCOUNTS[account.id][1]
        assert limit is None or account.balance.available >= -limit, account


@settings(max_examples=MAX_EXAMPLES)
@given(ops=operations)
def test_available_never_goes_below_the_overdraft_limit(
    fresh_ledger: Callable[[], Ledger], clock: FakeClock, ops: list[Op]
) -> None:
    """After every operation each account's available is at least -overdraft_limit."""
    Run(fresh_ledger(), clock, each=_within_limits).play(ops)


def _sums_match_model(run: Run) -> None:
    assert run.stored() == run.model.sums


@settings(max_examples=MAX_EXAMPLES)
@given(ops=operations)
def test_outcomes_and_sums_follow_the_model(
    fresh_ledger: Callable[[], Ledger], clock: FakeClock, ops: list[Op]
) -> None:
    """Each operation succeeds or is refused as the model says, and moves the sums it says."""
    run = Run(fresh_ledger(), clock, strict=True, each=_sums_match_model)
    run.play(ops)
    for expected in run.model.txs:
        stored = run.ledger.get_transaction(expected.id)
        assert stored.status is expected.status
        assert stored.pending_amount_posted == expected.pending_amount_posted
        assert stored.reverses == expected.reverses


@settings(max_examples=MAX_EXAMPLES)
@given(ops=operations)
def test_posting_part_of_a_hold_releases_the_rest(
    fresh_ledger: Callable[[], Ledger], clock: FakeClock, ops: list[Op]
) -> None:
    """A partial post drops pending by the whole hold and moves posted by the part only."""
    run = Run(fresh_ledger(), clock)
    run.play([*ops, Transfer("@world", "alice", 1000), Transfer("alice", "bob", 400, True, 600)])
    last_hold = sum(tx.hold for tx in run.model.txs) - 1
    run.play([PostPending(last_hold, 7)])  # the hold just made: 280 of 400
    assert run.partial_posts
    for partial in run.partial_posts:
        expected = dict(partial.before)
        for line in partial.lines:
            expected[line.account] = _moved(expected[line.account], line, "release")
            posted = replace(line, amount=partial.part)
            expected[line.account] = _moved(expected[line.account], posted, "post")
        assert partial.after == expected
