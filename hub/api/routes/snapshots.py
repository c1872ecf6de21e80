"""``GET /api/sites/{site}/cameras/{camera}/snapshot``: a camera's current picture (JPEG).

For the operator's camera picker: a preview, never evidence. The site is asked over MQTT; an
offline site is 503, an unknown camera 404, a camera that gives no picture 502, no reply 504.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException
from fastapi.responses import Response

from hub.api.deps import Hub, SiteIdPath, checked_id, require
from hub.domain.acl import Permission
from hub.services.auth import Principal
from hub.services.site_requests import SiteRequestError

router = APIRouter(prefix="/api/sites", tags=["sites"])

# Whoever may watch a camera live may see its current picture; engineers and auditors may not.
SnapshotViewer = Annotated[Principal, Depends(require(Permission.LIVE_VIEW))]


def camera_id_path(camera_id: str) -> str:
    return checked_id("camera", camera_id)


@router.get(
    "/{site_id}/cameras/{camera_id}/snapshot",
    response_class=Response,
    responses={200: {"content": {"image/jpeg": {}}, "description": "The camera's picture now"}},
    summary="A camera's current picture, for choosing cameras (not evidence)",
)
async def snapshot(
    site_id: SiteIdPath,
    camera_id: Annotated[str, Depends(camera_id_path)],
    hub: Hub,
    user: SnapshotViewer,
) -> Response:
    try:
        picture = await hub.service.snapshots.take(user.username, site_id, camera_id)
    except SiteRequestError as exc:
        raise HTTPException(exc.status, str(exc)) from exc
    return Response(
        picture.jpeg,
        media_type="image/jpeg",
        headers={"Cache-Control": "no-store", "X-Snapshot-Source": picture.source},
    )
