"""The custody log, read only: rows in order, and a check of the whole hash chain."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from hub.acl import Permission
from hub.api.deps import Hub, require
from hub.api.schemas import AuditRowOut, AuditVerifyOut
from hub.auth import Principal

router = APIRouter(prefix="/api/audit", tags=["audit"])

AuditReader = Annotated[Principal, Depends(require(Permission.AUDIT_READ))]


@router.get("", response_model=list[AuditRowOut], summary="Custody log rows after a seq")
async def list_audit(
    hub: Hub,
    user: AuditReader,
    after_seq: Annotated[int, Query(ge=0, description="Rows after this seq")] = 0,
    limit: Annotated[int, Query(ge=1, le=5000)] = 1000,
    subject: Annotated[
        str | None, Query(max_length=80, description="Only rows about this, e.g. clip:ID")
    ] = None,
) -> list[AuditRowOut]:
    rows = await hub.service.audit.arows(
        subjects=() if subject is None else (subject,), after_seq=after_seq, limit=limit
    )
    return [AuditRowOut.of(row) for row in rows]


@router.get("/verify", response_model=AuditVerifyOut, summary="Recompute the hash chain")
async def verify_audit(hub: Hub, user: AuditReader) -> AuditVerifyOut:
    ok, first_bad = await hub.service.audit.averify_chain()
    return AuditVerifyOut(ok=ok, first_bad_seq=first_bad)
