"""Evidence items: list, detail with custody rows, the exact signed manifest, and the video.

Only rows of ``evidence_items`` are served, and a row exists only for a clip whose signature,
chunk hashes and whole-file SHA-256 were verified at ingest; its bytes are re-checked
(``hub.services.integrity``) and a damaged or deleted item is refused with the reason (409, 410).
The
video supports HTTP Range so a ``<video>`` element can seek. Playing writes one ``view`` row per
playback session; every download request (``?download=1``, or the manifest) writes a
``download`` row.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Iterator
from typing import Annotated, Final, NoReturn

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response, status

from cctv_common.clock import iso_utc
from hub.api.deps import ClipIdPath, CurrentUser, Hub, forbidden, require
from hub.api.ranged_bytes import not_satisfiable, ranged_response, requested_span
from hub.api.schemas import ClipDetail, ClipOut
from hub.domain import acl
from hub.domain.acl import Permission, Scope
from hub.domain.http_range import RangeNotSatisfiable
from hub.domain.records import EvidenceCheck, EvidenceItem
from hub.services.auth import Principal
from hub.services.custody import CustodyAction
from hub.storage.evidence.store import NotInStore
from hub.storage.evidence.verify import ObjectCheck, hashed_download

log = logging.getLogger(__name__)

router = APIRouter(prefix="/api/clips", tags=["clips"])

ClipReader = Annotated[Principal, Depends(require(Permission.CLIPS_READ))]
VIDEO_TYPE: Final = "video/mp4"


async def evidence_item_for(
    hub: Hub, clip_id: str, user: Principal, permission: Permission, path: str = ""
) -> EvidenceItem:
    """The evidence item if this user may use ``permission`` on it; else 403 (with its
    FORBIDDEN custody row, as every refused role gets) or 404."""
    if not acl.may(user.role, permission):
        raise await forbidden(hub, user, permission, "GET", f"/api/clips/{clip_id}{path}")
    item = await hub.service.evidence_items.get(clip_id)
    if item is None or not (
        acl.may_access(user.role, permission, user=user.username, owner=item.requested_by)
        or (
            acl.scope(user.role, permission) is Scope.OWN
            and await hub.service.requests.reports.may_view_item(user.username, item)
        )
    ):
        # Not "forbidden": whether someone else's clip exists is not for this user to learn.
        raise HTTPException(
            status.HTTP_404_NOT_FOUND, f"no evidence item {clip_id} that you may see"
        )
    return item


@router.get("", response_model=list[ClipOut], summary="Evidence items, newest first")
async def list_clips(
    hub: Hub, user: ClipReader, limit: Annotated[int, Query(ge=1, le=1000)] = 200
) -> list[ClipOut]:
    own = acl.scope(user.role, Permission.CLIPS_READ) is Scope.OWN
    items = await hub.service.evidence_items.recent_with_checks(
        requested_by=user.username if own else None, limit=limit
    )
    if own:
        # Police also see the items of footage requests released to them.
        seen = {item.clip_id for item, _ in items}
        released = await hub.service.requests.reports.released_items(user.username)
        extra = [item for item in released if item.clip_id not in seen]
        items += await hub.service.evidence_items.with_checks(extra)
    return [ClipOut.of(item, check) for item, check in items]


@router.get("/{clip_id}", response_model=ClipDetail, summary="Manifest, signature, custody rows")
async def get_clip(clip_id: ClipIdPath, hub: Hub, user: CurrentUser) -> ClipDetail:
    item = await evidence_item_for(hub, clip_id, user, Permission.CLIPS_READ)
    custody = await hub.service.custody.arows(subjects=[f"clip:{clip_id}", f"job:{item.job_id}"])
    check = await hub.service.integrity.last_check(item.store_key)
    return ClipDetail.with_custody(item, custody, check)


@router.get(
    "/{clip_id}/manifest.json",
    summary="The manifest exactly as signed (verify with the signature in the clip's detail)",
    response_class=Response,
    responses={200: {"content": {"application/json": {}}}},
)
async def get_manifest(clip_id: ClipIdPath, hub: Hub, user: CurrentUser) -> Response:
    item = await evidence_item_for(
        hub, clip_id, user, Permission.FOOTAGE_DOWNLOAD, "/manifest.json"
    )
    await hub.service.custody.aappend(
        user.username, CustodyAction.DOWNLOAD, f"clip:{clip_id}", {"what": "manifest"}
    )
    return Response(
        content=item.manifest.encode("utf-8"),
        media_type="application/json",
        headers={"Content-Disposition": f'attachment; filename="{clip_id}.manifest.json"'},
    )


@router.get(
    "/{clip_id}/video",
    summary="The clip (MP4), with HTTP Range for seeking; ?download=1 for an attachment",
    response_class=Response,
    status_code=status.HTTP_200_OK,
    responses={
        200: {"content": {VIDEO_TYPE: {}}, "description": "The whole clip"},
        206: {"content": {VIDEO_TYPE: {}}, "description": "The requested byte range"},
        409: {"description": "The stored clip failed its integrity check: not served"},
        410: {"description": "The evidence item was deleted"},
        416: {"description": "The range is malformed or outside the clip"},
    },
)
async def get_video(
    clip_id: ClipIdPath,
    request: Request,
    hub: Hub,
    user: CurrentUser,
    download: Annotated[
        bool, Query(description="Send as an attachment (a download; needs the download right)")
    ] = False,
) -> Response:
    """Viewing (the default) streams the clip inline for a player, and writes one ``view``
    custody row per playback session. ``?download=1`` needs the download right, is sent as an
    attachment, and writes one ``download`` row per request, whatever its range.

    A whole download is hashed as it is sent and cut short if it does not match the signed
    SHA-256. A range (a player's seek, a resumed download) is served only on a passed
    integrity check at most ``evidence.reverify_hours`` old; an older one is re-hashed first.
    """
    permission = Permission.FOOTAGE_DOWNLOAD if download else Permission.FOOTAGE_VIEW
    item = await evidence_item_for(hub, clip_id, user, permission, "/video")
    await refuse_unservable(hub, user, item)
    try:
        span = requested_span(request.headers.get("range"), item.bytes)
    except RangeNotSatisfiable as exc:
        return not_satisfiable(exc, item.bytes)
    whole_download = download and span.wanted is None
    if not whole_download:
        check = await hub.service.integrity.fresh_check(item)
        if not check.ok:
            await _refuse(hub, user, item, _damaged_message(item, check))
    await _record_access(hub, user, item, download=download, start=span.start, length=span.length)
    blocks = hub.store.read_range(item.store_key, span.start, span.length)
    return ranged_response(
        _hashed(hub, user, item, blocks) if whole_download else blocks,
        span,
        sha256=item.sha256,
        filename=f"{clip_id}.mp4",
        disposition="attachment" if download else "inline",
        media_type=VIDEO_TYPE,
    )


def _damaged_message(item: EvidenceItem, check: EvidenceCheck) -> str:
    return (
        f"evidence item {item.clip_id} failed its integrity check at"
        f" {iso_utc(check.checked_at)}: {check.problem}. It is not served as evidence; a"
        " supervisor can re-check it with `cctv-hub verify-store`"
    )


async def refuse_unservable(hub: Hub, user: Principal, item: EvidenceItem) -> None:
    """410 for a deleted item, 409 for one whose bytes are damaged or missing."""
    if item.deleted_at is not None:
        await _refuse(
            hub,
            user,
            item,
            f"evidence item {item.clip_id} was deleted at {iso_utc(item.deleted_at)} by"
            f" {item.deleted_by}; its video is gone",
            status.HTTP_410_GONE,
        )
    check = await hub.service.integrity.last_check(item.store_key)
    if check is not None and not check.ok:
        await _refuse(hub, user, item, _damaged_message(item, check))
    try:
        size = await asyncio.to_thread(hub.store.size, item.store_key)
    except NotInStore:
        size = None
    if size != item.bytes:
        problem = (
            "the stored file is missing"
            if size is None
            else f"the stored file is {size} bytes; the signed manifest says {item.bytes}"
        )
        check = await hub.service.integrity.record(
            ObjectCheck(item.store_key, False, problem, 0),
            by=f"read by {user.username}",
            clips=[item.clip_id],
        )
        await _refuse(hub, user, item, _damaged_message(item, check))


async def _refuse(
    hub: Hub,
    user: Principal,
    item: EvidenceItem,
    message: str,
    code: int = status.HTTP_409_CONFLICT,
) -> NoReturn:
    """Refuse with ``message``; one ``refused`` custody row per login session and item."""
    if hub.refusals.is_new_view(user.session_key, item.clip_id, hub.now()):
        await hub.service.custody.aappend(
            user.username, CustodyAction.REFUSED, f"clip:{item.clip_id}", {"reason": message}
        )
    raise HTTPException(code, message)


async def _hashed(
    hub: Hub, user: Principal, item: EvidenceItem, blocks: Iterator[bytes]
) -> AsyncIterator[bytes]:
    async def damaged(problem: str) -> None:
        await hub.service.integrity.record(
            ObjectCheck(item.store_key, False, problem, item.bytes),
            by=f"download by {user.username}",
            clips=[item.clip_id],
        )

    async def verified() -> None:
        await hub.service.integrity.record(
            ObjectCheck(item.store_key, True, None, item.bytes),
            by=f"download by {user.username}",
            clips=[item.clip_id],
        )

    async for block in hashed_download(blocks, item.sha256, damaged, verified):
        yield block


async def _record_access(
    hub: Hub, user: Principal, item: EvidenceItem, *, download: bool, start: int, length: int
) -> None:
    """A ``download`` row for every download request (each range too); a ``view`` row for each
    playback session (one viewer on one clip, requests no further apart than its window)."""
    subject = f"clip:{item.clip_id}"
    if download:
        await hub.service.custody.aappend(
            user.username,
            CustodyAction.DOWNLOAD,
            subject,
            {"what": "video", "first_byte": start, "bytes": length, "whole": length == item.bytes},
        )
        log.info(
            "clip %s: %s (%s) downloaded bytes %s-%s",
            item.clip_id,
            user.username,
            user.role.value,
            start,
            start + length - 1,
        )
        return
    if hub.views.is_new_view(user.session_key, item.clip_id, hub.now()):
        await hub.service.custody.aappend(
            user.username, CustodyAction.VIEW, subject, {"sha256": item.sha256}
        )
        log.info("clip %s: %s (%s) started viewing", item.clip_id, user.username, user.role.value)
