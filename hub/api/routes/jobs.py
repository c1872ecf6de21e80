"""Clip jobs: dispatch one, list them with their progress, read one.

A job whose clip is stored carries its ``delivery``: how much of the window the clip holds and
the gaps in it (``hub.services.delivery``), so that nobody reads "stored" as "all of it" when it is
not.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, status

from hub.api.deps import Hub, JobIdPath, require
from hub.api.schemas import JobCreate, JobOut
from hub.domain import acl
from hub.domain.acl import Permission, Scope
from hub.domain.job_rules import JobRequestError
from hub.services.auth import Principal

router = APIRouter(prefix="/api/jobs", tags=["jobs"])

JobCreator = Annotated[Principal, Depends(require(Permission.JOBS_CREATE))]
JobReader = Annotated[Principal, Depends(require(Permission.JOBS_READ))]


@router.post(
    "",
    response_model=JobOut,
    status_code=status.HTTP_201_CREATED,
    summary="Ask a site for a clip of one camera over a UTC window",
    responses={
        404: {"description": "The site is not registered"},
        422: {"description": "Unknown camera, or a window no agent could cut (says why)"},
    },
)
async def create_job(body: JobCreate, hub: Hub, user: JobCreator) -> JobOut:
    try:
        job = await hub.service.jobs.create(
            site_id=body.site_id,
            camera_id=body.camera_id,
            start=body.start,
            end=body.end,
            reason=body.reason,
            priority=body.priority,
            source=body.source,
            requested_by=user.username,
        )
    except JobRequestError as exc:
        raise HTTPException(exc.status, exc.message) from exc
    return JobOut.of(job)


@router.get("", response_model=list[JobOut], summary="Jobs, newest first, with their progress")
async def list_jobs(
    hub: Hub,
    user: JobReader,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> list[JobOut]:
    own = acl.scope(user.role, Permission.JOBS_READ) is Scope.OWN
    jobs = await hub.service.jobs.recent_with_delivery(
        requested_by=user.username if own else None, limit=limit
    )
    return [JobOut.of(job, delivery) for job, delivery in jobs]


@router.get("/{job_id}", response_model=JobOut, summary="One job")
async def get_job(job_id: JobIdPath, hub: Hub, user: JobReader) -> JobOut:
    found = await hub.service.jobs.one_with_delivery(job_id)
    if found is None or not acl.may_access(
        user.role, Permission.JOBS_READ, user=user.username, owner=found[0].requested_by
    ):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no job {job_id} that you may see")
    return JobOut.of(*found)
