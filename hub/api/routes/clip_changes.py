"""Changing an evidence item (supervisor): legal hold, owner, deletion. Each change and its
custody row are one transaction (``hub.services.evidence_items``)."""

from __future__ import annotations

import asyncio
import logging
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException

from hub.api.deps import ClipIdPath, Hub, require
from hub.api.schemas import ClipOut, HoldIn, ReasonIn, ReassignIn
from hub.domain.acl import Permission
from hub.services.auth import Principal
from hub.services.evidence_items import ItemChangeError, remove_deleted_bytes

log = logging.getLogger(__name__)

router = APIRouter(prefix="/api/clips", tags=["clips"])

Manager = Annotated[Principal, Depends(require(Permission.EVIDENCE_MANAGE))]
_ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"description": "No such evidence item"},
    409: {"description": "The item was deleted, or is under legal hold (for a deletion)"},
}


def _refused(exc: ItemChangeError) -> HTTPException:
    return HTTPException(exc.status, exc.message)


@router.put(
    "/{clip_id}/hold",
    response_model=ClipOut,
    summary="Place or lift a legal hold on an evidence item",
    responses=_ERRORS,
)
async def set_hold(clip_id: ClipIdPath, body: HoldIn, hub: Hub, user: Manager) -> ClipOut:
    now = hub.now()
    try:
        item = await hub.service.evidence_items.set_hold(
            clip_id, body.legal_hold, user.username, body.reason, now
        )
    except ItemChangeError as exc:
        raise _refused(exc) from exc
    log.info("clip %s: legal hold %s by %s", clip_id, body.legal_hold, user.username)
    return ClipOut.of(item)


@router.put(
    "/{clip_id}/owner",
    response_model=ClipOut,
    summary="Give an evidence item to another requester (who then sees it as their own)",
    responses={**_ERRORS, 422: {"description": "No such active user"}},
)
async def reassign(clip_id: ClipIdPath, body: ReassignIn, hub: Hub, user: Manager) -> ClipOut:
    now = hub.now()
    try:
        item = await hub.service.evidence_items.reassign(
            clip_id, body.owner, user.username, body.reason, now
        )
    except ItemChangeError as exc:
        raise _refused(exc) from exc
    log.info("clip %s: given to %s by %s", clip_id, body.owner, user.username)
    return ClipOut.of(item)


@router.delete(
    "/{clip_id}",
    response_model=ClipOut,
    summary="Delete an evidence item: its row stays as a record, its video is removed",
    responses=_ERRORS,
)
async def delete(clip_id: ClipIdPath, body: ReasonIn, hub: Hub, user: Manager) -> ClipOut:
    now = hub.now()
    try:
        deletion = await hub.service.evidence_items.delete(clip_id, user.username, body.reason, now)
    except ItemChangeError as exc:
        raise _refused(exc) from exc
    await asyncio.to_thread(remove_deleted_bytes, hub.store, deletion)
    item = deletion.item
    log.info("clip %s: deleted by %s (%s)", clip_id, user.username, body.reason)
    return ClipOut.of(item)
