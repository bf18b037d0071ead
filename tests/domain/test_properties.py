"""Properties of the pure domain: balance, limits, holds, signs and the hash chain."""

from __future__ import annotations

import dataclasses
from contextlib import suppress
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from strongroom.domain.accounts import Account, AccountStatus, Balance, Side, Sums
from strongroom.domain.chain import GENESIS, Entry, canonical, link
from strongroom.domain.errors import InsufficientFunds, UnbalancedTransaction
from strongroom.domain.money import MAX_AMOUNT
from strongroom.domain.transactions import (
    Effect,
    EntryType,
    Line,
    Posting,
    Transaction,
    TxStatus,
    apply_postings,
    check_lines,
    move_sums,
    postings_for,
    settle_lines,
)

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
ACCOUNT_IDS = ["@world", "user:1", "user:2", "shop", "fees"]

account_ids = st.sampled_from(ACCOUNT_IDS)
sides = st.sampled_from([Side.DEBIT, Side.CREDIT])
small_amounts = st.integers(min_value=1, max_value=10_000)
any_amounts = st.integers(min_value=1, max_value=MAX_AMOUNT)
large_amounts = st.integers(min_value=1, max_value=MAX_AMOUNT // 3)  # three still fit in 2^63
sums_values = st.builds(
    Sums,
    st.integers(0, 50_000),
    st.integers(0, 50_000),
    st.integers(0, 50_000),
    st.integers(0, 50_000),
)
limits = st.one_of(st.none(), st.just(0), st.integers(0, 20_000))
texts = st.text(alphabet=st.characters(codec="utf-8"), max_size=12)
times = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
)


def _line(account: str, side: Side, amount: int) -> Line:
    return Line(account, side.value, amount)


def _debits(lines: tuple[Line, ...] | list[Line]) -> int:
    return sum(x.amount for x in lines if x.side == Side.DEBIT.value)


def _credits(lines: tuple[Line, ...] | list[Line]) -> int:
    return sum(x.amount for x in lines if x.side == Side.CREDIT.value)


@st.composite
def balanced_lines(draw: st.DrawFn, amounts: st.SearchStrategy[int] = small_amounts) -> list[Line]:
    """2 to 6 lines whose debits equal their credits, in shuffled order."""
    debit_amounts = draw(st.lists(amounts, min_size=1, max_size=3))
    credit_amounts: list[int] = []
    for amount in debit_amounts:  # each debit is matched by one or two credits
        cut = draw(st.none() | st.integers(1, amount - 1)) if amount > 1 else None
        credit_amounts += [amount] if cut is None else [cut, amount - cut]
    lines = [_line(draw(account_ids), Side.DEBIT, a) for a in debit_amounts]
    lines += [_line(draw(account_ids), Side.CREDIT, a) for a in credit_amounts]
    return draw(st.permutations(lines))


@st.composite
def accounts_of(draw: st.DrawFn, ids: list[str]) -> dict[str, Account]:
    """Active accounts with random sums, normal sides and overdraft limits."""
    return {
        account_id: Account(
            id=account_id,
            currency="USD",
            normal_balance=draw(sides),
            status=AccountStatus.ACTIVE,
            overdraft_limit=draw(limits),
            metadata={},
            sums=draw(sums_values),
            version=1,
            created_at=T0,
        )
        for account_id in ids
    }


def _unlimited(accounts: dict[str, Account]) -> dict[str, Account]:
    return {k: dataclasses.replace(a, overdraft_limit=None) for k, a in accounts.items()}


def _with_sums(accounts: dict[str, Account], sums: dict[str, Sums]) -> dict[str, Account]:
    return {k: dataclasses.replace(a, sums=sums.get(k, a.sums)) for k, a in accounts.items()}


# -- lines balance ---------------------------------------------------------------


@given(balanced_lines(large_amounts))
def test_accepted_lines_balance(lines: list[Line]) -> None:
    """Lines that check_lines accepts have debits equal to credits."""
    checked = check_lines(lines)
    assert _debits(checked) == _credits(checked)
    assert checked == tuple(lines)


@given(
    st.lists(st.tuples(account_ids, sides, small_amounts), min_size=2, max_size=8).filter(
        lambda raw: (
            sum(a for _, s, a in raw if s is Side.DEBIT)
            != sum(a for _, s, a in raw if s is Side.CREDIT)
        )
    )
)
def test_unbalanced_lines_are_refused(raw: list[tuple[str, Side, int]]) -> None:
    """Lines whose debits differ from their credits raise UNBALANCED_TRANSACTION."""
    lines = [{"account": a, "side": s.value, "amount": n} for a, s, n in raw]
    with pytest.raises(UnbalancedTransaction) as caught:
        check_lines(lines)
    assert caught.value.extra["debits"] != caught.value.extra["credits"]


@given(balanced_lines(), st.data())
def test_changing_one_amount_unbalances_lines(lines: list[Line], data: st.DataObject) -> None:
    """Changing the amount of any one line of a balanced transaction makes it unbalanced."""
    i = data.draw(st.integers(0, len(lines) - 1))
    new = data.draw(small_amounts.filter(lambda n: n != lines[i].amount))
    lines[i] = dataclasses.replace(lines[i], amount=new)
    with pytest.raises(UnbalancedTransaction):
        check_lines(lines)


