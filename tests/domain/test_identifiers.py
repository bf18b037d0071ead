"""Identifiers are printable: a control character, a trailing newline included, is refused."""

from __future__ import annotations

import pytest

from strongroom.domain.accounts import check_account_id, is_label
from strongroom.domain.errors import ValidationError
from strongroom.domain.money import define_unit
from strongroom.domain.transactions import check_text

CONTROLS = ["\n", "\r", "\t", "\x00", "\x1b", "\x7f", "\x85", "\x9f"]
CONTROL_IDS = ["lf", "cr", "tab", "nul", "esc", "del", "nel", "apc"]


@pytest.mark.parametrize("control", CONTROLS, ids=CONTROL_IDS)
def test_an_account_id_with_a_trailing_control_character_is_refused(control: str) -> None:
    """``"x\\n"`` and the like are no account id (a regex ``$`` let one newline through)."""
    with pytest.raises(ValidationError):
        check_account_id("x" + control)


def test_a_unit_code_with_a_trailing_newline_is_refused() -> None:
    """``"CHIPS\\n"`` is no unit code."""
    with pytest.raises(ValidationError):
        define_unit("CHIPS\n", 0)


@pytest.mark.parametrize("control", CONTROLS, ids=CONTROL_IDS)
def test_a_kind_with_a_control_character_is_refused(control: str) -> None:
    """A transaction kind is a label: no control character anywhere in it."""
    with pytest.raises(ValidationError) as caught:
        check_text(f"deposit{control}", "kind", 64, optional=True)
    assert caught.value.loc == ("kind",)


def test_a_description_may_hold_a_newline() -> None:
    """Descriptions are prose, not labels: a newline stays allowed."""
    assert check_text("line one\nline two", "description", 1024, optional=False) == (
        "line one\nline two"
    )


@pytest.mark.parametrize("label", ["deposit", "a b", "café", "user:42"])
def test_printable_text_is_a_label(label: str) -> None:
    """Letters, digits, punctuation, spaces and non-ASCII letters make a label."""
    assert is_label(label)
