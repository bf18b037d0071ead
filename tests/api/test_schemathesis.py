"""Schemathesis against /openapi.json on a running server: no 5xx, responses match schema."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.api.conftest import Server

EXAMPLES_PER_OPERATION = 25
# Schema-valid requests may still break a ledger rule (a past expiry, an unknown
# currency): those answer a documented 4xx, so positive-data acceptance is not
# among the checks. What must hold: no 5xx, and every answer matches its schema.
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
]


def _seed(server: Server, key: str) -> None:
    """Accounts and a hold, so that some generated ids and bodies hit real rows."""
    with server.client(key) as client:
        client.post(
            "/v1/accounts", json={"id": "@world", "currency": "USD", "overdraft_limit": None}
        )
        client.post("/v1/accounts", json={"id": "user", "currency": "USD"})
        client.post(
            "/v1/transfers", json={"from": "@world", "to": "user", "amount": 100, "currency": "USD"}
        )


def test_api_honours_its_own_schema(
    server: Server, new_tenant: Callable[[str], tuple[str, str]]
) -> None:
    """Every generated request to every operation gets a non-5xx, schema-conforming answer."""
    _, key = new_tenant("fuzz")
    _seed(server, key)
    headers = {"Authorization": f"Bearer {key}"}
    schema = schemathesis.openapi.from_url(f"{server.base_url}/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 20

    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES_PER_OPERATION,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def check(case: Any) -> None:
            case.call_and_validate(headers=headers, checks=CHECKS)

        check()