# -- overdraft limits ---------------------------------------------------------------


def _lowered_below_limit(accounts: dict[str, Account], sums: dict[str, Sums]) -> set[str]:
    """The accounts whose available the new sums lower to below their limit."""
    found = set()
    for account_id, new in sums.items():
        account = accounts[account_id]
        before = account.balance.available
        after = Balance.of(new, account.normal_balance).available
        limit = account.overdraft_limit
        if limit is not None and after < before and after < -limit:
            found.add(account_id)
    return found


@given(accounts_of(ACCOUNT_IDS), balanced_lines(), st.sampled_from([Effect.POST, Effect.PEND]))
def test_applied_postings_respect_the_overdraft_limit(
    accounts: dict[str, Account], lines: list[Line], effect: Effect
) -> None:
    """apply_postings either refuses, or leaves every account it lowered within its limit."""
    with suppress(InsufficientFunds):
        sums, _ = apply_postings(postings_for(lines, effect), accounts)
        assert _lowered_below_limit(accounts, sums) == set()


@given(accounts_of(ACCOUNT_IDS), balanced_lines(), st.sampled_from([Effect.POST, Effect.PEND]))
def test_insufficient_funds_exactly_when_a_limit_would_break(
    accounts: dict[str, Account], lines: list[Line], effect: Effect
) -> None:
    """INSUFFICIENT_FUNDS is raised when, and only when, an account would break its limit."""
    postings = postings_for(lines, effect)
    unchecked, _ = apply_postings(postings, _unlimited(accounts))
    breaking = _lowered_below_limit(accounts, unchecked)
    if not breaking:
        assert apply_postings(postings, accounts)[0] == unchecked
        return
    with pytest.raises(InsufficientFunds) as caught:
        apply_postings(postings, accounts)
    account = accounts[caught.value.extra["account"]]
    assert account.id in breaking
    required = (
        account.balance.available
        - Balance.of(unchecked[account.id], account.normal_balance).available
    )
    assert caught.value.extra["required"] == required


@given(accounts_of(ACCOUNT_IDS), balanced_lines())
def test_apply_postings_matches_move_sums_one_by_one(
    accounts: dict[str, Account], lines: list[Line]
) -> None:
    """The sums after each posting are those of move_sums applied in order."""
    postings = postings_for(lines, Effect.POST)
    sums, after = apply_postings(postings, _unlimited(accounts))
    running = {k: a.sums for k, a in accounts.items()}
    for posting, recorded in zip(postings, after, strict=True):
        running[posting.account] = move_sums(running[posting.account], posting)
        assert recorded == running[posting.account]
    assert sums == {k: running[k] for k in sums}


# -- holds ------------------------------------------------------------------------------


@given(accounts_of(ACCOUNT_IDS), balanced_lines())
def test_releasing_a_hold_restores_pending_sums(
    accounts: dict[str, Account], lines: list[Line]
) -> None:
    """Pending a hold's lines and then releasing them gives back the original sums."""
    accounts = _unlimited(accounts)
    held, _ = apply_postings(postings_for(lines, Effect.PEND), accounts)
    released, _ = apply_postings(postings_for(lines, Effect.RELEASE), _with_sums(accounts, held))
    assert released == {k: accounts[k].sums for k in released}


def _hold(lines: tuple[Line, ...]) -> Transaction:
    return Transaction(
        id="tx_hold",
        seq=1,
        status=TxStatus.PENDING,
        currency="USD",
        lines=lines,
        description="",
        metadata={},
        kind=None,
        hash=GENESIS,
        created_at=T0,
    )


@given(
    accounts_of(["user:1", "shop"]),
    small_amounts,
    st.data(),
)
def test_posting_part_of_a_hold_releases_the_rest(
    accounts: dict[str, Account], held: int, data: st.DataObject
) -> None:
    """Settling part of a two-line hold drops pending by the whole hold, posts only the part."""
    accounts = _unlimited(accounts)
    hold = _hold((_line("user:1", Side.DEBIT, held), _line("shop", Side.CREDIT, held)))
    part = data.draw(st.integers(1, held))
    pending, _ = apply_postings(postings_for(hold.lines, Effect.PEND), accounts)
    settled = postings_for(hold.lines, Effect.RELEASE)
    settled += postings_for(settle_lines(hold, part), Effect.POST)
    final, _ = apply_postings(settled, _with_sums(accounts, pending))
    user, shop = accounts["user:1"].sums, accounts["shop"].sums
    assert final["user:1"] == dataclasses.replace(user, posted_debits=user.posted_debits + part)
    assert final["shop"] == dataclasses.replace(shop, posted_credits=shop.posted_credits + part)


# -- signs ------------------------------------------------------------------------------


def _mirror(s: Sums) -> Sums:
    return Sums(s.posted_credits, s.posted_debits, s.pending_credits, s.pending_debits)


