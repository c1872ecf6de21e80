"""The data controller's decision and what approval sets going at once: legal holds at the hub
and the edge (a hub-signed ``HoldOrder``, retained, per camera) and one clip job per part of each
camera's window (``[requests] part_minutes``), parts in time order, cameras in priority order
(threat to life first; the job's priority says so to the agent)."""

from __future__ import annotations

import logging
import uuid
from datetime import datetime, timedelta
from functools import partial
from typing import Final

from cctv_common.clock import iso_utc
from cctv_common.wire.payloads import HoldOrder
from cctv_common.wire.topics import hold_topic
from hub.domain.job_rules import JobRequestError
from hub.domain.request_records import DecisionRecord, HoldRecord, RequestJob, RequestRecord
from hub.domain.requests import wording
from hub.domain.requests.auto_approval import auto_decision
from hub.domain.requests.decision import (
    ControllerDecision,
    DecisionOutcome,
    DecisionRefused,
    HoldPlace,
    clip_jobs,
    decide,
)
from hub.domain.requests.request import CameraRef, IncidentWindow
from hub.domain.requests.states import IllegalTransition, RequestState, check_transition
from hub.notifications.messages import NotificationStep
from hub.services.custody import CustodyAction
from hub.services.leases import PROCESS
from hub.services.requests.context import (
    JOB_PRIORITY,
    RequestError,
    RequestInvalid,
    RequestNotFound,
    Workflow,
    subject,
)
from hub.storage.ports import UnitOfWork
from hub.storage.worker_ports import PartKey

log = logging.getLogger(__name__)

_APPROVED: Final = frozenset({RequestState.APPROVED, RequestState.PARTLY_APPROVED})
# A part claimed this long ago with no job yet is claimed again: its hub worker died.
DISPATCH_CLAIM_STALE: Final = timedelta(minutes=2)

_STEP = {
    RequestState.APPROVED: NotificationStep.APPROVED,
    RequestState.PARTLY_APPROVED: NotificationStep.PARTLY_APPROVED,
    RequestState.DECLINED: NotificationStep.DECLINED,
}


def hold_message(hold: HoldRecord, *, lifted: bool = False) -> HoldOrder:
    return HoldOrder(
        hold_id=hold.id,
        camera_id=hold.camera_id,
        window_start=hold.window.start,
        window_end=hold.window.end,
        reason_ref=hold.request,
        placed_at=hold.placed_at,
        lifted=lifted,
    )


