"""The data controller's decision and what approval sets going at once: legal holds at the hub
and the edge (a hub-signed ``HoldOrder``, retained, per camera) and one clip job per part of each
camera's window (``[requests] part_minutes``), parts in time order, cameras in priority order
(threat to life first; the job's priority says so to the agent)."""

from __future__ import annotations

import asyncio
import logging
import uuid
from datetime import datetime

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
from hub.services.requests.context import (
    JOB_PRIORITY,
    RequestError,
    RequestInvalid,
    RequestNotFound,
    Workflow,
    subject,
)
from hub.storage.ports import UnitOfWork

log = logging.getLogger(__name__)

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
        # One dispatch at a time: a decision dispatches at once and the sweep dispatches what an
        # approved request lacks; run together, both read "no job yet" for a part and each made
        # one (two evidence items for one camera, seen under load in test_request_path).
        self._dispatching = asyncio.Lock()

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
        cannot be made is logged with why."""
        async with self._dispatching:
            return await self._dispatch(record.reference)

    async def _dispatch(self, reference: str) -> RequestRecord:
        flow = self._flow
        # Read again under the lock: another dispatch may have made jobs and moved it on.
        current = await flow.storage.aread(lambda uow: uow.requests.get(reference))
        assert current is not None
        record = current
        decision = record.decision
        if decision is None or decision.window is None:
            return record
        have = await flow.storage.aread(lambda uow: jobs_of(uow, reference))
        specs = clip_jobs(
            reference, record.request, decision.cameras, decision.window, flow.settings.part
        )
        for spec in specs:
            camera = spec.camera
            if not isinstance(camera, CameraRef):
                continue
            key = (camera.site_id, camera.camera_id)
            if any(window.contains(spec.window) for window in have.get(key, [])):
                continue
            await self._one_job(record, camera, spec.window.start, spec.window.end)
        if record.state in (RequestState.APPROVED, RequestState.PARTLY_APPROVED):
            await self.move(reference, RequestState.FULFILLING, flow.actor)
        found = await flow.storage.aread(lambda uow: uow.requests.get(reference))
        assert found is not None
        return found

    async def _one_job(
        self, record: RequestRecord, camera: CameraRef, start: datetime, end: datetime
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
            await flow.storage.awrite(
                lambda uow: uow.custody.append(
                    flow.actor,
                    CustodyAction.DISPATCH_REFUSED,
                    subject(reference),
                    {"camera": camera.label, "why": why},
                    at=now,
                )
            )
            log.warning("request %s: no clip job for %s: %s", reference, camera.label, exc.message)
            return None
        link = RequestJob(reference, job.id, camera.site_id, camera.camera_id, job.created_at)
        await flow.storage.awrite(lambda uow: uow.requests.add_job(link))
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

    async def move(self, reference: str, target: RequestState, actor: str) -> RequestRecord:
        now = self._flow.now()

        def work(uow: UnitOfWork) -> RequestRecord:
            record = uow.requests.get(reference)
            if record is None:
                raise RequestNotFound(f"there is no request {reference}")
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
