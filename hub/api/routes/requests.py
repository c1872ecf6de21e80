"""Footage requests: file, preview coverage, list, read, decide, re-run or extend a camera,
release, record the outcome, set retention, delete an item, and the daily retention list.

Each step is a custody row (``hub.services.requests``). A request someone may not see answers
404, not 403: whether another officer's request exists is not theirs to learn."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any, Final

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request, status

from hub.api.deps import CurrentUser, Hub, JobIdPath, SiteIdPath, checked_id, require
from hub.api.request_schemas import (
    DecisionIn,
    DeletionIn,
    OutcomeIn,
    ReleaseIn,
    RequestIn,
    RetentionIn,
    WindowIn,
    coverage_out,
    detail_out,
    summary,
)
from hub.domain.acl import Permission, Role
from hub.domain.request_records import RequestOutcome
from hub.domain.requests.decision import ControllerDecision, DecisionKind
from hub.domain.requests.request import CameraRef, IncidentWindow
from hub.domain.requests.retention import RetentionCategory
from hub.services.auth import Principal
from hub.services.requests.context import RequestError
from hub.services.requests.release import Recipient
from hub.services.requests.reports import RequestDetail

REFERENCE_PATTERN: Final = r"^R-[0-9]{4}-[0-9]{4,6}$"

router = APIRouter(prefix="/api/requests", tags=["requests"])
OUTSIDE_ID: Final = re.compile(r"^OUT-[0-9a-f]{16}$")

Filer = Annotated[Principal, Depends(require(Permission.REQUESTS_CREATE))]
Reader = Annotated[Principal, Depends(require(Permission.REQUESTS_READ))]
Decider = Annotated[Principal, Depends(require(Permission.REQUESTS_DECIDE))]
Fulfiller = Annotated[Principal, Depends(require(Permission.REQUESTS_FULFIL))]
Manager = Annotated[Principal, Depends(require(Permission.EVIDENCE_MANAGE))]
Reference = Annotated[str, Path(pattern=REFERENCE_PATTERN, description="e.g. R-2026-0001")]


def _refused(exc: RequestError) -> HTTPException:
    return HTTPException(exc.status, exc.message)


async def _detail(hub: Hub, reference: str, user: Principal) -> dict[str, Any]:
    try:
        found = await hub.service.requests.reports.detail(reference, user.username, user.role)
    except RequestError as exc:
        raise _refused(exc) from exc
    return detail_out(found, hub.now())


def _window(start: datetime | None, end: datetime | None) -> IncidentWindow | None:
    if start is None and end is None:
        return None
    if start is None or end is None:
        raise HTTPException(422, "give both window_start and window_end, or neither")
    for moment in (start, end):
        if moment.tzinfo is None:
            raise HTTPException(422, "a window time has no time zone: give UTC, e.g. ...Z")
    return IncidentWindow(start.astimezone(UTC), end.astimezone(UTC))


@router.post("", status_code=status.HTTP_201_CREATED, summary="File a footage request")
async def file_request(body: RequestIn, hub: Hub, user: Filer) -> dict[str, Any]:
    if user.role is Role.POLICE:
        if body.on_behalf_of not in (None, user.username):
            raise HTTPException(403, "police file requests for themselves only")
        requested_by = user.username
    else:
        if not body.on_behalf_of:
            raise HTTPException(422, "say which police user the request is for (on_behalf_of)")
        requested_by = body.on_behalf_of
    service = hub.service.requests
    try:
        record = await service.filing.file(
            body.draft(), requested_by=requested_by, filed_by=user.username
        )
        record = await service.deciding.try_rules(record)
    except RequestError as exc:
        raise _refused(exc) from exc
    return await _detail(hub, record.reference, user)


@router.post("/preview-coverage", summary="What each camera still holds of a window")
async def preview_coverage(body: RequestIn, hub: Hub, user: Reader) -> dict[str, Any]:
    """For the officer filing, and for the data controller deciding (the same flags)."""
    window = _window(body.window_start, body.window_end)
    if window is None or window.end <= window.start:
        return {"cameras": []}
    coverage, spans = await hub.service.requests.filing.coverage(body.cameras_asked(), window)
    return coverage_out(coverage, spans)


@router.get("", summary="Requests, newest first (police: theirs and those naming them)")
async def list_requests(
    hub: Hub,
    user: Reader,
    state: Annotated[str | None, Query(max_length=40)] = None,
    mine: Annotated[int, Query(ge=0, le=1)] = 0,
) -> dict[str, Any]:
    records = await hub.service.requests.reports.listed(
        user.username, user.role, state=state, mine=bool(mine)
    )
    return {"requests": [summary(record) for record in records]}


@router.get("/{reference}", summary="One request in full, with its timeline")
async def get_request(reference: Reference, hub: Hub, user: Reader) -> dict[str, Any]:
    return await _detail(hub, reference, user)


@router.post("/{reference}/decision", summary="Approve, approve part, or decline")
async def decide(reference: Reference, body: DecisionIn, hub: Hub, user: Decider) -> dict[str, Any]:
    decision = ControllerDecision(
        DecisionKind(body.outcome),
        decided_by=user.username,
        decided_at=hub.now(),
        reason=body.reason,
        cameras=tuple(CameraRef(c.site_id, c.camera_id) for c in body.cameras or ()),
        window=_window(body.window_start, body.window_end),
    )
    try:
        await hub.service.requests.deciding.decide(reference, decision)
    except RequestError as exc:
        raise _refused(exc) from exc
    return await _detail(hub, reference, user)


async def _found(hub: Hub, reference: str, user: Principal) -> RequestDetail:
    try:
        return await hub.service.requests.reports.detail(reference, user.username, user.role)
    except RequestError as exc:
        raise _refused(exc) from exc


async def _extra_job(
    hub: Hub, reference: str, user: Principal, camera: CameraRef, window: IncidentWindow | None
) -> dict[str, Any]:
    found = await _found(hub, reference, user)
    decision = found.record.decision
    if decision is None or decision.window is None:
        raise HTTPException(409, f"request {reference} has not been approved")
    if camera not in decision.cameras:
        raise HTTPException(422, f"camera {camera.label} is not approved in request {reference}")
    approved = decision.window
    window = window or approved
    if window.end <= window.start or not approved.contains(window):
        raise HTTPException(
            422, "the window must end after it starts and lie inside the approved window"
        )
    try:
        job_id = await hub.service.requests.deciding.extra_job(
            found.record, camera, window.start, window.end
        )
    except RequestError as exc:
        raise _refused(exc) from exc
    if job_id is None:
        raise HTTPException(422, "the clip job could not be made; the request's timeline says why")
    return {"job_id": job_id, **await _detail(hub, reference, user)}


@router.post("/{reference}/jobs/{job_id}/rerun", summary="Run a camera's clip job again")
async def rerun(
    reference: Reference, job_id: JobIdPath, hub: Hub, user: Fulfiller
) -> dict[str, Any]:
    found = await _found(hub, reference, user)
    job = next((j for j in found.jobs if j.id == job_id), None)
    if job is None:
        raise HTTPException(404, f"request {reference} has no job {job_id}")
    window = IncidentWindow(job.start, job.end)
    return await _extra_job(hub, reference, user, CameraRef(job.site_id, job.camera_id), window)


@router.post(
    "/{reference}/cameras/{site_id}/{camera_id}/extend",
    summary="A new clip job for a camera over another window (inside the approved one)",
)
async def extend(
    reference: Reference,
    site_id: SiteIdPath,
    camera_id: str,
    body: WindowIn,
    hub: Hub,
    user: Fulfiller,
) -> dict[str, Any]:
    camera = CameraRef(site_id, checked_id("camera", camera_id))
    window = _window(body.window_start, body.window_end)
    return await _extra_job(hub, reference, user, camera, window)


async def _releaser(user: CurrentUser, hub: Hub, request: Request) -> Principal:
    """Supervisors release; operators too when ``[requests] operator_may_release`` says so."""
    if user.role is Role.OPERATOR and hub.settings.requests.operator_may_release:
        return user
    return await require(Permission.REQUESTS_RELEASE)(user, hub, request)


Releaser = Annotated[Principal, Depends(_releaser)]


@router.post("/{reference}/release", summary="Release to the requester: a disclosure log entry")
async def release(
    reference: Reference, body: ReleaseIn, hub: Hub, user: Releaser
) -> dict[str, Any]:
    recipients = [Recipient(r.name, r.organisation, r.email) for r in body.recipients]
    try:
        await hub.service.requests.releasing.release(
            reference, recipients, body.purpose, user.username
        )
    except RequestError as exc:
        raise _refused(exc) from exc
    return await _detail(hub, reference, user)


@router.post("/{reference}/outcome", summary="The requester records what the footage led to")
async def outcome(reference: Reference, body: OutcomeIn, hub: Hub, user: Reader) -> dict[str, Any]:
    try:
        await hub.service.requests.releasing.outcome(
            reference, RequestOutcome(body.outcome), body.note, user.username
        )
    except RequestError as exc:
        raise _refused(exc) from exc
    return await _detail(hub, reference, user)


@router.post("/{reference}/retention", summary="Set the retention category and dates")
async def retention(
    reference: Reference, body: RetentionIn, hub: Hub, user: Decider
) -> dict[str, Any]:
    try:
        await hub.service.requests.releasing.set_retention(
            reference,
            RetentionCategory(body.category),
            body.review_at,
            body.case_closed_at,
            user.username,
        )
    except RequestError as exc:
        raise _refused(exc) from exc
    return await _detail(hub, reference, user)


@router.delete("/{reference}/items/{clip_id}", summary="Delete an item, with a reason")
async def delete_item(
    reference: Reference, clip_id: str, body: DeletionIn, hub: Hub, user: Manager
) -> dict[str, Any]:
    releasing = hub.service.requests.releasing
    try:
        if OUTSIDE_ID.match(clip_id):
            await releasing.delete_outside_item(reference, clip_id, body.reason, user.username)
        else:
            clip = checked_id("clip", clip_id)
            await releasing.delete_item(reference, clip, body.reason, user.username)
    except RequestError as exc:
        raise _refused(exc) from exc
    return await _detail(hub, reference, user)