class Deciding:
    def __init__(self, flow: Workflow) -> None:
        self._flow = flow

    def publish_hold(self, hold: HoldRecord, *, lifted: bool = False) -> None:
        topic = hold_topic(hold.site_id, hold.id)
        message = hold_message(hold, lifted=lifted)
        self._flow.publish(topic, self._flow.signer.seal(topic, message), retain=True)

    async def try_rules(self, record: RequestRecord) -> RequestRecord:
        """Approve ``record`` by the first matching auto-approval rule, if any matches."""
        decision = auto_decision(record.request, self._flow.settings.rules, self._flow.now())
        if decision is None:
            return record
        return await self.decide(record.reference, decision)

    async def decide(self, reference: str, decision: ControllerDecision) -> RequestRecord:
        """Take ``decision``; approval places the holds and dispatches the clip jobs."""
        flow = self._flow
        now = flow.now()
        actor = decision.decided_by if decision.rule is None else flow.actor

        def work(uow: UnitOfWork) -> tuple[RequestRecord, DecisionOutcome, list[HoldRecord]]:
            record = uow.requests.get(reference)
            if record is None:
                raise RequestNotFound(f"there is no request {reference}")
            try:
                outcome = decide(
                    reference, record.request, record.state, decision, flow.settings.part
                )
            except IllegalTransition as exc:
                raise RequestError(str(exc)) from exc
            except DecisionRefused as exc:
                raise RequestInvalid(str(exc)) from exc
            kept = DecisionRecord(
                outcome=decision.kind,
                decided_by=actor,
                decided_at=now,
                reason=outcome.decision.reason,
                cameras=outcome.cameras,
                window=outcome.window,
                rule=decision.rule,
            )
            uow.requests.set_decision(reference, outcome.state, kept, now)
            uow.custody.append(
                actor,
                CustodyAction.DECIDE,
                subject(reference),
                {"state": outcome.state.value, "summary": outcome.summary, "rule": decision.rule},
                at=now,
            )
            holds = []
            for spec in outcome.holds:
                if spec.place is not HoldPlace.EDGE or not isinstance(spec.camera, CameraRef):
                    continue  # one hold row stands for both places: the hub and the edge
                hold = HoldRecord(
                    id=f"hold-{uuid.uuid4().hex}",
                    request=reference,
                    site_id=spec.camera.site_id,
                    camera_id=spec.camera.camera_id,
                    window=spec.window,
                    placed_at=now,
                    placed_by=actor,
                    edge_confirmed_at=None,
                    lifted_at=None,
                    lifted_by=None,
                )
                uow.holds.add(hold)
                uow.custody.append(
                    actor,
                    CustodyAction.HOLD,
                    subject(reference),
                    {
                        "hold_id": hold.id,
                        "camera": spec.camera.label,
                        "window_start": iso_utc(spec.window.start),
                        "window_end": iso_utc(spec.window.end),
                        "places": ["hub", "edge"],
                    },
                    at=now,
                )
                holds.append(hold)
            changed = uow.requests.get(reference)
            assert changed is not None
            return changed, outcome, holds

        record, outcome, holds = await flow.storage.awrite(work)
        log.info("request %s %s", reference, outcome.summary)
        for hold in holds:
            self.publish_hold(hold)
        if outcome.clip_jobs:
            record = await self.dispatch(record)
        detail = ""
        if outcome.window is not None:
            detail = (
                f"{len(outcome.cameras)} camera(s), "
                f"{wording.span(outcome.window.start, outcome.window.end)}"
            )
        await flow.mail.send(
            _STEP[outcome.state],
            record,
            now,
            reason="" if decision.rule else outcome.decision.reason,
            detail=detail,
        )
        return record

    async def dispatch(self, record: RequestRecord) -> RequestRecord:
        """Make the clip job of every part of every approved camera that has none yet (parts in
        time order, most urgent first) and move the request to fulfilling. A part whose job
        cannot be made is logged with why.

        A decision dispatches at once and the sweep dispatches what an approved request lacks,
        on any hub worker: each part is claimed in the database first (``request_dispatches``,
        one row per part), so however many run together, a part gets one job."""
        flow = self._flow
        reference = record.reference
        current = await flow.storage.aread(lambda uow: uow.requests.get(reference))
        assert current is not None
        record = current
        decision = record.decision
        if decision is None or decision.window is None:
            return record
        specs = clip_jobs(
            reference, record.request, decision.cameras, decision.window, flow.settings.part
        )
        have = await flow.storage.aread(lambda uow: jobs_of(uow, reference))
        for spec in specs:
            camera = spec.camera
            if not isinstance(camera, CameraRef):
                continue
            covered = have.get((camera.site_id, camera.camera_id), [])
            if any(window.contains(spec.window) for window in covered):
                continue  # no write for what was dispatched (checked again in the claim)
            start, end = spec.window.start, spec.window.end
            part = (reference, camera.site_id, camera.camera_id, start, end)
            if await flow.storage.awrite(partial(self._claim, part=part, now=flow.now())):
                await self._one_job(record, camera, start, end, part=part)
        if record.state in _APPROVED:
            return await self.move(reference, RequestState.FULFILLING, flow.actor, only=_APPROVED)
        found = await flow.storage.aread(lambda uow: uow.requests.get(reference))
        assert found is not None
        return found

    @staticmethod
    def _claim(uow: UnitOfWork, *, part: PartKey, now: datetime) -> bool:
        """Claim ``part`` for this process to make its job; False when a job covers it, another
        worker has claimed it, or the job a dead worker made for it was linked instead."""
        reference, site_id, camera_id, start, end = part
        have = jobs_of(uow, reference).get((site_id, camera_id), [])
        if any(window.contains(IncidentWindow(start, end)) for window in have):
            return False  # a job made before claims were kept, or a re-run, covers it
        if not uow.dispatches.claim(part, PROCESS, now, now - DISPATCH_CLAIM_STALE):
            return False
        # A stale claim taken over: its worker may have made the job and died before linking
        # it to the request. That job is the part's (one job per part), not a new one.
        made = next(
            (
                job
                for job in uow.jobs.recent(requested_by=reference)
                if (job.site_id, job.camera_id, job.start, job.end) == part[1:]
            ),
            None,
        )
        if made is None:
            return True
        uow.requests.add_job(RequestJob(reference, made.id, site_id, camera_id, made.created_at))
        uow.dispatches.settle(part, PROCESS, made.id)
        log.warning("request %s: job %s of a stopped worker linked to it", reference, made.id)
        return False

    async def _one_job(
        self,
        record: RequestRecord,
        camera: CameraRef,
        start: datetime,
        end: datetime,
        *,
        part: PartKey | None = None,
    ) -> str | None:
        flow = self._flow
        reference = record.reference
        reason = f"footage request {reference} ({record.request.police_reference})"[:500]
        try:
            job = await flow.jobs.create(
                site_id=camera.site_id,
                camera_id=camera.camera_id,
                start=start,
                end=end,
                reason=reason,
                requested_by=reference,
                priority=JOB_PRIORITY[record.request.urgency],
            )
        except JobRequestError as exc:
            now = flow.now()
            why = exc.message

            def refused(uow: UnitOfWork) -> None:
                uow.custody.append(
                    flow.actor,
                    CustodyAction.DISPATCH_REFUSED,
                    subject(reference),
                    {"camera": camera.label, "why": why},
                    at=now,
                )
                if part is not None:  # a later sweep may try again
                    uow.dispatches.settle(part, PROCESS, None)

            await flow.storage.awrite(refused)
            log.warning("request %s: no clip job for %s: %s", reference, camera.label, exc.message)
            return None
        link = RequestJob(reference, job.id, camera.site_id, camera.camera_id, job.created_at)

        def linked(uow: UnitOfWork) -> None:
            uow.requests.add_job(link)
            if part is not None:
                uow.dispatches.settle(part, PROCESS, job.id)

        await flow.storage.awrite(linked)
        return job.id

    async def extra_job(
        self, record: RequestRecord, camera: CameraRef, start: datetime, end: datetime
    ) -> str | None:
        """A re-run or an extension: one more job for ``camera``; the request is fulfilling
        again until it is stored and verified."""
        job_id = await self._one_job(record, camera, start, end)
        if record.state is RequestState.READY:
            await self.move(record.reference, RequestState.FULFILLING, self._flow.actor)
        return job_id

    async def move(
        self,
        reference: str,
        target: RequestState,
        actor: str,
        *,
        only: frozenset[RequestState] | None = None,
    ) -> RequestRecord:
        """Move the request to ``target``; with ``only``, just when it is in one of those states
        (another worker may have moved it first)."""
        now = self._flow.now()

        def work(uow: UnitOfWork) -> RequestRecord:
            record = uow.requests.get(reference)
            if record is None:
                raise RequestNotFound(f"there is no request {reference}")
            if only is not None and record.state not in only:
                return record
            try:
                check_transition(reference, record.state, target)
            except IllegalTransition as exc:
                raise RequestError(str(exc)) from exc
            uow.requests.set_state(reference, target, now)
            uow.custody.append(
                actor,
                CustodyAction.REQUEST_STATE,
                subject(reference),
                {"from": record.state.value, "to": target.value},
                at=now,
            )
            changed = uow.requests.get(reference)
            assert changed is not None
            return changed

        return await self._flow.storage.awrite(work)


def jobs_of(uow: UnitOfWork, reference: str) -> dict[tuple[str, str], list[IncidentWindow]]:
    """The windows of the clip jobs request ``reference`` has, per (site, camera)."""
    found: dict[tuple[str, str], list[IncidentWindow]] = {}
    for link in uow.requests.jobs(reference):
        job = uow.jobs.get(link.job_id)
        if job is not None:
            found.setdefault((job.site_id, job.camera_id), []).append(
                IncidentWindow(job.start, job.end)
            )
    return found
