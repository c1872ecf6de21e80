"""The custody log, read only: rows in order, a check of the whole log, and its signed head."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, status

from cctv_common.evidence.signing import public_key_pem
from hub.api.deps import CurrentUser, Hub, require
from hub.api.schemas import CheckpointOut, CustodyEventOut, CustodyVerifyOut
from hub.domain import acl
from hub.domain.acl import Permission
from hub.services.auth import Principal
from hub.services.custody_checks import custody_report

MAX_SEQ = 2**63 - 1  # SQLite's largest integer

router = APIRouter(prefix="/api/audit", tags=["audit"])

AuditReader = Annotated[Principal, Depends(require(Permission.AUDIT_READ))]


@router.get("", response_model=list[CustodyEventOut], summary="Custody log rows after a seq")
async def list_audit(
    hub: Hub,
    user: AuditReader,
    after_seq: Annotated[int, Query(ge=0, le=MAX_SEQ, description="Rows after this seq")] = 0,
    limit: Annotated[int, Query(ge=1, le=5000)] = 1000,
    subject: Annotated[
        str | None, Query(max_length=80, description="Only rows about this, e.g. clip:ID")
    ] = None,
) -> list[CustodyEventOut]:
    rows = await hub.service.custody.arows(
        subjects=() if subject is None else (subject,), after_seq=after_seq, limit=limit
    )
    return [CustodyEventOut.of(row) for row in rows]


@router.get(
    "/verify",
    response_model=CustodyVerifyOut,
    summary="Check the whole log: hash chain, signed checkpoints, item and job rows",
)
async def verify_audit(hub: Hub, user: AuditReader) -> CustodyVerifyOut:
    service = hub.service
    await service.checkpoints.acheckpoint()  # anchor the head first: the hub wrote it
    report = await asyncio.to_thread(
        custody_report, service.storage, hub.settings.checkpoint_path, service.hub_key.public_key()
    )
    return CustodyVerifyOut(
        ok=report.ok, first_bad_seq=report.first_bad_seq, problems=report.problems
    )


@router.get(
    "/checkpoint",
    response_model=CheckpointOut,
    summary="The custody log's head, signed by the hub (for exports and offline checks)",
    responses={404: {"description": "The log is empty"}},
)
async def checkpoint(hub: Hub, user: CurrentUser) -> CheckpointOut:
    if not (acl.may(user.role, Permission.AUDIT_READ) or acl.may(user.role, Permission.CLIPS_READ)):
        raise HTTPException(
            status.HTTP_403_FORBIDDEN, f"the {user.role.value} role may not read checkpoints"
        )
    signed = await hub.service.checkpoints.acheckpoint()
    if signed is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "the custody log is empty")
    return CheckpointOut(**signed.as_dict(), public_key_pem=public_key_pem(hub.service.hub_key))
