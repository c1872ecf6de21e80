"""Clip jobs: the rules for a job request and for progress reports, and their dispatch over MQTT.

The rules are pure (``hub.domain.job_rules``). ``JobService`` stores a job and its audit row
in one transaction, publishes the ``Job`` retained on ``sites/{site}/jobs/{job}``, signed with the
hub's key for that topic (``cctv_common.wire.hub_signing``: an agent acts on no job it cannot
verify), clears that retained message when the job ends, and re-publishes every open job after each
(re)connect, so a job created while the broker was away still reaches its site.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Final, Protocol

from cctv_common.clock import iso_utc, utc_now
from cctv_common.refusals import Refusals
from cctv_common.wire.hub_signing import HubSigner
from cctv_common.wire.job_state import JobState
from cctv_common.wire.payloads import FootageSource, InvalidPayload, JobProgress
from cctv_common.wire.topics import InvalidTopic, job_topic
from hub.domain.delivery_rules import Delivery
from hub.domain.job_rules import (
    DEFAULT_PRIORITY,
    CameraNotOnSite,
    UnknownSite,
    check_window,
    job_message,
    new_job_id,
    progress_update,
)
from hub.domain.records import ClipJob
from hub.services import delivery as deliveries
from hub.services.custody import CustodyAction
from hub.storage.ports import HubStorage, UnitOfWork

log = logging.getLogger(__name__)

# As long as the broker keeps the hub's session: older clears cannot have been lost in it.
RECLEAR_WINDOW: Final = timedelta(days=7)


class MessagePublisher(Protocol):
    def __call__(self, topic: str, payload: bytes, *, retain: bool = False) -> None: ...


def no_publish(topic: str, payload: bytes, *, retain: bool = False) -> None:
    """The publisher of a hub without a broker: nothing leaves (jobs go out on connect)."""


class JobService:
    def __init__(
        self,
        storage: HubStorage,
        publish: MessagePublisher = no_publish,
        *,
        signer: HubSigner,
        now: Callable[[], datetime] = utc_now,
        refusals: Refusals | None = None,
    ) -> None:
        self._storage = storage
        self.publish: MessagePublisher = publish
        self._signer = signer
        self._now = now
        self._refusals = refusals or Refusals(log)

    def _publish_job(self, job: ClipJob) -> None:
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
        source: FootageSource = "auto",
    ) -> ClipJob:
        """Check, store (with its ``dispatch`` audit row) and publish a job, or JobRequestError.
        ``source``: where the agent takes the footage from (``auto``: its choice)."""
        now = self._now()
        start, end = start.astimezone(UTC), end.astimezone(UTC)

        def insert(uow: UnitOfWork) -> ClipJob:
            # The camera first: a known camera is of a known site, so the usual dispatch reads
            # one row (one round trip); the site is read only to say what is wrong.
            camera = uow.sites.camera(site_id, camera_id)
            if camera is None:
                if uow.sites.get(site_id) is None:
                    raise UnknownSite(f"site {site_id} is not registered at this hub")
                known = [c.camera_id for c in uow.sites.cameras(site_id)]
                listed = ", ".join(known) if known else "none yet (it has not reported status)"
                raise CameraNotOnSite(
                    f"site {site_id} has not reported a camera {camera_id}; its cameras: {listed}"
                )
            check_window(start, end, now, camera, source)
            job = ClipJob(
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
                source=source,
            )
            uow.jobs.add(job)
            uow.custody.append(
                requested_by,
                CustodyAction.DISPATCH,
                f"job:{job.id}",
                {
                    "site_id": site_id,
                    "camera_id": camera_id,
                    "start": iso_utc(start),
                    "end": iso_utc(end),
                    "reason": reason,
                    "source": source,
                },
                at=now,
            )
            return job

        # Only a new row and its custody row, checked against reads it does not change: so on
        # PostgreSQL it need not queue for the writer lock behind every chunk another worker
        # records (that queue was most of the dispatch p99). It commits before it is published.
        job = await self._storage.ainsert(insert)
        log.info(
            "job %s dispatched to site %s camera %s (%s to %s, source %s) by %s",
            job.id,
            site_id,
            camera_id,
            iso_utc(start),
            iso_utc(end),
            source,
            requested_by,
        )
        self._publish_job(job)
        return job

    # Reads, for the API: each job with the delivery of its stored clip.

    async def recent_with_delivery(
        self, *, requested_by: str | None, limit: int
    ) -> list[tuple[ClipJob, Delivery | None]]:
        def read(uow: UnitOfWork) -> list[tuple[ClipJob, Delivery | None]]:
            return _with_delivery(uow, uow.jobs.recent(requested_by=requested_by, limit=limit))

        return await self._storage.aread(read)

    async def one_with_delivery(self, job_id: str) -> tuple[ClipJob, Delivery | None] | None:
        def read(uow: UnitOfWork) -> tuple[ClipJob, Delivery | None] | None:
            job = uow.jobs.get(job_id)
            return None if job is None else _with_delivery(uow, [job])[0]

        return await self._storage.aread(read)

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

        def apply(uow: UnitOfWork) -> tuple[ClipJob | None, ClipJob | None]:
            job = uow.jobs.get(job_id)
            if job is None or job.site_id != site_id:
                return None, None
            update = progress_update(job, progress)
            if update is None:
                return job, None
            return job, uow.jobs.move(
                job_id,
                state=update.state,
                percent=update.percent,
                error=update.error,
                clip_id=update.clip_id,
                now=now,
            )

        before, after = await self._storage.awrite(apply)
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
        jobs = await self._storage.aread(lambda uow: uow.jobs.ended_since(since))
        for job in jobs:
            self.clear(job.site_id, job.id)
        return len(jobs)

    async def republish_open(self) -> int:
        """Publish every open job again (retained); agents ignore jobs they already know."""
        jobs = await self._storage.aread(lambda uow: uow.jobs.open())
        for job in jobs:
            self._publish_job(job)
        if jobs:
            log.info("re-published %s open job(s)", len(jobs))
        return len(jobs)


def _with_delivery(uow: UnitOfWork, jobs: list[ClipJob]) -> list[tuple[ClipJob, Delivery | None]]:
    stored = deliveries.for_clips(
        uow, (job.clip_id for job in jobs if job.state is JobState.STORED and job.clip_id)
    )
    return [
        (job, stored.get(job.clip_id) if job.state is JobState.STORED and job.clip_id else None)
        for job in jobs
    ]
