"""The public library API: the names API.md fixes, under a sorted __all__."""

from __future__ import annotations

import inspect

import pytest

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


def _public_methods() -> list[tuple[str, inspect.Signature]]:
    return [
        (name, inspect.signature(member))
        for name, member in inspect.getmembers(strongroom.Ledger, callable)
        if not name.startswith("_")
    ]


def test_no_public_ledger_method_takes_arbitrary_keywords() -> None:
    """No public Ledger method has a **kwargs parameter: every keyword is named and typed."""
    loose = [
        f"{name}(**{param.name})"
        for name, signature in _public_methods()
        for param in signature.parameters.values()
        if param.kind is inspect.Parameter.VAR_KEYWORD
    ]
    assert loose == []


def test_every_public_ledger_parameter_is_annotated() -> None:
    """Every parameter of a public Ledger method (self aside) and its return carry a type."""
    bare = [
        f"{name}({param.name})"
        for name, signature in _public_methods()
        for param in signature.parameters.values()
        if param.name != "self" and param.annotation is inspect.Parameter.empty
    ]
    bare += [
        f"{name} -> ?"
        for name, signature in _public_methods()
        if signature.return_annotation is inspect.Signature.empty
    ]
    assert bare == []


def test_a_misspelt_keyword_fails_at_the_call() -> None:
    """An unknown keyword raises TypeError before anything reaches a database."""
    ledger = strongroom.Ledger.__new__(strongroom.Ledger)  # never opened: nothing to touch
    with pytest.raises(TypeError):
        ledger.create_account("a", currency="USD", overdraft=None)  # type: ignore[call-arg]
