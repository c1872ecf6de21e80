"""The redaction dialog's two reads of a master: the frame at a time, and the preview of a
redaction plan on that frame (both JPEG, decoded from the stored master, which is only read).

Redaction decides what third parties see: the data controller's (``evidence.manage``,
supervisors). Anyone else gets 403 and a ``forbidden`` custody row. Every frame or preview
served is a ``view`` custody row on the clip, saying what was shown and at what time.
The redacted copy itself is ordered with ``POST /api/clips/{id}/derived`` (operation
``redact``), with the same boxes: the preview shows what that copy will show.
"""

from __future__ import annotations

import logging
from typing import Annotated, Any, Final

from fastapi import APIRouter, Depends, HTTPException, Query, status
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from hub.api.deps import ClipIdPath, Hub, require
from hub.api.routes.clips import evidence_item_for, refuse_unservable
from hub.api.routes.derived import BoxIn
from hub.domain.acl import Permission
from hub.domain.custody import CustodyAction
from hub.domain.derived_items import (
    MAX_BOXES,
    DeriveOrder,
    DeriveRefused,
    RedactionBox,
    check_order,
)
from hub.domain.records import EvidenceItem
from hub.exhibits.derive.redaction import RedactionPlan
from hub.exhibits.derive.video_pass import DeriveError
from hub.services import redaction_frames
from hub.services.auth import Principal
from hub.services.derived_items import redaction_plan

log = logging.getLogger(__name__)

router = APIRouter(prefix="/api/clips", tags=["redaction"])

RedactionUser = Annotated[Principal, Depends(require(Permission.EVIDENCE_MANAGE))]
JPEG: Final = "image/jpeg"
MAX_SECONDS: Final = 24 * 3600.0
_JPEG_RESPONSES: Final[dict[int | str, dict[str, Any]]] = {
    200: {"content": {JPEG: {}}, "description": "The frame (JPEG)"},
    403: {"description": "Only supervisors redact"},
    422: {"description": "No such time in the clip, or a box outside the picture"},
}


class PreviewBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    t: float = Field(ge=0, le=MAX_SECONDS, description="Seconds from the clip's first frame")
    faces: bool = True
    boxes: list[BoxIn] = Field(default_factory=list, max_length=MAX_BOXES)


def _plan(item: EvidenceItem, body: PreviewBody) -> RedactionPlan:
    """The plan ``POST /api/clips/{id}/derived`` would carry out with these faces and boxes
    (the same checks, the same conversion)."""
    boxes = tuple(RedactionBox(**box.model_dump()) for box in body.boxes)
    order = DeriveOrder("redact", "redaction preview", body.faces, boxes)
    if boxes:  # a preview of nothing (no faces, no boxes) is the frame itself: allowed
        try:
            order = check_order(order, width=item.width or 0, height=item.height or 0)
        except DeriveRefused as exc:
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from exc
    return redaction_plan(order)


def _jpeg(data: bytes) -> Response:
    return Response(data, media_type=JPEG, headers={"Cache-Control": "private, no-store"})


def _unreadable(item: EvidenceItem, user: Principal, exc: DeriveError) -> HTTPException:
    log.warning("clip %s: %s asked for a frame: %s", item.clip_id, user.username, exc)
    return HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc))


@router.get(
    "/{clip_id}/frame",
    response_class=Response,
    responses=_JPEG_RESPONSES,
    summary="The master's frame at t seconds (JPEG), for drawing redaction boxes",
)
async def get_frame(
    clip_id: ClipIdPath,
    hub: Hub,
    user: RedactionUser,
    t: Annotated[float, Query(ge=0, le=MAX_SECONDS, description="Seconds from the first frame")],
) -> Response:
    item = await evidence_item_for(hub, clip_id, user, Permission.EVIDENCE_MANAGE, "/frame")
    await refuse_unservable(hub, user, item)
    try:
        data = await redaction_frames.frame(hub.store, item, t)
    except DeriveError as exc:
        raise _unreadable(item, user, exc) from exc
    await hub.service.custody.aappend(
        user.username,
        CustodyAction.VIEW,
        f"clip:{clip_id}",
        {"what": "frame for redaction", "t": t, "sha256": item.sha256},
    )
    return _jpeg(data)


@router.post(
    "/{clip_id}/redaction-preview",
    response_class=Response,
    responses=_JPEG_RESPONSES,
    summary="The frame at t as the redacted copy with these faces and boxes will show it",
)
async def post_preview(
    clip_id: ClipIdPath, body: PreviewBody, hub: Hub, user: RedactionUser
) -> Response:
    item = await evidence_item_for(
        hub, clip_id, user, Permission.EVIDENCE_MANAGE, "/redaction-preview"
    )
    await refuse_unservable(hub, user, item)
    plan = _plan(item, body)
    try:
        data = await redaction_frames.preview(hub.store, item, plan, body.t)
    except DeriveError as exc:
        raise _unreadable(item, user, exc) from exc
    await hub.service.custody.aappend(
        user.username,
        CustodyAction.VIEW,
        f"clip:{clip_id}",
        {
            "what": "redaction preview",
            "t": body.t,
            "faces": body.faces,
            "boxes": len(body.boxes),
            "sha256": item.sha256,
        },
    )
    return _jpeg(data)
