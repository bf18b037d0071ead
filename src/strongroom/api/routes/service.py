"""Health, readiness and metrics."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text

from strongroom.api.routes._common import problems
from strongroom.api.schemas import Health, Readiness
from strongroom.domain.errors import StorageUnavailable
from strongroom.engine.ledger import Ledger
from strongroom.store.migrate import current_revision, head_revision

router = APIRouter(tags=["service"])


@router.get("/healthz", response_model=Health, responses=problems())
async def healthz() -> dict[str, Any]:
    """The process is up."""
    return {"status": "ok"}


@router.get("/readyz", response_model=Readiness, responses=problems(StorageUnavailable))
def readyz(request: Request) -> dict[str, Any]:
    """The database answers and its schema is at the newest migration."""
    ledger: Ledger = request.app.state.ledger
    try:
        with ledger.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        revision = current_revision(ledger.engine)
    except Exception as exc:
        raise StorageUnavailable("the database does not answer") from exc
    if revision != head_revision():
        raise StorageUnavailable(f"migrations pending: at {revision}, code needs {head_revision()}")
    return {"status": "ok", "database": "ok", "migrations": revision}


@router.get("/metrics", response_class=Response, responses=problems())
def metrics() -> Response:
    """Prometheus metrics of this process."""
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
