"""The chain head and verification."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from strongroom.api.deps import AdminLedger, ReadLedger
from strongroom.api.routes._common import problems
from strongroom.api.schemas import HeadOut, VerifyOut

router = APIRouter(prefix="/v1/ledger", tags=["integrity"])


@router.get("/head", response_model=HeadOut, responses=problems())
def head(ledger: ReadLedger) -> dict[str, Any]:
    """The last link of the tenant's hash chain."""
    found = ledger.head_info()
    return {"seq": found.seq, "hash": found.hash, "at": found.at if found.seq else None}


@router.post("/verify", response_model=VerifyOut, responses=problems())
def verify(ledger: AdminLedger) -> dict[str, Any]:
    """Check the chain and every account's sums against a replay of the journal."""
    return ledger.verify().to_dict()
