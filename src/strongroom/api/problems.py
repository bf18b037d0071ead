"""Every error as an RFC 9457 problem document carrying Strongroom's stable code."""

from __future__ import annotations

import json
import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from strongroom.api.schemas import ProblemOut
from strongroom.domain.errors import (
    MethodNotAllowed,
    NotFound,
    PayloadTooLarge,
    StrongroomError,
    Unauthenticated,
    ValidationError,
)

log = logging.getLogger("strongroom.api")
PROBLEM = "application/problem+json"
PROBLEM_SCHEMA = "ProblemOut"
PROBLEM_SCHEMA_REF = "#/components/schemas/" + PROBLEM_SCHEMA
_FASTAPI_VALIDATION_SCHEMAS = ("HTTPValidationError", "ValidationError")


def problem_body(error: StrongroomError, request: Request | None = None) -> dict[str, Any]:
    body = error.to_problem()
    if request is not None:
        body["instance"] = request.url.path
        request_id = getattr(request.state, "request_id", None)
        if request_id:
            body["request_id"] = request_id
    return body


def problem_response(error: StrongroomError, request: Request | None = None) -> JSONResponse:
    headers = {}
    if error.replayed:
        headers["Idempotent-Replayed"] = "true"
    if isinstance(error, Unauthenticated):
        headers["WWW-Authenticate"] = "Bearer"
    retry_after = error.extra.get("retry_after")
    if retry_after is not None:
        headers["Retry-After"] = str(retry_after)
    return JSONResponse(
        problem_body(error, request),
        status_code=error.http_status,
        media_type=PROBLEM,
        headers=headers,
    )


def _loc(raw: tuple[Any, ...]) -> list[Any]:
    return [part for part in raw if part not in {"body", "query", "path", "header"}] or list(raw)


async def _strongroom(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StrongroomError)
    return problem_response(exc, request)


async def _validation(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [{"loc": _loc(tuple(e.get("loc", ()))), "msg": e.get("msg", "")} for e in exc.errors()]
    first = errors[0] if errors else {"loc": [], "msg": "invalid request"}
    error = ValidationError(f"{'.'.join(map(str, first['loc']))}: {first['msg']}")
    error.extra["errors"] = errors
    return problem_response(error, request)


async def _http(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    mapped: StrongroomError
    detail = str(exc.detail)
    if exc.status_code == 400:
        mapped = ValidationError(detail)  # e.g. a body that is not valid UTF-8 or JSON
    elif exc.status_code == 401:
        mapped = Unauthenticated(detail)
    elif exc.status_code == 404:
        mapped = NotFound(f"no route for {request.method} {request.url.path}")
    elif exc.status_code == 405:
        mapped = MethodNotAllowed(f"{request.method} is not allowed on {request.url.path}")
    elif exc.status_code == 413:
        mapped = PayloadTooLarge(detail)
    else:
        body = problem_body(StrongroomError(detail), request)
        body.update(status=exc.status_code, title=detail)
        return JSONResponse(body, status_code=exc.status_code, media_type=PROBLEM)
    return problem_response(mapped, request)


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    request_id = getattr(request.state, "request_id", None)
    log.exception("unexpected error", extra={"request_id": request_id, "path": request.url.path})
    error = StrongroomError(
        f"an unexpected error occurred; quote request id {request_id} to the operator"
    )
    return problem_response(error, request)


def install(app: FastAPI) -> None:
    app.add_exception_handler(StrongroomError, _strongroom)
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(HTTPException, _http)
    app.add_exception_handler(Exception, _unexpected)


def document_problems(openapi: dict[str, Any]) -> dict[str, Any]:
    """Make FastAPI's OpenAPI document say what the server answers on errors.

    FastAPI adds a ``422 Validation Error`` (``HTTPValidationError``, as
    ``application/json``) to every operation that takes input and does not
    declare a 422 itself; this server answers a malformed request with ``400
    VALIDATION_ERROR`` as a problem document (see ``_validation``), which each
    route documents through ``routes._common.problems``. Those 422 entries and
    their schemas go; the schema the routes' problems refer to is made sure of.
    Changes ``openapi`` in place and returns it.
    """
    for operations in openapi.get("paths", {}).values():
        for operation in operations.values():
            responses = operation.get("responses", {})
            validation = responses.get("422")
            if validation is not None and PROBLEM not in validation.get("content", {}):
                del responses["422"]
    schemas = openapi.setdefault("components", {}).setdefault("schemas", {})
    for name in _FASTAPI_VALIDATION_SCHEMAS:  # in this order: the first refers to the second
        if f'"#/components/schemas/{name}"' not in json.dumps(openapi):
            schemas.pop(name, None)
    schemas.setdefault(
        PROBLEM_SCHEMA, ProblemOut.model_json_schema(ref_template="#/components/schemas/{model}")
    )
    return openapi
