"""The public tus 1.0.0 endpoint for upload links (core, creation, termination, expiration):
``/api/tus/`` takes new uploads, ``/api/tus/{id}`` answers HEAD, PATCH and DELETE. No login:
every request carries the link's token in ``Upload-Token`` (the page sends it; never in a URL
that a log keeps). Unknown token or upload: 404; a link that has expired or was withdrawn:
410; a file over the link's limit: 413 before any byte is written; not a video or picture: 415
and deleted. Each client address is rate limited, and wrong tokens more strictly."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from email.utils import format_datetime
from typing import Annotated, Any, Final

from fastapi import APIRouter, Path, Request, Response, status
from fastapi.responses import JSONResponse
from starlette.requests import ClientDisconnect

from cctv_common.evidence.signing import key_id, public_key_pem
from hub.api.deps import Hub, client_address
from hub.api.routes.upload_links import item_out
from hub.domain.uploads.links import UploadLink, UploadRefused
from hub.domain.uploads.tus import TUS_EXTENSIONS, TUS_VERSION, check_version
from hub.services.outside.tus_server import PatchRequest

log = logging.getLogger(__name__)

router = APIRouter(prefix="/api/tus", tags=["uploads (public, tus)"])

TOKEN_HEADER: Final = "upload-token"  # noqa: S105 (a header name, not a secret)
UploadId = Annotated[str, Path(pattern=r"^[0-9a-f]{32}$")]


def _tus_headers(extra: dict[str, str] | None = None) -> dict[str, str]:
    return {"Tus-Resumable": TUS_VERSION, "Cache-Control": "no-store"} | (extra or {})


def _refusal(hub: Hub, request: Request, exc: UploadRefused) -> Response:
    if exc.status == status.HTTP_404_NOT_FOUND:
        hub.service.outside.gate.unknown_token(client_address(request))
    if request.method == "HEAD":
        return Response(status_code=exc.status, headers=_tus_headers())
    return JSONResponse({"detail": exc.message}, status_code=exc.status, headers=_tus_headers())


def _expires(link: UploadLink) -> dict[str, str]:
    return {"Upload-Expires": format_datetime(link.expires_at, usegmt=True)}


def _enter(hub: Hub, request: Request) -> str:
    hub.service.outside.gate.enter(client_address(request))
    check_version(request.headers.get("tus-resumable"))
    return request.headers.get(TOKEN_HEADER, "")


@router.options("/", include_in_schema=False)
@router.options("/{upload_id}", include_in_schema=False)
async def options() -> Response:
    return Response(
        status_code=status.HTTP_204_NO_CONTENT,
        headers={
            "Tus-Resumable": TUS_VERSION,
            "Tus-Version": TUS_VERSION,
            "Tus-Extension": TUS_EXTENSIONS,
        },
    )


@router.post("/", summary="Begin an upload (tus creation): Upload-Length, Upload-Metadata")
async def create(request: Request, hub: Hub) -> Response:
    try:
        token = _enter(hub, request)
        upload, link = await hub.service.outside.tus.create(
            token,
            request.headers.get("upload-length"),
            request.headers.get("upload-metadata"),
            client_address(request),
        )
    except UploadRefused as exc:
        return _refusal(hub, request, exc)
    return Response(
        status_code=status.HTTP_201_CREATED,
        headers=_tus_headers({"Location": f"/api/tus/{upload.id}", **_expires(link)}),
    )


@router.head("/{upload_id}", summary="Where an upload stands (tus core): Upload-Offset")
async def head(upload_id: UploadId, request: Request, hub: Hub) -> Response:
    try:
        token = _enter(hub, request)
        upload, link = await hub.service.outside.tus.head(token, upload_id)
    except UploadRefused as exc:
        return _refusal(hub, request, exc)
    return Response(
        status_code=status.HTTP_200_OK,
        headers=_tus_headers(
            {
                "Upload-Offset": str(upload.offset),
                "Upload-Length": str(upload.length),
                **_expires(link),
            }
        ),
    )


async def _body(request: Request, upload_id: str) -> AsyncIterator[bytes]:
    try:
        async for chunk in request.stream():
            if chunk:
                yield chunk
    except ClientDisconnect:
        log.info("upload %s: the connection was cut; it resumes from its offset", upload_id)


@router.patch("/{upload_id}", summary="Send bytes at the upload's offset (tus core)")
async def patch(upload_id: UploadId, request: Request, hub: Hub) -> Response:
    try:
        token = _enter(hub, request)
        upload = await hub.service.outside.tus.patch(
            token,
            upload_id,
            PatchRequest(
                content_type=request.headers.get("content-type"),
                offset=request.headers.get("upload-offset"),
                content_length=request.headers.get("content-length"),
            ),
            _body(request, upload_id),
        )
    except UploadRefused as exc:
        return _refusal(hub, request, exc)
    return Response(
        status_code=status.HTTP_204_NO_CONTENT,
        headers=_tus_headers({"Upload-Offset": str(upload.offset)}),
    )


@router.delete("/{upload_id}", summary="Cancel an unfinished upload (tus termination)")
async def terminate(upload_id: UploadId, request: Request, hub: Hub) -> Response:
    try:
        token = _enter(hub, request)
        await hub.service.outside.tus.terminate(token, upload_id)
    except UploadRefused as exc:
        return _refusal(hub, request, exc)
    return Response(status_code=status.HTTP_204_NO_CONTENT, headers=_tus_headers())


@router.get("/{upload_id}/receipt", summary="The hub's signed receipt for a finished upload")
async def receipt(upload_id: UploadId, request: Request, hub: Hub) -> Any:
    try:
        hub.service.outside.gate.enter(client_address(request))
        token = request.headers.get(TOKEN_HEADER, "")
        item = await hub.service.outside.tus.result(token, upload_id)
    except UploadRefused as exc:
        return _refusal(hub, request, exc)
    out = item_out(item)
    del out["content_url"]
    key = hub.service.hub_key
    return JSONResponse(
        out | {"hub_key_id": key_id(key), "hub_public_key_pem": public_key_pem(key)},
        headers=_tus_headers(),
    )
