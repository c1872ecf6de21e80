"""The export package of a footage request (issue 12): ``GET /api/requests/{ref}/export``.

For the police officers of the request (the requester and named colleagues) and supervisors:
whoever may see the request and download its footage. The zip is built whole in a worker thread
before the first byte is sent (``hub.services.exhibit_export``); a failure answers a JSON error
and leaves no file. The temporary zip is removed once sent (or when the client goes away).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Path
from fastapi.responses import FileResponse
from starlette.background import BackgroundTask

from hub.api.deps import Hub, require
from hub.api.routes.requests import REFERENCE_PATTERN
from hub.domain.acl import Permission
from hub.services.auth import Principal
from hub.services.exhibit_export import ExportRefused, remove_quietly
from hub.services.requests.context import RequestError

router = APIRouter(prefix="/api/requests", tags=["requests"])

Downloader = Annotated[Principal, Depends(require(Permission.FOOTAGE_DOWNLOAD))]
Reference = Annotated[str, Path(pattern=REFERENCE_PATTERN, description="e.g. R-2026-0001")]


@router.get(
    "/{reference}/export",
    summary="The export package for court (zip): masters, derived items, custody, verifiers",
    response_class=FileResponse,
    responses={
        200: {"content": {"application/zip": {}}},
        409: {"description": "Not released yet, or a master no longer matches its manifest"},
    },
)
async def export_request(reference: Reference, hub: Hub, user: Downloader) -> FileResponse:
    try:
        # Visibility first: a request this user may not see is a 404, as everywhere.
        await hub.service.requests.reports.detail(reference, user.username, user.role)
    except RequestError as exc:
        raise HTTPException(exc.status, exc.message) from exc
    try:
        path, summary = await hub.service.exports.aexport(reference, user.username)
    except ExportRefused as exc:
        raise HTTPException(exc.status, exc.message) from exc
    return FileResponse(
        path,
        media_type="application/zip",
        filename=f"{reference}-{summary.package_id}.zip",
        headers={"Cache-Control": "private, no-store", "X-Package-Id": summary.package_id},
        background=BackgroundTask(remove_quietly, path),
    )
