"""Derived items (issue 12): order a working or redacted copy of an evidence item, follow it,
read it, and play or download its video.

Who may order: a redacted copy is the data controller's (``evidence.manage``: supervisors); a
court H.264 copy or a time-burnt copy, whoever may download the master (supervisors, and the
police officers of a request it was released to). Reading a derived item follows its master's
rights. Every view and download of a derived item's video is a custody row on its master.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime
from typing import Annotated, Any, Final, Literal

from fastapi import APIRouter, HTTPException, Path, Query, Request, Response, status
from pydantic import BaseModel, ConfigDict, Field

from hub.api.deps import ClipIdPath, CurrentUser, Hub
from hub.api.ranged_bytes import not_satisfiable, ranged_response, requested_span
from hub.api.routes.clips import evidence_item_for
from hub.api.verified_bytes import require_verified
from hub.domain.acl import Permission
from hub.domain.derived_items import (
    DERIVED_ID_PATTERN,
    MAX_BOXES,
    DerivedItem,
    DerivedState,
    DeriveOrder,
    DeriveRefused,
    RedactionBox,
    permission_for,
)
from hub.domain.http_range import RangeNotSatisfiable
from hub.domain.records import EvidenceItem
from hub.services.auth import Principal
from hub.services.custody import CustodyAction

log = logging.getLogger(__name__)

router = APIRouter(tags=["derived items"])

VIDEO_TYPE: Final = "video/mp4"
DerivedIdPath = Annotated[str, Path(pattern=DERIVED_ID_PATTERN, description="DRV-...")]


class _DeriveBody(BaseModel):
    model_config = ConfigDict(extra="forbid")


class BoxIn(_DeriveBody):
    x: int = Field(ge=0, le=16384, description="Left edge, pixels of the source frame")
    y: int = Field(ge=0, le=16384)
    w: int = Field(gt=0, le=16384)
    h: int = Field(gt=0, le=16384)
    from_s: float | None = Field(default=None, ge=0, le=86400, description="Fixed box: from")
    to_s: float | None = Field(default=None, ge=0, le=86400, description="Fixed box: to")
    follow: bool = Field(default=False, description="Follow the object drawn around")
    at_s: float | None = Field(
        default=None, ge=0, le=86400, description="Following box: when it was drawn"
    )


class DeriveIn(_DeriveBody):
    operation: Literal["h264", "timestamp", "redact"]
    reason: str = Field(default="", max_length=500, description="Required for redact")
    faces: bool = Field(default=True, description="Redact: blur the faces the detector finds")
    boxes: list[BoxIn] = Field(default_factory=list, max_length=MAX_BOXES)

    def order(self) -> DeriveOrder:
        boxes = tuple(RedactionBox(**box.model_dump()) for box in self.boxes)
        return DeriveOrder(self.operation, self.reason, self.faces, boxes)


def derived_out(item: DerivedItem) -> dict[str, Any]:
    ready = item.state is DerivedState.READY and item.deleted_at is None
    return {
        "derived_id": item.id,
        "clip_id": item.clip_id,
        "operation": item.operation,
        "state": item.state.value,
        "progress": 100 if ready else item.progress,
        "deleted_at": _t(item.deleted_at),
        "error": item.error,
        "sha256": item.sha256,
        "source_sha256": item.source_sha256,
        "bytes": item.size,
        "reason": item.reason,
        "plan": item.plan,
        "created_by": item.created_by,
        "created_at": _t(item.created_at),
        "finished_at": _t(item.finished_at),
        "manifest": None if item.manifest is None else json.loads(item.manifest),
        "signature": item.signature,
        "video_url": f"/api/derived/{item.id}/video" if ready else None,
    }


def _t(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat().replace("+00:00", "Z")


async def _derived(
    hub: Hub, derived_id: str, user: Principal, permission: Permission
) -> tuple[DerivedItem, EvidenceItem]:
    """The derived item and its master, if this user may use ``permission`` on the master."""
    item = await hub.service.derived.get(derived_id)
    if item is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no derived item {derived_id}")
    master = await evidence_item_for(hub, item.clip_id, user, permission)
    return item, master


@router.post(
    "/api/clips/{clip_id}/derived",
    status_code=status.HTTP_202_ACCEPTED,
    summary="Order a working copy (h264, timestamp) or a redacted copy of an evidence item",
)
async def order_derived(
    clip_id: ClipIdPath, body: DeriveIn, hub: Hub, user: CurrentUser
) -> dict[str, Any]:
    master = await evidence_item_for(hub, clip_id, user, permission_for(body.operation))
    if master.deleted_at is not None:
        raise HTTPException(status.HTTP_410_GONE, f"evidence item {clip_id} was deleted")
    check = await hub.service.integrity.last_check(master.store_key)
    if check is not None and not check.ok:
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            f"evidence item {clip_id} failed its integrity check: {check.problem}",
        )
    try:
        item = await hub.service.derived.order(master, body.order(), user.username)
    except DeriveRefused as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from exc
    return {"derived_id": item.id, "state": item.state.value}


@router.get("/api/clips/{clip_id}/derived", summary="An evidence item's derived items")
async def list_derived(clip_id: ClipIdPath, hub: Hub, user: CurrentUser) -> list[dict[str, Any]]:
    await evidence_item_for(hub, clip_id, user, Permission.CLIPS_READ)
    items = await hub.service.derived.of_clip(clip_id)
    return [derived_out(i) for i in items]


@router.get("/api/derived/{derived_id}", summary="One derived item: state, progress, manifest")
async def get_derived(derived_id: DerivedIdPath, hub: Hub, user: CurrentUser) -> dict[str, Any]:
    item, _ = await _derived(hub, derived_id, user, Permission.CLIPS_READ)
    return derived_out(item)


@router.get(
    "/api/derived/{derived_id}/video",
    summary="The derived item's MP4, with HTTP Range; ?download=1 for an attachment",
    response_class=Response,
    responses={
        200: {"content": {VIDEO_TYPE: {}}},
        206: {"content": {VIDEO_TYPE: {}}},
        409: {"description": "Not ready (still being made, or failed)"},
        416: {"description": "The range is malformed or outside the video"},
    },
)
async def get_derived_video(
    derived_id: DerivedIdPath,
    request: Request,
    hub: Hub,
    user: CurrentUser,
    download: Annotated[bool, Query(description="Send as an attachment")] = False,
) -> Response:
    permission = Permission.FOOTAGE_DOWNLOAD if download else Permission.FOOTAGE_VIEW
    item, master = await _derived(hub, derived_id, user, permission)
    if item.state is not DerivedState.READY or item.sha256 is None or item.size is None:
        raise HTTPException(
            status.HTTP_409_CONFLICT, f"derived item {derived_id} is {item.state.value}"
        )
    if master.deleted_at is not None:
        raise HTTPException(status.HTTP_410_GONE, f"evidence item {master.clip_id} was deleted")
    if item.deleted_at is not None:
        raise HTTPException(status.HTTP_410_GONE, f"derived item {derived_id} was deleted")
    key, size = item.sha256, item.size
    await require_verified(
        hub,
        user,
        store_key=key,
        sha256=key,
        size=size,
        what=f"derived item {derived_id}",
        subject=f"clip:{item.clip_id}",
        derived_id=derived_id,
    )
    try:
        span = requested_span(request.headers.get("range"), size)
    except RangeNotSatisfiable as exc:
        return not_satisfiable(exc, size)
    await _record_access(hub, user, item, download=download, start=span.start, length=span.length)
    return ranged_response(
        hub.store.read_range(key, span.start, span.length),
        span,
        sha256=key,
        filename=f"{derived_id}.mp4",
        disposition="attachment" if download else "inline",
        media_type=VIDEO_TYPE,
    )


async def _record_access(
    hub: Hub, user: Principal, item: DerivedItem, *, download: bool, start: int, length: int
) -> None:
    """A ``download`` row per download request; a ``view`` row per playback session; both on
    the master, naming the derived item."""
    subject = f"clip:{item.clip_id}"
    named = {"derived_id": item.id, "operation": item.operation, "sha256": item.sha256}
    if download:
        await hub.service.custody.aappend(
            user.username,
            CustodyAction.DOWNLOAD,
            subject,
            {**named, "what": "derived video", "first_byte": start, "bytes": length},
        )
        log.info("derived item %s: %s downloaded %s bytes", item.id, user.username, length)
        return
    if hub.views.is_new_view(user.session_key, item.id, hub.now()):
        await hub.service.custody.aappend(user.username, CustodyAction.VIEW, subject, named)
        log.info("derived item %s: %s started viewing", item.id, user.username)
