"""The error hierarchy: stable codes, statuses and the problem-document body."""

from __future__ import annotations

import pytest

from strongroom.domain import errors

COMMITTED_CODES = {
    "INTERNAL_ERROR": 500,
    "VALIDATION_ERROR": 400,
    "UNAUTHENTICATED": 401,
    "FORBIDDEN": 403,
    "NOT_FOUND": 404,
    "METHOD_NOT_ALLOWED": 405,
    "PAYLOAD_TOO_LARGE": 413,
    "ALREADY_EXISTS": 409,
    "IDEMPOTENCY_IN_PROGRESS": 409,
    "HOLD_NOT_PENDING": 409,
    "INVALID_STATE": 409,
    "INSUFFICIENT_FUNDS": 422,
    "UNBALANCED_TRANSACTION": 422,
    "CURRENCY_MISMATCH": 422,
    "ACCOUNT_FROZEN": 422,
    "ACCOUNT_CLOSED": 422,
    "IDEMPOTENCY_KEY_REUSED": 422,
    "AMOUNT_EXCEEDS_HOLD": 422,
    "UNKNOWN_CURRENCY": 422,
    "AMOUNT_OVERFLOW": 422,
    "BATCH_ABORTED": 422,
    "QUOTA_EXCEEDED": 429,
    "RATE_LIMITED": 429,
    "STORAGE_UNAVAILABLE": 503,
}


def test_codes_equal_the_committed_list() -> None:
    """Every concrete error class has a code from the committed list, with its status."""
    found = {cls.code: cls.http_status for cls in errors.all_error_classes()}
    assert found == COMMITTED_CODES


def test_codes_are_unique() -> None:
    """No two classes share a code."""
    codes = [cls.code for cls in errors.all_error_classes()]
    assert len(codes) == len(set(codes))


def test_docstring_tree_names_every_code() -> None:
    """The tree drawn in errors.py's docstring lists every code."""
    doc = errors.__doc__ or ""
    missing = [code for code in COMMITTED_CODES if code not in doc]
    assert missing == []


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (errors.ValidationError("bad amount", loc=("amount",)), 400),
        (errors.InsufficientFunds("short", account="a"), 422),
        (errors.NotFound("gone"), 404),
    ],
    ids=["validation", "insufficient", "not-found"],
)
def test_problem_body_carries_code_and_status(error: errors.StrongroomError, status: int) -> None:
    """to_dict gives the RFC 9457 members plus the stable code."""
    body = error.to_dict()
    assert body["status"] == status
    assert body["code"] == error.code
    assert body["detail"] == error.detail
    assert body["title"]


def test_validation_error_lists_the_location() -> None:
    """A validation error says which field was wrong."""
    body = errors.ValidationError("must be > 0", loc=("lines", 1, "amount")).to_dict()
    assert body["errors"] == [{"loc": ["lines", 1, "amount"], "msg": "must be > 0"}]


@pytest.mark.parametrize(
    "error",
    [
        errors.InsufficientFunds("short", account="a", available=5),
        errors.ValidationError("bad", loc=("lines", 0, "amount")),
        errors.NotFound("gone"),
    ],
    ids=["insufficient", "validation", "not-found"],
)
def test_error_round_trips_through_its_problem_body(error: errors.StrongroomError) -> None:
    """error_from_dict rebuilds the same class, detail and extra members."""
    again = errors.error_from_dict(error.to_dict())
    assert type(again) is type(error)
    assert again.to_dict() == error.to_dict()


def test_unknown_code_becomes_the_base_class() -> None:
    """A code this version does not know still yields a StrongroomError."""
    again = errors.error_from_dict({"code": "SOMETHING_NEW", "detail": "x", "status": 418})
    assert type(again) is errors.StrongroomError
