"""How a row becomes a driver's parameters for a statement compiled once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy.dialects import sqlite

from strongroom.store.prepared import _parameters, db_value

MOMENT = datetime(2026, 11, 23, 1, 2, 3, 456789, tzinfo=UTC)
ROW = {"id": "a", "at": MOMENT, "n": 7, "unused": "x"}


def test_positional_parameters_follow_the_statement_and_convert_only_times() -> None:
    on_sqlite = _parameters(("n", "at", "id", "n"), frozenset({"at"}), sqlite=True)
    assert list(on_sqlite(ROW)) == [7, "2026-11-23 01:02:03.456789", "a", 7]
    without_times = _parameters(("id", "n"), frozenset(), sqlite=True)
    assert tuple(without_times(ROW)) == ("a", 7)


def test_one_or_no_positional_parameter_is_still_a_sequence() -> None:
    assert _parameters(("id",), frozenset(), sqlite=True)(ROW) == ("a",)
    assert _parameters(("at",), frozenset({"at"}), sqlite=True)(ROW) == (
        "2026-11-23 01:02:03.456789",
    )
    assert _parameters((), frozenset(), sqlite=True)(ROW) == ()


def test_named_parameters_keep_the_row_and_convert_only_times() -> None:
    assert _parameters(None, frozenset(), sqlite=False)(ROW) is ROW
    assert _parameters(None, frozenset({"at"}), sqlite=True)(ROW) == {
        **ROW,
        "at": "2026-11-23 01:02:03.456789",
    }


@pytest.mark.parametrize("positions", [("at",), ("id", "at"), None])
def test_a_naive_time_is_refused(positions: tuple[str, ...] | None) -> None:
    naive = {**ROW, "at": MOMENT.replace(tzinfo=None)}
    with pytest.raises(ValueError, match="naive"):
        _parameters(positions, frozenset({"at"}), sqlite=True)(naive)


@pytest.mark.parametrize("year", [1, 999, 2026, 9999])
@pytest.mark.parametrize("microsecond", [0, 1, 999999])
def test_sqlite_times_are_stored_as_sqlalchemy_stores_them(year: int, microsecond: int) -> None:
    """Rows written raw and rows written through SQLAlchemy hold the same text,
    which sorts in time order (zero-padded years, always six digits of microseconds)."""
    moment = datetime(year, 1, 2, 3, 4, 5, microsecond, tzinfo=UTC)
    store = sqlite.DATETIME().bind_processor(sqlite.dialect())
    assert store is not None
    assert db_value(moment, sqlite=True) == store(moment.replace(tzinfo=None))


def test_one_instant_is_one_stored_text_in_any_zone() -> None:
    """Stored times are UTC: the same instant given in two zones, in either order
    (the conversion is cached by instant), is stored as the same text."""
    utc = datetime(2026, 11, 23, 1, 2, 3, 456789, tzinfo=UTC)
    paris = utc.astimezone(timezone(timedelta(hours=1)))
    assert (
        db_value(paris, sqlite=True) == db_value(utc, sqlite=True) == "2026-11-23 01:02:03.456789"
    )
    later = utc + timedelta(microseconds=1)
    assert db_value(later.astimezone(timezone(timedelta(hours=-5))), sqlite=True) == (
        "2026-11-23 01:02:03.456790"
    )
