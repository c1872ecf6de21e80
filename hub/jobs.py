"""Clip jobs: the rules for a job request and for progress reports, and their dispatch over MQTT.

``check_window`` and ``progress_update`` are pure. ``JobService`` stores a job and its audit row
in one transaction, publishes the ``Job`` retained on ``sites/{site}/jobs/{job}``, signed with the
hub's key for that topic (``cctv_common.wire.hub_signing``: an agent acts on no job it cannot
verify), clears that retained message when the job ends, and re-publishes every open job after each
(re)connect, so a job created while the broker was away still reaches its site.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final, Protocol

from sqlite_utils import Database

from cctv_common.clock import iso_utc, utc_now
from cctv_common.refusals import Refusals
from cctv_common.wire.hub_signing import HubSigner
from cctv_common.wire.job_state import JobState, can_move
from cctv_common.wire.payloads import MAX_JOB_WINDOW, InvalidPayload, Job, JobProgress
from cctv_common.wire.topics import InvalidTopic, job_topic
from hub import repository as repo
from hub.audit import AuditAction, append_in
from hub.db import HubDatabase
from hub.repository import CameraRecord, JobRecord

log = logging.getLogger(__name__)

# A request may reach this far past the hub's clock (clocks differ a little); no further.
CLOCK_SLACK: Final = timedelta(seconds=60)
DEFAULT_PRIORITY: Final = 5
# As long as the broker keeps the hub's session: older clears cannot have been lost in it.
RECLEAR_WINDOW: Final = timedelta(days=7)


class Publisher(Protocol):
    def __call__(self, topic: str, payload: bytes, *, retain: bool = False) -> None: ...


def no_publish(topic: str, payload: bytes, *, retain: bool = False) -> None:
    """The publisher of a hub without a broker: nothing leaves (jobs go out on connect)."""


class JobRequestError(Exception):
    """A job request that cannot be accepted; ``status`` is the HTTP status to answer with."""

    status = 422

    def __init__(self, message: str) -> None:
        self.message = message
        super().__init__(message)


class UnknownSite(JobRequestError):
    status = 404


class UnknownCamera(JobRequestError):
    status = 422


class BadWindow(JobRequestError):
    status = 422


def check_window(
    start: datetime, end: datetime, now: datetime, camera: CameraRecord | None = None
) -> None:
    """Refuse windows no agent could cut; each message says what is wrong and what to do."""
    for name, moment in (("start", start), ("end", end)):
        if moment.tzinfo is None or moment.utcoffset() is None:
            raise BadWindow(f"{name} has no time zone: give UTC, e.g. 2024-03-01T12:00:00Z")
    if end <= start:
        raise BadWindow(f"end {iso_utc(end)} is not after start {iso_utc(start)}")
    if end - start > MAX_JOB_WINDOW:
        hours = (end - start).total_seconds() / 3600
        raise BadWindow(f"the window is {hours:g} h, over the 24 h limit: split the request")
    if start > now + CLOCK_SLACK:
        raise BadWindow(f"start {iso_utc(start)} is in the future (hub time {iso_utc(now)})")
    if end > now + CLOCK_SLACK:
        raise BadWindow(
            f"end {iso_utc(end)} is in the future (hub time {iso_utc(now)}): footage that has not"
            " been recorded yet cannot be requested"
        )
    if camera is not None and camera.buffer_start is not None and end <= camera.buffer_start:
        raise BadWindow(
            f"camera {camera.camera_id} at site {camera.site_id} holds footage from"
            f" {iso_utc(camera.buffer_start)} only: the window ends before that"
        )


@dataclass(frozen=True)
class JobUpdate:
    state: JobState
    percent: int
    error: str | None
    clip_id: str | None


def progress_update(job: JobRecord, progress: JobProgress) -> JobUpdate | None:
    """What an agent's progress report changes, or None to ignore it.

    A job that has ended stays ended, and a job moves only as ``JobState``'s table allows (an
    upload never goes back to cutting). "stored" is the hub's own decision (after it verified and
    stored the clip), so an agent's "stored" is never taken on its word.
    """
    if job.is_terminal or progress.state is JobState.STORED:
        return None
    if not can_move(job.state, progress.state):
        return None
    failed = progress.state is JobState.FAILED
    update = JobUpdate(
        state=progress.state,
        percent=100 if failed else progress.percent,
        error=progress.error if failed else None,
        clip_id=progress.clip_id or job.clip_id,
    )
    if (update.state, update.percent, update.error, update.clip_id) == (
        job.state,
        job.percent,
        job.error,
        job.clip_id,
    ):
        return None
    return update


def job_message(job: JobRecord) -> Job:
    return Job(
        job_id=job.id,
        camera_id=job.camera_id,
        start=job.start,
        end=job.end,
        priority=job.priority,
        reason=job.reason,
        requested_by=job.requested_by,
    )


def new_job_id() -> str:
    return f"job-{uuid.uuid4().hex}"


class JobService:
    def __init__(
        self,
        database: HubDatabase,
        publish: Publisher = no_publish,
        *,
        signer: HubSigner,
        now: Callable[[], datetime] = utc_now,
        refusals: Refusals | None = None,
    ) -> None:
        self._database = database
        self.publish: Publisher = publish
        self._signer = signer
        self._now = now
        self._refusals = refusals or Refusals(log)

    def _publish_job(self, job: JobRecord) -> None:
        topic = job_topic(job.site_id, job.id)
        self.publish(topic, self._signer.seal(topic, job_message(job)), retain=True)

    async def create(
        self,
        *,
        site_id: str,
        camera_id: str,
        start: datetime,
        end: datetime,
        reason: str,
        requested_by: str,
        priority: int = DEFAULT_PRIORITY,
    ) -> JobRecord:
        """Check, store (with its ``dispatch`` audit row) and publish a job, or JobRequestError."""
        now = self._now()
        start, end = start.astimezone(UTC), end.astimezone(UTC)

        def insert(db: Database) -> JobRecord:
            site = repo.get_site(db, site_id)
            if site is None:
                raise UnknownSite(f"site {site_id} is not registered at this hub")
            camera = repo.get_camera(db, site_id, camera_id)
            if camera is None:
                known = [c.camera_id for c in repo.list_cameras(db, site_id)]
                listed = ", ".join(known) if known else "none yet (it has not reported status)"
                raise UnknownCamera(
                    f"site {site_id} has not reported a camera {camera_id}; its cameras: {listed}"
                )
            check_window(start, end, now, camera)
            job = JobRecord(
                id=new_job_id(),
                site_id=site_id,
                camera_id=camera_id,
                start=start,
                end=end,
                reason=reason,
                priority=priority,
                requested_by=requested_by,
                state=JobState.DISPATCHED,
                percent=0,
                error=None,
                clip_id=None,
                created_at=now,
                updated_at=now,
            )
            repo.insert_job(db, job)
            append_in(
                db,
                requested_by,
                AuditAction.DISPATCH,
                f"job:{job.id}",
                {
                    "site_id": site_id,
                    "camera_id": camera_id,
                    "start": iso_utc(start),
                    "end": iso_utc(end),
                    "reason": reason,
                },
                at=now,
            )
            return job

        job = await self._database.awrite(insert)
        log.info(
            "job %s dispatched to site %s camera %s (%s to %s) by %s",
            job.id,
            site_id,
            camera_id,
            iso_utc(start),
            iso_utc(end),
            requested_by,
        )
        self._publish_job(job)
        return job

    async def apply_progress(self, site_id: str, job_id: str, payload: bytes) -> None:
        try:
            progress = JobProgress.parse(payload)
        except InvalidPayload as exc:
            self._refusals.refuse(
                "progress", "site %s job %s: progress dropped: %s", site_id, job_id, exc
            )
            return
        if progress.job_id != job_id:
            self._refusals.refuse(
                "progress",
                "site %s: progress for job %s came on the topic of job %s; dropped",
                site_id,
                progress.job_id,
                job_id,
            )
            return
        now = self._now()

        def apply(db: Database) -> tuple[JobRecord | None, JobRecord | None]:
            job = repo.get_job(db, job_id)
            if job is None or job.site_id != site_id:
                return None, None
            update = progress_update(job, progress)
            if update is None:
                return job, None
            return job, repo.update_job(
                db,
                job_id,
                state=update.state,
                percent=update.percent,
                error=update.error,
                clip_id=update.clip_id,
                now=now,
            )

        before, after = await self._database.awrite(apply)
        if before is None:
            log.warning("site %s: progress for unknown job %s dropped", site_id, job_id)
            return
        if after is None:
            return
        if after.state != before.state:
            log.info(
                "site %s job %s: %s -> %s%s",
                site_id,
                job_id,
                before.state,
                after.state,
                f" ({after.error})" if after.error else "",
            )
        if after.is_terminal:
            self.clear(after.site_id, after.id)

    def clear(self, site_id: str, job_id: str) -> None:
        """Remove the retained job message: the job has ended."""
        try:
            topic = job_topic(site_id, job_id)
        except InvalidTopic as exc:
            log.error("cannot clear job %s of site %s: %s", job_id, site_id, exc)
            return
        self.publish(topic, b"", retain=True)

    async def clear_recently_ended(self, within: timedelta = RECLEAR_WINDOW) -> int:
        """Clear the retained message of every job that ended lately, again.

        A clear published while the broker was away is lost if the hub restarts before it
        reconnects; the stale retained job would then reach an agent that has forgotten it.
        Clearing twice is harmless, so every (re)connect clears what ended within ``within``.
        """
        since = self._now() - within
        jobs = await self._database.aread(lambda db: repo.jobs_ended_since(db, since))
        for job in jobs:
            self.clear(job.site_id, job.id)
        return len(jobs)

    async def republish_open(self) -> int:
        """Publish every open job again (retained); agents ignore jobs they already know."""
        jobs = await self._database.aread(repo.open_jobs)
        for job in jobs:
            self._publish_job(job)
        if jobs:
            log.info("re-published %s open job(s)", len(jobs))
        return len(jobs)
