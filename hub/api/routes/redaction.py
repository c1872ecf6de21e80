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
from hub.api.routes.clips import _item, _refuse_unservable
from hub.domain.acl import Permission
from hub.domain.custody import CustodyAction
from hub.domain.records import EvidenceItem
from hub.exhibits.derive.redaction import FixedBox, FollowingBox, RedactionPlan
from hub.exhibits.derive.video_pass import DeriveError
from hub.services import redaction_frames
from hub.services.auth import Principal

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


class DrawnBox(BaseModel):
    """A box drawn on the frame, in pixels of the source; times in seconds from the first
    frame. Fixed: covers ``from_s``..``to_s`` (null: from the start, to the end). Following:
    tracked from where it was drawn at ``at_s``."""

    model_config = ConfigDict(extra="forbid")
    x: int = Field(ge=0)
    y: int = Field(ge=0)
    w: int = Field(gt=0)
    h: int = Field(gt=0)
    from_s: float | None = Field(default=None, ge=0, le=MAX_SECONDS)
    to_s: float | None = Field(default=None, ge=0, le=MAX_SECONDS)
    follow: bool = False
    at_s: float | None = Field(default=None, ge=0, le=MAX_SECONDS)


class PreviewBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    t: float = Field(ge=0, le=MAX_SECONDS, description="Seconds from the clip's first frame")
    faces: bool = True
    boxes: list[DrawnBox] = Field(default_factory=list, max_length=50)


def _plan(item: EvidenceItem, body: PreviewBody) -> RedactionPlan:
    problems = []
    fixed, following = [], []
    for n, box in enumerate(body.boxes, start=1):
        if (
            item.width
            and item.height
            and (box.x + box.w > item.width or box.y + box.h > item.height)
        ):
            problems.append(
                f"box {n} ({box.x},{box.y} {box.w}x{box.h}) reaches outside the"
                f" {item.width}x{item.height} frame"
            )
        if box.from_s is not None and box.to_s is not None and box.to_s <= box.from_s:
            problems.append(f"box {n} must end after it starts")
        rect = (box.x, box.y, box.w, box.h)
        if box.follow:
            following.append(FollowingBox(rect, box.at_s or 0.0))
        else:
            fixed.append(FixedBox(rect, box.from_s or 0.0, box.to_s))
    if problems:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "; ".join(problems))
    return RedactionPlan(faces=body.faces, fixed=tuple(fixed), following=tuple(following))


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
    item = await _item(hub, clip_id, user, Permission.EVIDENCE_MANAGE)
    await _refuse_unservable(hub, user, item)
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
    item = await _item(hub, clip_id, user, Permission.EVIDENCE_MANAGE)
    await _refuse_unservable(hub, user, item)
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
