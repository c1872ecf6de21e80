"""Live view signalling for the browser (``hub/static/live.js``); see ``hub.services.live``.

``POST /api/live/{site}/{camera}/offer`` with ``{sdp}`` returns ``{session_id, sdp}`` once the
site answered, or an error whose ``detail`` says why: site offline (503), unknown camera (404),
H.265 camera (415), viewer limit (429), camera unavailable (502), no answer in time (504).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, status
from pydantic import BaseModel, Field

from cctv_common.wire.payloads import MAX_SDP_CHARS
from hub.api.deps import Hub, SiteIdPath, checked_id, require
from hub.domain.acl import Permission, Role
from hub.services.auth import Principal
from hub.services.live import LiveRequestError
from hub.storage.worker_ports import LiveSessionRecord

router = APIRouter(prefix="/api/live", tags=["live"])

LiveViewer = Annotated[Principal, Depends(require(Permission.LIVE_VIEW))]


def camera_id_path(camera_id: str) -> str:
    return checked_id("camera", camera_id)


def session_id_path(session_id: str) -> str:
    return checked_id("live session", session_id)


CameraIdPath = Annotated[str, Depends(camera_id_path)]
SessionIdPath = Annotated[str, Depends(session_id_path)]


class OfferIn(BaseModel):
    sdp: str = Field(min_length=1, max_length=MAX_SDP_CHARS, description="The browser's SDP offer")


class AnswerOut(BaseModel):
    session_id: str
    sdp: str


class CandidateIn(BaseModel):
    candidate: str = Field(max_length=2000, description="ICE candidate line; empty: no more")
    sdp_mid: str | None = Field(default=None, max_length=64)
    sdp_mline_index: int | None = Field(default=None, ge=0, le=1000)


class ClosedOut(BaseModel):
    closed: bool


def _http(exc: LiveRequestError) -> HTTPException:
    return HTTPException(exc.status, str(exc))


async def _own_session(
    hub: Hub, user: Principal, site_id: str, camera_id: str, session_id: str
) -> LiveSessionRecord:
    """The open session, whichever hub worker started it (it is a row in the database)."""
    session = await hub.service.live.session(session_id)
    if session is None or (session.site_id, session.camera_id) != (site_id, camera_id):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no live session {session_id}")
    if session.username != user.username and user.role is not Role.SUPERVISOR:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "this live session is someone else's")
    return session


@router.post(
    "/{site_id}/{camera_id}/offer",
    response_model=AnswerOut,
    summary="Start watching a camera live: the browser's SDP offer in, the site's answer out",
)
async def offer(
    site_id: SiteIdPath, camera_id: CameraIdPath, body: OfferIn, hub: Hub, user: LiveViewer
) -> AnswerOut:
    try:
        session, sdp = await hub.service.live.offer(user.username, site_id, camera_id, body.sdp)
    except LiveRequestError as exc:
        raise _http(exc) from exc
    return AnswerOut(session_id=session.session_id, sdp=sdp)


@router.post(
    "/{site_id}/{camera_id}/sessions/{session_id}/candidate",
    response_model=ClosedOut,
    summary="A trickled ICE candidate of the browser",
)
async def candidate(
    site_id: SiteIdPath,
    camera_id: CameraIdPath,
    session_id: SessionIdPath,
    body: CandidateIn,
    hub: Hub,
    user: LiveViewer,
) -> ClosedOut:
    session = await _own_session(hub, user, site_id, camera_id, session_id)
    try:
        await hub.service.live.candidate(
            session, body.candidate, body.sdp_mid, body.sdp_mline_index
        )
    except LiveRequestError as exc:
        raise _http(exc) from exc
    return ClosedOut(closed=False)


@router.delete(
    "/{site_id}/{camera_id}/sessions/{session_id}",
    response_model=ClosedOut,
    summary="Stop watching (ends the session at the site)",
)
async def close(
    site_id: SiteIdPath,
    camera_id: CameraIdPath,
    session_id: SessionIdPath,
    hub: Hub,
    user: LiveViewer,
) -> ClosedOut:
    session = await _own_session(hub, user, site_id, camera_id, session_id)
    await hub.service.live.end(session, user.username, "closed by viewer")
    return ClosedOut(closed=True)
