"""Evidence items: list, detail with custody rows, the exact signed manifest, and the video.

Only rows of ``evidence_items`` are served, and a row exists only for a clip whose signature,
chunk hashes and whole-file SHA-256 were verified at ingest. The video supports HTTP Range so a
``<video>`` element can seek. Playing writes one ``view`` row per playback session; a download
(``?download=1``, or the manifest) writes a ``download`` row.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Annotated, Final

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response, status
from fastapi.responses import StreamingResponse

from hub import acl
from hub import repository as repo
from hub.acl import Permission, Scope
from hub.api.deps import ClipIdPath, CurrentUser, Db, Hub, require
from hub.api.schemas import ClipDetail, ClipOut
from hub.audit import AuditAction
from hub.auth import Principal
from hub.evidence_store import NotInStore
from hub.http_range import RangeNotSatisfiable, parse_range
from hub.repository import EvidenceRecord

log = logging.getLogger(__name__)

router = APIRouter(prefix="/api/clips", tags=["clips"])

ClipReader = Annotated[Principal, Depends(require(Permission.CLIPS_READ))]
VIDEO_TYPE: Final = "video/mp4"


async def _item(hub: Hub, clip_id: str, user: Principal, permission: Permission) -> EvidenceRecord:
    """The evidence item if this user may use ``permission`` on it; else 403/404."""
    if not acl.may(user.role, permission):
        raise HTTPException(
            status.HTTP_403_FORBIDDEN, f"the {user.role.value} role may not use {permission.value}"
        )
    item = await hub.database.aread(lambda db: repo.get_evidence(db, clip_id))
    if item is None or not acl.may_access(
        user.role, permission, user=user.username, owner=item.requested_by
    ):
        # Not "forbidden": whether someone else's clip exists is not for this user to learn.
        raise HTTPException(
            status.HTTP_404_NOT_FOUND, f"no evidence item {clip_id} that you may see"
        )
    return item


@router.get("", response_model=list[ClipOut], summary="Evidence items, newest first")
async def list_clips(
    database: Db, user: ClipReader, limit: Annotated[int, Query(ge=1, le=1000)] = 200
) -> list[ClipOut]:
    own = acl.scope(user.role, Permission.CLIPS_READ) is Scope.OWN
    items = await database.aread(
        lambda db: repo.list_evidence(db, requested_by=user.username if own else None, limit=limit)
    )
    return [ClipOut.of(item) for item in items]


@router.get("/{clip_id}", response_model=ClipDetail, summary="Manifest, signature, custody rows")
async def get_clip(clip_id: ClipIdPath, hub: Hub, user: CurrentUser) -> ClipDetail:
    item = await _item(hub, clip_id, user, Permission.CLIPS_READ)
    custody = await hub.service.audit.arows(subjects=[f"clip:{clip_id}", f"job:{item.job_id}"])
    return ClipDetail.with_custody(item, custody)


@router.get(
    "/{clip_id}/manifest.json",
    summary="The manifest exactly as signed (verify with the signature in the clip's detail)",
    response_class=Response,
    responses={200: {"content": {"application/json": {}}}},
)
async def get_manifest(clip_id: ClipIdPath, hub: Hub, user: CurrentUser) -> Response:
    item = await _item(hub, clip_id, user, Permission.FOOTAGE_DOWNLOAD)
    await hub.service.audit.aappend(
        user.username, AuditAction.DOWNLOAD, f"clip:{clip_id}", {"what": "manifest"}
    )
    return Response(
        content=item.manifest.encode("utf-8"),
        media_type="application/json",
        headers={"Content-Disposition": f'attachment; filename="{clip_id}.manifest.json"'},
    )


@router.get(
    "/{clip_id}/video",
    summary="The clip (MP4), with HTTP Range for seeking",
    response_class=Response,
    status_code=status.HTTP_200_OK,
    responses={
        200: {"content": {VIDEO_TYPE: {}}, "description": "The whole clip"},
        206: {"content": {VIDEO_TYPE: {}}, "description": "The requested byte range"},
        416: {"description": "The range is malformed or outside the clip"},
    },
)
async def get_video(
    clip_id: ClipIdPath,
    request: Request,
    hub: Hub,
    user: CurrentUser,
    download: Annotated[bool, Query(description="Send as an attachment (a download)")] = False,
) -> Response:
    permission = Permission.FOOTAGE_DOWNLOAD if download else Permission.FOOTAGE_VIEW
    item = await _item(hub, clip_id, user, permission)
    try:
        size = await asyncio.to_thread(hub.store.size, item.store_key)
    except NotInStore as exc:
        log.error("clip %s: evidence %s is missing from the store", clip_id, item.store_key)
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"clip {clip_id} is not available") from exc
    if size != item.bytes:
        log.error("clip %s: stored file is %s bytes, the item says %s", clip_id, size, item.bytes)
        raise HTTPException(status.HTTP_500_INTERNAL_SERVER_ERROR, "the stored clip is damaged")
    headers = {
        "Accept-Ranges": "bytes",
        "ETag": f'"{item.sha256}"',
        "Cache-Control": "private, no-store",
        "Content-Disposition": (
            f'attachment; filename="{clip_id}.mp4"'
            if download
            else f'inline; filename="{clip_id}.mp4"'
        ),
    }
    try:
        wanted = parse_range(request.headers.get("range"), size)
    except RangeNotSatisfiable as exc:
        return Response(
            content=f"{exc}\n",
            status_code=status.HTTP_416_RANGE_NOT_SATISFIABLE,
            media_type="text/plain",
            headers={"Content-Range": f"bytes */{size}", "Accept-Ranges": "bytes"},
        )
    start, length = (0, size) if wanted is None else (wanted.start, wanted.length)
    await _record_access(hub, user, item, download=download, start=start, length=length)
    if wanted is not None:
        headers["Content-Range"] = wanted.content_range(size)
    headers["Content-Length"] = str(length)
    return StreamingResponse(
        hub.store.read_range(item.store_key, start, length),
        status_code=status.HTTP_200_OK if wanted is None else status.HTTP_206_PARTIAL_CONTENT,
        media_type=VIDEO_TYPE,
        headers=headers,
    )


async def _record_access(
    hub: Hub, user: Principal, item: EvidenceRecord, *, download: bool, start: int, length: int
) -> None:
    subject = f"clip:{item.clip_id}"
    if download:
        if start == 0:  # a download starts at byte 0; resumed parts are the same download
            await hub.service.audit.aappend(
                user.username, AuditAction.DOWNLOAD, subject, {"what": "video", "bytes": length}
            )
        return
    if hub.views.is_new_view(user.session_key, item.clip_id, hub.now()):
        await hub.service.audit.aappend(
            user.username, AuditAction.VIEW, subject, {"sha256": item.sha256}
        )
        log.info("clip %s: %s (%s) started viewing", item.clip_id, user.username, user.role.value)