@given(sums_values)
def test_normal_sides_mirror_each_other(sums: Sums) -> None:
    """A credit-normal balance equals the debit-normal balance of the mirrored sums."""
    credit = Balance.of(sums, Side.CREDIT)
    debit = Balance.of(_mirror(sums), Side.DEBIT)
    assert (credit.posted, credit.available) == (debit.posted, debit.available)
    assert (credit.pending_debits, credit.pending_credits) == (
        debit.pending_credits,
        debit.pending_debits,
    )


@given(
    st.integers(-1, MAX_AMOUNT + 1),
    st.integers(-1, MAX_AMOUNT + 1),
    st.integers(-1, MAX_AMOUNT + 1),
    st.integers(-1, MAX_AMOUNT + 1),
    sides,
)
def test_sums_give_their_available_balance_and_whether_they_fit(
    a: int, b: int, c: int, d: int, normal: Side
) -> None:
    """``Sums.available`` is the Balance's; ``fits`` holds exactly when every sum is in range."""
    sums = Sums(a, b, c, d)
    assert sums.available(normal) == Balance.of(sums, normal).available
    assert sums.fits() == all(0 <= v <= MAX_AMOUNT for v in (a, b, c, d))


@given(sums_values, sides, small_amounts)
def test_posting_on_the_normal_side_raises_the_balance(
    sums: Sums, normal: Side, amount: int
) -> None:
    """A posted amount on the normal side raises posted and available by it; opposite lowers."""
    before = Balance.of(sums, normal)
    for side, sign in ((normal, 1), (normal.opposite, -1)):
        after = Balance.of(move_sums(sums, Posting("a", side, amount, Effect.POST)), normal)
        assert after.posted == before.posted + sign * amount
        assert after.available == before.available + sign * amount


@given(sums_values, sides, small_amounts)
def test_pending_takes_out_of_available_only_on_the_opposite_side(
    sums: Sums, normal: Side, amount: int
) -> None:
    """A pending amount never moves posted; it lowers available only on the opposite side."""
    before = Balance.of(sums, normal)
    held_out = Balance.of(
        move_sums(sums, Posting("a", normal.opposite, amount, Effect.PEND)), normal
    )
    held_in = Balance.of(move_sums(sums, Posting("a", normal, amount, Effect.PEND)), normal)
    assert held_out.posted == held_in.posted == before.posted
    assert held_out.available == before.available - amount
    assert held_in.available == before.available


@given(sums_values, sides)
def test_available_is_posted_minus_what_holds_take_out(sums: Sums, normal: Side) -> None:
    """posted is signed by the normal side; available subtracts the opposite side's pending."""
    balance = Balance.of(sums, normal)
    sign = 1 if normal is Side.CREDIT else -1
    assert balance.posted == sign * (sums.posted_credits - sums.posted_debits)
    taken = sums.pending_debits if normal is Side.CREDIT else sums.pending_credits
    assert balance.available == balance.posted - taken


# -- the hash chain --------------------------------------------------------------------

postings_values = st.lists(
    st.builds(Posting, account_ids, sides, any_amounts, st.sampled_from(list(Effect))),
    min_size=1,
    max_size=4,
)
metadata_values = st.dictionaries(texts, texts, max_size=3)
FIELDS: dict[str, st.SearchStrategy[Any]] = {
    "tenant": texts,
    "seq": st.integers(1, 2**62),
    "transaction_id": texts,
    "type": st.sampled_from(list(EntryType)),
    "currency": st.sampled_from(["USD", "EUR", "JPY", "CHIPS"]),
    "postings": postings_values,
    "description": texts,
    "kind": st.none() | texts,
    "metadata": metadata_values,
    "reverses": st.none() | texts,
    "expires_at": st.none() | times,
    "created_at": times,
}
entries = st.builds(Entry, **FIELDS)
hashes = st.binary(min_size=32, max_size=32).map(bytes.hex)


@given(entries, hashes)
def test_link_is_deterministic(entry: Entry, prev: str) -> None:
    """The same entry after the same hash always gives the same hash, even when rebuilt."""
    rebuilt = Entry(
        **{f.name: getattr(entry, f.name) for f in dataclasses.fields(Entry)}
        | {"postings": list(entry.postings), "metadata": dict(reversed(entry.metadata.items()))}
    )
    assert link(prev, entry) == link(prev, entry) == link(prev, rebuilt)
    assert canonical(entry) == canonical(rebuilt)


@given(entries, hashes, st.sampled_from(sorted(FIELDS)), st.data())
def test_changing_any_field_changes_the_hash(
    entry: Entry, prev: str, name: str, data: st.DataObject
) -> None:
    """Changing any one field of an entry changes its canonical form and its hash."""
    old = getattr(entry, name)
    new = data.draw(FIELDS[name].filter(lambda value: value != old))
    changed = dataclasses.replace(entry, **{name: new})
    assert canonical(changed) != canonical(entry)
    assert link(prev, changed) != link(prev, entry)


@given(entries, hashes, hashes)
def test_changing_the_previous_hash_changes_the_hash(entry: Entry, prev: str, other: str) -> None:
    """The same entry chained after a different hash gets a different hash."""
    assume(prev != other)
    assert link(prev, entry) != link(other, entry)
