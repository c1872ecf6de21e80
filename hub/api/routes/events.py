"""``GET /api/sites/{site}/cameras/{camera}/events``: a camera's motion and tamper events.

For the camera's timeline. Whoever may see sites and cameras may see their events, engineers
included: events are not footage. Times are UTC; without ``start`` and ``end`` the answer covers
the last 24 hours. A window over 31 days, reversed, or without a time zone is refused (422).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Final

from fastapi import APIRouter, Depends, HTTPException, Query, status

from cctv_common.clock import iso_utc
from hub.api.deps import Hub, SiteIdPath, checked_id, require
from hub.api.schemas import CameraEventOut, CameraEventsOut
from hub.domain.acl import Permission
from hub.services import camera_events
from hub.services.auth import Principal

router = APIRouter(prefix="/api/sites", tags=["events"])

EventReader = Annotated[Principal, Depends(require(Permission.SITES_READ))]
DEFAULT_WINDOW: Final = timedelta(hours=24)


def camera_id_path(camera_id: str) -> str:
    return checked_id("camera", camera_id)


def _window(
    start: datetime | None, end: datetime | None, now: datetime
) -> tuple[datetime, datetime]:
    for name, moment in (("start", start), ("end", end)):
        if moment is not None and moment.utcoffset() is None:
            raise HTTPException(
                status.HTTP_422_UNPROCESSABLE_CONTENT,
                f"{name} has no time zone: give UTC, e.g. 2024-03-01T12:00:00Z",
            )
    end = end or (now if start is None else start + DEFAULT_WINDOW)
    start = start or end - DEFAULT_WINDOW
    if end <= start:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            f"end {iso_utc(end)} is not after start {iso_utc(start)}",
        )
    if end - start > camera_events.MAX_QUERY_WINDOW:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            f"the window is over {camera_events.MAX_QUERY_WINDOW.days} days: ask for less",
        )
    return start, end


@router.get(
    "/{site_id}/cameras/{camera_id}/events",
    response_model=CameraEventsOut,
    summary="A camera's motion and tamper events over a UTC window (default: the last 24 h)",
    responses={
        404: {"description": "The site is not registered"},
        422: {"description": "A window without a time zone, reversed or over 31 days"},
    },
)
async def list_events(
    site_id: SiteIdPath,
    camera_id: Annotated[str, Depends(camera_id_path)],
    hub: Hub,
    user: EventReader,
    start: Annotated[datetime | None, Query(description="UTC, e.g. 2024-03-01T12:00:00Z")] = None,
    end: Annotated[datetime | None, Query(description="UTC; after start")] = None,
    limit: Annotated[int, Query(ge=1, le=camera_events.MAX_EVENTS_PER_ANSWER)] = 1000,
) -> CameraEventsOut:
    start, end = _window(start, end, hub.now())

    found = await hub.service.camera_events.between(site_id, camera_id, start, end, limit + 1)
    if found is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"site {site_id} is not registered")
    return CameraEventsOut(
        site_id=site_id,
        camera_id=camera_id,
        start=start,
        end=end,
        events=[CameraEventOut.of(event) for event in found[:limit]],
        truncated=len(found) > limit,
    )
