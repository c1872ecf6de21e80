"""What people read about requests: one request in full, lists, the disclosure log, the daily
retention list, the partners' dashboard, and who may watch a released request's items."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial

from hub.domain.acl import Role
from hub.domain.custody import CustodyEvent
from hub.domain.delivery_rules import Delivery
from hub.domain.records import ClipJob, EvidenceItem
from hub.domain.request_records import HoldRecord, RequestRecord
from hub.domain.requests import wording
from hub.domain.requests.dashboard import DashboardFigures, Outcome, RequestFacts, dashboard
from hub.domain.requests.decision import DecisionKind
from hub.domain.requests.disclosure import DisclosureEntry
from hub.domain.requests.parts import CameraParts
from hub.domain.requests.retention import (
    DailyRetentionList,
    RetainedItem,
    RetainedKind,
    RetentionDates,
    daily_list,
    retention_dates,
)
from hub.domain.requests.states import RequestState
from hub.domain.uploads.records import OUTSIDE_PREFIX
from hub.services import delivery as deliveries
from hub.services.custody import CustodyAction
from hub.services.requests.context import RequestNotFound, Workflow, subject
from hub.services.requests.fulfilment import progress_in
from hub.storage.ports import UnitOfWork

RELEASED_STATES = frozenset({RequestState.RELEASED, RequestState.CLOSED, RequestState.EXPIRED})
MAX_TIMELINE = 2000


@dataclass
class RequestDetail:
    record: RequestRecord
    holds: list[HoldRecord]
    jobs: list[ClipJob]
    items: list[EvidenceItem]
    releases: list[DisclosureEntry]
    timeline: list[CustodyEvent]
    retention: RetentionDates
    parts: dict[tuple[str, str], CameraParts] = field(default_factory=dict)  # per approved camera
    deliveries: dict[str, Delivery] = field(default_factory=dict)
    exhibit_refs: dict[str, str] = field(default_factory=dict)  # clip id -> exhibit reference

    @property
    def unserved(self) -> list[dict[str, str]]:
        """Approved cameras whose clip job could not be made, with why."""
        return [
            {"camera": str(row.detail.get("camera")), "why": str(row.detail.get("why"))}
            for row in self.timeline
            if row.action == CustodyAction.DISPATCH_REFUSED
        ]


def may_see(record: RequestRecord, username: str, role: Role) -> bool:
    """Police see their own requests and those naming them; operators and supervisors all."""
    if role in (Role.OPERATOR, Role.SUPERVISOR):
        return True
    return role is Role.POLICE and record.request.may_see(username)


class RequestReports:
    def __init__(self, flow: Workflow) -> None:
        self._flow = flow

    async def detail(self, reference: str, username: str, role: Role) -> RequestDetail:
        policy = self._flow.settings.retention
        part, now = self._flow.settings.part, self._flow.now()

        def read(uow: UnitOfWork) -> RequestDetail:
            record = uow.requests.get(reference)
            if record is None or not may_see(record, username, role):
                raise RequestNotFound(f"there is no request {reference} that you may see")
            progress = progress_in(uow, reference)
            retained = RetainedItem(
                RetainedKind.REQUEST,
                reference,
                record.retention_category,
                record.released_at,
                record.review_at,
                record.case_closed_at,
            )
            items = list(progress.items.values())
            refs = uow.exhibit_refs.of_clips([item.clip_id for item in items])
            return RequestDetail(
                record=record,
                holds=progress.holds,
                jobs=progress.jobs,
                items=items,
                releases=uow.disclosures.entries(reference),
                timeline=uow.custody.after([subject(reference)], 0, MAX_TIMELINE),
                retention=retention_dates(retained, policy),
                parts=progress.cameras(record.decision, part, now),
                exhibit_refs={clip_id: ref.reference for clip_id, ref in refs.items()},
            )

        found = await self._flow.storage.aread(read)
        clip_ids = [item.clip_id for item in found.items]
        if clip_ids:
            found.deliveries = await self._flow.storage.aread(
                partial(deliveries.for_clips, clip_ids=clip_ids)
            )
        return found

    async def listed(
        self, username: str, role: Role, *, state: str | None, mine: bool
    ) -> list[RequestRecord]:
        own = role is Role.POLICE or mine
        records = await self._flow.storage.aread(
            lambda uow: uow.requests.find(state=state, visible_to=username if own else None)
        )
        return records

    async def disclosures(self) -> list[DisclosureEntry]:
        return await self._flow.storage.aread(lambda uow: uow.disclosures.entries())

    async def dashboard(
        self, start: datetime | None, end: datetime | None
    ) -> tuple[DashboardFigures, dict[str, int], dict[str, int]]:
        """The figures, and per UK-local month how many were released and declined."""
        records = await self._flow.storage.aread(lambda uow: uow.requests.find(limit=1_000_000))
        facts = []
        for record in records:
            received = record.request.received_at
            if (start is not None and received < start) or (end is not None and received >= end):
                continue
            decision = record.decision
            approved = decision is not None and decision.outcome is not DecisionKind.DECLINE
            facts.append(
                RequestFacts(
                    reference=record.reference,
                    district=record.district,
                    received_at=received,
                    approved_at=decision.decided_at if approved and decision else None,
                    released_at=record.released_at,
                    declined_reason=(
                        decision.reason
                        if decision is not None and decision.outcome is DecisionKind.DECLINE
                        else None
                    ),
                    outcome=(
                        record.outcome.for_dashboard
                        if record.outcome is not None
                        else Outcome.NOT_RECORDED
                    ),
                    ripa=record.request.ripa,
                )
            )
        released: Counter[str] = Counter()
        declined: Counter[str] = Counter()
        for fact in facts:
            month = wording.local(fact.received_at).strftime("%Y-%m")
            if fact.released_at is not None:
                released[month] += 1
            if fact.declined_reason is not None:
                declined[month] += 1
        return dashboard(facts), dict(released), dict(declined)

    async def retention_due(self, at: datetime | None = None) -> DailyRetentionList:
        """The daily list as of now (or as of ``at``: what will be due by then)."""
        flow = self._flow
        now = at or flow.now()

        def read(uow: UnitOfWork) -> DailyRetentionList:
            items: list[RetainedItem] = []
            held: set[tuple[RetainedKind, str]] = set()
            for record in uow.requests.find(limit=1_000_000):
                if record.state is RequestState.DELETED or record.released_at is None:
                    continue
                dates = (
                    record.retention_category,
                    record.released_at,
                    record.review_at,
                    record.case_closed_at,
                )
                items.append(RetainedItem(RetainedKind.REQUEST, record.reference, *dates))
                progress = progress_in(uow, record.reference)
                if any(hold.active for hold in progress.holds):
                    held.add((RetainedKind.REQUEST, record.reference))
                for item in progress.items.values():
                    if item.deleted_at is not None:
                        continue
                    items.append(RetainedItem(RetainedKind.EVIDENCE_ITEM, item.clip_id, *dates))
                    if item.legal_hold:
                        held.add((RetainedKind.EVIDENCE_ITEM, item.clip_id))
                # Footage from elsewhere is kept as long as the request's clips, and held with it.
                for outside in uow.outside_items.for_request(record.reference):
                    if outside.deleted_at is not None:
                        continue
                    items.append(RetainedItem(RetainedKind.OUTSIDE_ITEM, outside.id, *dates))
                    if any(hold.active for hold in progress.holds):
                        held.add((RetainedKind.OUTSIDE_ITEM, outside.id))
            return daily_list(items, held=held, now=now, policy=flow.settings.retention)

        return await flow.storage.aread(read)

    async def requests_of_items(self, clip_ids: list[str]) -> dict[str, str]:
        """The request each evidence item answers (clip id -> reference), where it has one."""

        def read(uow: UnitOfWork) -> dict[str, str]:
            found = {}
            for clip_id in clip_ids:
                if clip_id.startswith(OUTSIDE_PREFIX):
                    outside = uow.outside_items.get(clip_id)
                    if outside is not None:
                        found[clip_id] = outside.request
                    continue
                item = uow.evidence.get(clip_id)
                reference = None if item is None else uow.requests.of_job(item.job_id)
                if reference is not None:
                    found[clip_id] = reference
            return found

        return await self._flow.storage.aread(read)

    async def released_to(self, username: str) -> list[str]:
        """Request references released to ``username`` (the requester or a named colleague)."""
        records = await self._flow.storage.aread(
            lambda uow: uow.requests.find(visible_to=username, limit=100_000)
        )
        return [r.reference for r in records if r.state in RELEASED_STATES]

    async def may_view_item(self, username: str, item: EvidenceItem) -> bool:
        """Whether police user ``username`` may watch ``item`` as part of a released request."""
        reference = item.requested_by  # a request's clip jobs are requested by the request
        record = await self._flow.storage.aread(lambda uow: uow.requests.get(reference))
        return (
            record is not None
            and record.state in RELEASED_STATES
            and record.request.may_see(username)
        )

    async def released_items(self, username: str) -> list[EvidenceItem]:
        references = await self.released_to(username)

        def read(uow: UnitOfWork) -> list[EvidenceItem]:
            found = []
            for reference in references:
                found += list(progress_in(uow, reference).items.values())
            return found

        return await self._flow.storage.aread(read)
