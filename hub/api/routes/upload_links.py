"""Footage from elsewhere, for logged-in users: a request's upload links (supervisors make,
list and withdraw them; the token is shown once) and its outside items (listed with the
uploader's statement, "not from a site agent"; viewed or downloaded with HTTP Range, each
access a custody row)."""

from __future__ import annotations

from typing import Annotated, Any, Final

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request, Response, status
from pydantic import BaseModel, ConfigDict, Field

from cctv_common.clock import iso_utc
from hub.api.deps import Hub, require
from hub.api.ranged_bytes import not_satisfiable, ranged_response, requested_span
from hub.api.routes.requests import Reference
from hub.api.verified_bytes import require_verified
from hub.domain.acl import Permission
from hub.domain.http_range import RangeNotSatisfiable
from hub.domain.uploads.links import LinkDraft, UploadLink, UploadRefused
from hub.domain.uploads.records import OutsideItem
from hub.services.auth import Principal
from hub.services.outside.links import LinkListing

router = APIRouter(tags=["uploads"])

Supervisor = Annotated[Principal, Depends(require(Permission.REQUESTS_DECIDE))]
Reader = Annotated[Principal, Depends(require(Permission.REQUESTS_READ))]
Viewer = Annotated[Principal, Depends(require(Permission.FOOTAGE_VIEW))]
LinkId = Annotated[str, Path(pattern=r"^UPL-[0-9a-f]{16}$")]
OutsideId = Annotated[str, Path(pattern=r"^OUT-[0-9a-f]{16}$")]
MAX_TEXT: Final = 300


class LinkIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    recipient_name: str = Field(max_length=MAX_TEXT, description="Who the link is for")
    recipient_organisation: str = Field(default="", max_length=MAX_TEXT)
    recipient_email: str = Field(default="", max_length=MAX_TEXT)
    purpose: str = Field(max_length=MAX_TEXT, description="What footage is asked for, and why")
    valid_days: float | None = Field(default=None, gt=0, description="Default [uploads]")
    max_bytes: int | None = Field(default=None, gt=0, description="For all its files")
    max_files: int | None = Field(default=None, gt=0)


def refused(exc: UploadRefused) -> HTTPException:
    return HTTPException(exc.status, exc.message)


def link_out(link: UploadLink, hub: Hub, listing: LinkListing | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": link.id,
        "request": link.request,
        "recipient_name": link.recipient_name,
        "recipient_organisation": link.recipient_organisation,
        "recipient_email": link.recipient_email,
        "purpose": link.purpose,
        "created_by": link.created_by,
        "created_at": iso_utc(link.created_at),
        "expires_at": iso_utc(link.expires_at),
        "max_bytes": link.max_bytes,
        "max_files": link.max_files,
        "state": link.state(hub.now()).value,
        "revoked_at": None if link.revoked_at is None else iso_utc(link.revoked_at),
        "revoked_by": link.revoked_by,
    }
    if listing is not None:
        out |= {
            "files_started": listing.use.files,
            "bytes_reserved": listing.use.bytes,
            "files_stored": listing.stored,
        }
    return out


def item_out(item: OutsideItem) -> dict[str, Any]:
    return {
        "id": item.id,
        "request": item.request,
        "link": item.link_id,
        "filename": item.filename,
        "media_type": item.media_type,
        "kind": item.kind,
        "size": item.size,
        "sha256": item.sha256,
        "statement": item.statement,
        "uploaded_at": iso_utc(item.uploaded_at),
        "source": item.source,
        "receipt": item.receipt.decode("utf-8"),
        "receipt_signature": item.receipt_signature,
        "content_url": f"/api/outside-items/{item.id}/content",
    }


@router.post(
    "/api/requests/{reference}/upload-links",
    status_code=status.HTTP_201_CREATED,
    summary="Make an upload link for footage from elsewhere (its URL is shown once)",
)
async def create_link(
    reference: Reference, body: LinkIn, hub: Hub, user: Supervisor
) -> dict[str, Any]:
    defaults = hub.settings.uploads
    draft = LinkDraft(
        recipient_name=body.recipient_name,
        recipient_organisation=body.recipient_organisation,
        recipient_email=body.recipient_email,
        purpose=body.purpose,
        valid_days=body.valid_days or defaults.default_valid_days,
        max_bytes=body.max_bytes or defaults.default_max_bytes,
        max_files=body.max_files or defaults.default_max_files,
    )
    try:
        made = await hub.service.outside.links.create(reference, draft, user.username)
    except UploadRefused as exc:
        raise refused(exc) from exc
    path = f"/upload/{made.token}"
    base = hub.settings.requests.base_url.rstrip("/")
    return link_out(made.link, hub) | {"path": path, "url": base + path}


@router.get("/api/requests/{reference}/upload-links", summary="A request's upload links")
async def list_links(reference: Reference, hub: Hub, user: Supervisor) -> dict[str, Any]:
    listings = await hub.service.outside.links.listed(reference)
    return {"links": [link_out(found.link, hub, found) for found in listings]}


@router.post(
    "/api/requests/{reference}/upload-links/{link_id}/revoke", summary="Withdraw an upload link"
)
async def revoke_link(
    reference: Reference, link_id: LinkId, hub: Hub, user: Supervisor
) -> dict[str, Any]:
    try:
        link = await hub.service.outside.links.revoke(reference, link_id, user.username)
    except UploadRefused as exc:
        raise refused(exc) from exc
    return link_out(link, hub)


@router.get(
    "/api/requests/{reference}/outside-items",
    summary="Footage from elsewhere for a request (not from a site agent)",
)
async def list_items(reference: Reference, hub: Hub, user: Reader) -> dict[str, Any]:
    try:
        items = await hub.service.outside.items.for_request(reference, user.username, user.role)
    except UploadRefused as exc:
        raise refused(exc) from exc
    ids = [item.id for item in items]
    refs = await hub.service.storage.aread(lambda uow: uow.exhibit_refs.of_clips(ids))
    return {
        "items": [
            item_out(item)
            | {"exhibit_reference": refs[item.id].reference if item.id in refs else None}
            for item in items
        ]
    }


@router.get("/api/outside-items/{item_id}/content", summary="An outside item's bytes (Range)")
async def content(
    item_id: OutsideId,
    request: Request,
    hub: Hub,
    user: Viewer,
    download: Annotated[bool, Query()] = False,
) -> Response:
    if download:
        await require(Permission.FOOTAGE_DOWNLOAD)(user, hub, request)
    header = request.headers.get("range")
    try:
        item = await hub.service.outside.items.visible(item_id, user.username, user.role)
    except UploadRefused as exc:
        raise refused(exc) from exc
    await require_verified(
        hub,
        user,
        store_key=item.store_key,
        sha256=item.sha256,
        size=item.size,
        what=f"outside item {item.id}",
        subject=f"outside:{item.id}",
    )
    await hub.service.outside.items.record_access(
        item, user.username, download=download, first_byte=_first_byte(header)
    )
    try:
        span = requested_span(header, item.size)
    except RangeNotSatisfiable as exc:
        return not_satisfiable(exc, item.size)
    return ranged_response(
        hub.store.read_range(item.store_key, span.start, span.length),
        span,
        sha256=item.sha256,
        filename=item.id,
        disposition="attachment" if download else "inline",
        media_type=item.media_type,
    )


def _first_byte(header: str | None) -> int:
    """Where a Range starts (0 without one): a player's seeks are not each a new view."""
    if header is None:
        return 0
    spec = header.partition("=")[2].split(",")[0].strip()
    start = spec.partition("-")[0]
    return int(start) if start.isdigit() else -1
