"""The chain head, verification and signed checkpoints."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from strongroom.api.deps import AdminLedger, ReadLedger
from strongroom.api.routes._common import KEYED, in_read_thread, problems
from strongroom.api.schemas import CheckpointPage, HeadOut, VerifyOut

router = APIRouter(prefix="/v1/ledger", tags=["integrity"])


@router.get("/head", response_model=HeadOut, responses=problems(*KEYED))
async def head(ledger: ReadLedger, request: Request) -> dict[str, Any]:
    """The last link of the tenant's hash chain."""
    found = await in_read_thread(request, ledger.head_info)
    return {"seq": found.seq, "hash": found.hash, "at": found.at if found.seq else None}


@router.post("/verify", response_model=VerifyOut, responses=problems(*KEYED))
async def verify(ledger: AdminLedger, request: Request) -> dict[str, Any]:
    """Check the chain and every account's sums against a replay of the journal."""
    return (await in_read_thread(request, ledger.verify)).to_dict()


@router.get("/checkpoints", response_model=CheckpointPage, responses=problems(*KEYED))
async def checkpoints(
    ledger: ReadLedger,
    request: Request,
    limit: Annotated[int, Query(ge=1, le=1000, description="Page size, 1 to 1000")] = 100,
    cursor: Annotated[str | None, Query(description="next_cursor of the previous page")] = None,
) -> dict[str, Any]:
    """Signed checkpoints of the chain head, oldest first (`strongroom checkpoint` makes them).

    Each carries its Ed25519 `signature` of `payload`, the canonical JSON of
    `{"at", "hash", "seq", "tenant"}`, and the signer's `public_key` and `key_id`.
    Keep copies elsewhere: if the journal up to `seq` is ever rewritten, entry
    `seq` no longer has `hash`.
    """
    page = await in_read_thread(request, ledger.list_checkpoints, limit=limit, cursor=cursor)
    return {"data": [c.to_dict() for c in page.data], "next_cursor": page.next_cursor}
