"""The public library API: the names API.md fixes, under a sorted __all__."""

from __future__ import annotations

import strongroom


def test_all_is_sorted_and_complete() -> None:
    """__all__ is sorted and every name in it exists."""
    assert strongroom.__all__ == sorted(strongroom.__all__)
    missing = [name for name in strongroom.__all__ if not hasattr(strongroom, name)]
    assert missing == []


def test_contract_names_are_exported() -> None:
    """The names of the library contract in API.md are importable from strongroom."""
    for name in ("Ledger", "Line", "StrongroomError"):
        assert name in strongroom.__all__


def test_ledger_has_the_contract_methods() -> None:
    """Ledger offers every method the library contract names."""
    methods = {
        "open", "create_account", "get_account", "update_account", "transfer", "post",
        "post_pending", "void_pending", "reverse", "batch", "balance", "statement",
        "expire_holds", "head", "verify",
    }  # fmt: skip
    assert {m for m in methods if not callable(getattr(strongroom.Ledger, m, None))} == set()
