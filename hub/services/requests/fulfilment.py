"""Moving approved requests on without anyone pressing a button: the sweep.

Every few seconds (``[requests] sweep_seconds``) the hub
- makes the clip jobs of an approved request that has none (a restart between the decision and
  the dispatch loses nothing),
- marks each hold the agent reports in force (``SiteStatus.holds``) as confirmed at the edge and,
  once all of a request's are, mails the requester that the footage is secured,
- holds at the hub every evidence item stored for a request whose holds are in force,
- moves a fulfilling request to ready when every part of every approved camera's window has a
  stored, verified clip, and mails the requester.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial

from cctv_common.wire.job_state import JobState
from hub.domain.records import ClipJob, EvidenceItem
from hub.domain.request_records import DecisionRecord, HoldRecord, RequestRecord
from hub.domain.requests.parts import CameraParts, PartJob, camera_parts, split_window
from hub.domain.requests.request import IncidentWindow
from hub.domain.requests.states import RequestState
from hub.notifications.messages import NotificationStep
from hub.services.custody import CustodyAction
from hub.services.evidence_items import ItemChangeError, set_hold_in
from hub.services.requests.context import Workflow, subject
from hub.services.requests.deciding import Deciding
from hub.storage.ports import UnitOfWork

log = logging.getLogger(__name__)

OPEN: frozenset[RequestState] = frozenset(
    {
        RequestState.APPROVED,
        RequestState.PARTLY_APPROVED,
        RequestState.FULFILLING,
        RequestState.READY,
        RequestState.RELEASED,
    }
)


@dataclass
class RequestProgress:
    """Where a request's clip jobs and items stand."""

    jobs: list[ClipJob] = field(default_factory=list)
    items: dict[str, EvidenceItem] = field(default_factory=dict)  # job id -> its stored item
    holds: list[HoldRecord] = field(default_factory=list)

    def stored(self, job: ClipJob) -> bool:
        item = self.items.get(job.id)
        return job.state is JobState.STORED and item is not None and item.deleted_at is None

    def cameras(
        self, decision: DecisionRecord | None, part: timedelta, now: datetime
    ) -> dict[tuple[str, str], CameraParts]:
        """Each approved camera's parts: how many are stored and verified, and the time left."""
        if decision is None or decision.window is None:
            return {}
        pieces = split_window(decision.window, part)
        found = {}
        for camera in decision.cameras:
            key = (camera.site_id, getattr(camera, "camera_id", ""))
            jobs = [
                PartJob(
                    window=IncidentWindow(job.start, job.end),
                    stored=self.stored(job),
                    running=not job.is_terminal,
                    percent=job.percent,
                    created_at=job.created_at,
                )
                for job in self.jobs
                if (job.site_id, job.camera_id) == key
            ]
            found[key] = camera_parts(pieces, jobs, now)
        return found

    def unready(self, decision: DecisionRecord | None, part: timedelta, now: datetime) -> list[str]:
        """Labels of the approved cameras with a part not yet stored and verified."""
        cameras = self.cameras(decision, part, now)
        assert decision is not None or not cameras
        return [
            camera.label
            for camera in (decision.cameras if decision is not None else ())
            if not cameras[(camera.site_id, getattr(camera, "camera_id", ""))].complete
        ]


def progress_in(uow: UnitOfWork, reference: str) -> RequestProgress:
    progress = RequestProgress(holds=uow.holds.for_request(reference))
    for link in uow.requests.jobs(reference):
        job = uow.jobs.get(link.job_id)
        if job is None:
            continue
        progress.jobs.append(job)
        for item in uow.evidence.for_job(job.id):
            progress.items[job.id] = item
    return progress


def edge_held_in(uow: UnitOfWork, site_id: str) -> set[str]:
    """Hold ids the site's last status reports in force."""
    site = uow.sites.get(site_id)
    holds = (site.status or {}).get("holds", []) if site is not None else []
    return {str(h.get("hold_id")) for h in holds if isinstance(h, dict)}


class Fulfilment:
    def __init__(self, flow: Workflow, deciding: Deciding) -> None:
        self._flow = flow
        self._deciding = deciding

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self._flow.settings.sweep_seconds)
            try:
                await self.sweep()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("request sweep failed")

    async def sweep(self) -> int:
        """One pass over the open requests; returns how many changed."""
        records = await self._flow.storage.aread(
            lambda uow: [r for state in OPEN for r in uow.requests.find(state=state.value)]
        )
        changed = 0
        for record in records:
            changed += await self.advance(record)
        return changed

    async def advance(self, record: RequestRecord) -> int:
        flow = self._flow
        reference = record.reference
        changed = 0
        if record.state in (RequestState.APPROVED, RequestState.PARTLY_APPROVED):
            record = await self._deciding.dispatch(record)
            changed += 1
        progress = await flow.storage.aread(lambda uow: progress_in(uow, reference))
        changed += await self._confirm_holds(record, progress)
        changed += await self._hold_items(record, progress)
        decision = record.decision
        if record.state is RequestState.FULFILLING and decision is not None:
            now = flow.now()
            cameras = progress.cameras(decision, flow.settings.part, now)
            if cameras and not progress.unready(decision, flow.settings.part, now):
                record = await self._deciding.move(reference, RequestState.READY, flow.actor)
                log.info("request %s: every clip stored and verified: ready", reference)
                parts = sum(camera.total for camera in cameras.values())
                await flow.mail.send(
                    NotificationStep.READY,
                    record,
                    now,
                    detail=f"{parts} clip(s) from {len(cameras)} camera(s) stored and verified",
                )
                changed += 1
        return changed

    async def _confirm_holds(self, record: RequestRecord, progress: RequestProgress) -> int:
        flow = self._flow
        waiting = [h for h in progress.holds if h.active and h.edge_confirmed_at is None]
        if not waiting:
            return 0
        now = flow.now()

        def confirm(uow: UnitOfWork) -> int:
            done = 0
            for hold in waiting:
                if hold.id in edge_held_in(uow, hold.site_id):
                    uow.holds.confirm(hold.id, now)
                    uow.custody.append(
                        flow.actor,
                        CustodyAction.HOLD_CONFIRMED,
                        subject(record.reference),
                        {"hold_id": hold.id, "site_id": hold.site_id, "camera_id": hold.camera_id},
                        at=now,
                    )
                    done += 1
            return done

        done = await flow.storage.awrite(confirm)
        if done and done == len(waiting):
            await flow.mail.send(
                NotificationStep.SECURED,
                record,
                now,
                detail=f"{len(progress.holds)} camera(s) held at the site and at the hub",
            )
        return done

    async def _hold_items(self, record: RequestRecord, progress: RequestProgress) -> int:
        if not any(hold.active for hold in progress.holds):
            return 0
        flow = self._flow
        loose = [
            item
            for item in progress.items.values()
            if not item.legal_hold and item.deleted_at is None
        ]
        now = flow.now()
        reason = f"legal hold for footage request {record.reference}"
        for item in loose:
            await self._hold_one(item.clip_id, reason, now, record.reference)
        return len(loose)

    async def _hold_one(self, clip_id: str, reason: str, now: datetime, reference: str) -> None:
        actor = self._flow.actor
        hold = partial(set_hold_in, clip_id=clip_id, hold=True, actor=actor, reason=reason, now=now)
        try:
            await self._flow.storage.awrite(hold)
        except ItemChangeError as exc:
            log.warning("request %s: clip %s not held: %s", reference, clip_id, exc)
