"""Release to the requester (a disclosure log entry per recipient), the outcome the requester
records (which closes the request and lifts its holds), retention, and deleting an item."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime
from functools import partial

from hub.domain.records import EvidenceItem
from hub.domain.request_records import HoldRecord, RequestOutcome, RequestRecord
from hub.domain.requests.disclosure import (
    DisclosureEntry,
    DisclosureRefused,
    ReleaseItem,
    new_entry,
)
from hub.domain.requests.request import IncidentWindow
from hub.domain.requests.retention import (
    DeletionDecision,
    DeletionRefused,
    RetainedItem,
    RetainedKind,
    RetentionCategory,
    check_deletion,
)
from hub.domain.requests.states import IllegalTransition, RequestState, check_transition
from hub.notifications.messages import NotificationStep
from hub.services.custody import CustodyAction
from hub.services.evidence_items import (
    ItemChangeError,
    delete_in,
    remove_deleted_bytes,
    set_hold_in,
)
from hub.services.exhibit_numbering import number_items_in
from hub.services.requests.context import (
    RequestError,
    RequestInvalid,
    RequestNotFound,
    Workflow,
    subject,
)
from hub.services.requests.deciding import Deciding
from hub.services.requests.fulfilment import RequestProgress, progress_in
from hub.storage.evidence.store import StoreError
from hub.storage.ports import UnitOfWork

log = logging.getLogger(__name__)

# The retention category an outcome implies, unless a supervisor sets another.
CATEGORY_OF_OUTCOME = {
    RequestOutcome.CHARGE: RetentionCategory.CHARGED,
    RequestOutcome.FURTHER_ENQUIRIES: RetentionCategory.UNDER_INVESTIGATION,
    RequestOutcome.NFA: RetentionCategory.NO_FURTHER_ACTION,
    RequestOutcome.OTHER: RetentionCategory.NO_FURTHER_ACTION,
}


@dataclass(frozen=True)
class Recipient:
    name: str
    organisation: str
    email: str = ""


def _get(uow: UnitOfWork, reference: str) -> RequestRecord:
    record = uow.requests.get(reference)
    if record is None:
        raise RequestNotFound(f"there is no request {reference}")
    return record


def release_items(record: RequestRecord, progress: RequestProgress) -> list[ReleaseItem]:
    items = []
    for job in progress.jobs:
        item = progress.items.get(job.id)
        if item is None or item.deleted_at is not None:
            continue
        items.append(
            ReleaseItem(
                item_id=item.clip_id,
                sha256=item.sha256,
                camera=f"{item.site_id}/{item.camera_id}",
                window=IncidentWindow(item.delivered_start, item.delivered_end),
                verified=True,  # an evidence item row exists only for a verified clip
            )
        )
    return items


class Releasing:
    def __init__(self, flow: Workflow, deciding: Deciding) -> None:
        self._flow = flow
        self._deciding = deciding

    async def release(
        self, reference: str, recipients: list[Recipient], purpose: str, by: str
    ) -> RequestRecord:
        flow = self._flow
        now = flow.now()
        if not recipients:
            raise RequestInvalid("name at least one recipient (person and organisation)")

        def work(uow: UnitOfWork) -> tuple[RequestRecord, list[DisclosureEntry]]:
            record = _get(uow, reference)
            progress = progress_in(uow, reference)
            unready = progress.unready(record.decision, flow.settings.part, now)
            if record.state is not RequestState.READY or unready:
                why = f": not stored and verified yet: {', '.join(unready)}" if unready else ""
                try:
                    check_transition(reference, record.state, RequestState.RELEASED)
                except IllegalTransition as exc:
                    raise RequestError(f"{exc}{why}") from exc
                raise RequestError(f"request {reference} cannot be released{why}")
            items = release_items(record, progress)
            # Footage from elsewhere goes with the request's clips, numbered after them.
            outside = [o for o in uow.outside_items.for_request(reference) if o.deleted_at is None]
            exhibits = number_items_in(
                uow,
                pattern=flow.exhibit_pattern,
                request=reference,
                clip_ids=[item.item_id for item in items] + [o.id for o in outside],
                producer=by,
                now=now,
            )
            entries = []
            previous = uow.disclosures.last_number()
            for recipient in recipients:
                try:
                    entry = new_entry(
                        previous,
                        disclosed_at=now,
                        request=reference,
                        recipient_name=recipient.name,
                        recipient_organisation=recipient.organisation,
                        purpose=purpose,
                        lawful_basis=record.request.lawful_basis,
                        disclosed_by=by,
                        items=items,
                        also_to=(record.request.requested_by, *record.request.colleagues),
                    )
                except DisclosureRefused as exc:
                    raise RequestError(str(exc)) from exc
                uow.disclosures.add(entry)
                uow.custody.append(
                    by,
                    CustodyAction.DISCLOSE,
                    subject(reference),
                    {
                        "disclosure_number": entry.number,
                        "recipient": entry.recipient_name,
                        "organisation": entry.recipient_organisation,
                        "purpose": entry.purpose,
                        "items": [
                            {
                                "clip_id": i.item_id,
                                "sha256": i.sha256,
                                "exhibit": exhibits.get(i.item_id),
                            }
                            for i in entry.items
                        ],
                        "outside_items": [
                            {
                                "item_id": o.id,
                                "sha256": o.sha256,
                                "filename": o.filename,
                                "exhibit": exhibits.get(o.id),
                                "source": o.source,
                            }
                            for o in outside
                        ],
                    },
                    at=now,
                )
                entries.append(entry)
                previous = entry.number
            uow.requests.set_released(reference, now)
            return _get(uow, reference), entries

        record, entries = await flow.storage.awrite(work)
        log.info(
            "request %s released by %s: disclosure entries %s",
            reference,
            by,
            ", ".join(str(e.number) for e in entries),
        )
        emails = tuple(r.email for r in recipients if r.email)
        await flow.mail.send(
            NotificationStep.RELEASED,
            record,
            now,
            detail=f"{len(entries[0].items)} clip(s) released",
            also_to=emails,
        )
        return record

    async def outcome(
        self, reference: str, outcome: RequestOutcome, note: str, by: str
    ) -> RequestRecord:
        flow = self._flow
        now = flow.now()

        def work(uow: UnitOfWork) -> RequestRecord:
            record = _get(uow, reference)
            if by not in (record.request.requested_by, *record.request.colleagues):
                raise RequestNotFound(f"there is no request {reference} that you may see")
            try:
                target = check_transition(reference, record.state, RequestState.CLOSED)
            except IllegalTransition as exc:
                raise RequestError(str(exc)) from exc
            uow.requests.set_outcome(reference, outcome, note.strip()[:2000], target, now)
            category = CATEGORY_OF_OUTCOME[outcome]
            uow.requests.set_retention(
                reference, category, record.review_at, record.case_closed_at, now
            )
            uow.custody.append(
                by,
                CustodyAction.OUTCOME,
                subject(reference),
                {"outcome": outcome.value, "retention_category": category.value},
                at=now,
            )
            return _get(uow, reference)

        record = await flow.storage.awrite(work)
        await self.lift_holds(record, by, "the request is closed")
        return record

    async def lift_holds(self, record: RequestRecord, by: str, why: str) -> int:
        """Lift every hold of ``record``: at the hub (items released from legal hold) and at
        the edge (the retained hold message says lifted)."""
        flow = self._flow
        now = flow.now()
        reference = record.reference

        def work(uow: UnitOfWork) -> tuple[list[EvidenceItem], list[HoldRecord]]:
            progress = progress_in(uow, reference)
            lifted = []
            for hold in progress.holds:
                if hold.active:
                    lifted.append(uow.holds.lift(hold.id, by, now))
                    uow.custody.append(
                        by,
                        CustodyAction.RELEASE,
                        subject(reference),
                        {"hold_id": hold.id, "lifted": True, "why": why},
                        at=now,
                    )
            return list(progress.items.values()), lifted

        items, lifted = await flow.storage.awrite(work)
        for hold in lifted:
            self._deciding.publish_hold(hold, lifted=True)
        for item in items:
            if item.legal_hold and item.deleted_at is None:
                await self._unhold_one(item.clip_id, by, f"request {reference}: {why}", now)
        return len(lifted)

    async def _unhold_one(self, clip_id: str, by: str, reason: str, now: datetime) -> None:
        unhold = partial(set_hold_in, clip_id=clip_id, hold=False, actor=by, reason=reason, now=now)
        try:
            await self._flow.storage.awrite(unhold)
        except ItemChangeError as exc:
            log.warning("clip %s: hold not lifted: %s", clip_id, exc)

    async def set_retention(
        self,
        reference: str,
        category: RetentionCategory,
        review_at: datetime | None,
        case_closed_at: datetime | None,
        by: str,
    ) -> RequestRecord:
        now = self._flow.now()

        def work(uow: UnitOfWork) -> RequestRecord:
            _get(uow, reference)
            uow.requests.set_retention(reference, category, review_at, case_closed_at, now)
            uow.custody.append(
                by,
                CustodyAction.RETENTION,
                subject(reference),
                {
                    "category": category.value,
                    "review_at": None if review_at is None else review_at.isoformat(),
                    "case_closed_at": None
                    if case_closed_at is None
                    else case_closed_at.isoformat(),
                },
                at=now,
            )
            return _get(uow, reference)

        return await self._flow.storage.awrite(work)

    async def delete_outside_item(self, reference: str, item_id: str, reason: str, by: str) -> None:
        """Delete one of the request's outside items with a reason, under the same retention
        rules as its clips (refused while the request holds its footage): its bytes removed,
        its row kept with when, and a ``delete`` custody row."""
        flow = self._flow
        now = flow.now()

        def work(uow: UnitOfWork) -> tuple[str, bool]:
            record = _get(uow, reference)
            item = uow.outside_items.get(item_id)
            if item is None or item.request != reference or item.deleted_at is not None:
                raise RequestNotFound(f"request {reference} has no outside item {item_id}")
            holds = progress_in(uow, reference).holds
            held = {(RetainedKind.OUTSIDE_ITEM, item_id)} if any(h.active for h in holds) else set()
            decision = _deletion(
                flow, record, RetainedKind.OUTSIDE_ITEM, item_id, held, by, reason, now
            )
            uow.outside_items.mark_deleted(item_id, now)
            uow.custody.append(
                by,
                CustodyAction.DELETE,
                f"outside:{item_id}",
                {
                    "sha256": item.sha256,
                    "bytes": item.size,
                    "reason": f"{decision.reason} (request {reference})",
                    "source": item.source,
                },
                at=now,
            )
            unused = not uow.outside_items.live_with_key(item.store_key) and not (
                uow.evidence.live_clips_with_key(item.store_key)
            )
            return item.store_key, unused

        key, unused = await flow.storage.awrite(work)
        if unused:
            try:
                await asyncio.to_thread(flow.store.delete, key)
            except StoreError as exc:
                log.error("outside item %s: deleted, its bytes not removed: %s", item_id, exc)
        log.info("request %s: outside item %s deleted by %s", reference, item_id, by)

    async def delete_item(self, reference: str, clip_id: str, reason: str, by: str) -> EvidenceItem:
        """Delete one of the request's evidence items with a reason; refused under a hold."""
        flow = self._flow
        now = flow.now()
        record, progress = await flow.storage.aread(
            lambda uow: (_get(uow, reference), progress_in(uow, reference))
        )
        item = next((i for i in progress.items.values() if i.clip_id == clip_id), None)
        if item is None:
            raise RequestNotFound(f"request {reference} has no evidence item {clip_id}")
        held = {(RetainedKind.EVIDENCE_ITEM, clip_id)} if item.legal_hold else set()
        decision = _deletion(
            flow, record, RetainedKind.EVIDENCE_ITEM, clip_id, held, by, reason, now
        )
        why = f"{decision.reason} (request {reference}{', early' if decision.early else ''})"
        try:
            deletion = await flow.storage.awrite(
                partial(delete_in, clip_id=clip_id, actor=by, reason=why, now=now)
            )
        except ItemChangeError as exc:
            raise RequestError(exc.message, exc.status) from exc
        await asyncio.to_thread(remove_deleted_bytes, flow.store, deletion)
        log.info("request %s: clip %s deleted by %s", reference, clip_id, by)
        return deletion.item


def _deletion(
    flow: Workflow,
    record: RequestRecord,
    kind: RetainedKind,
    item_id: str,
    held: set[tuple[RetainedKind, str]],
    by: str,
    reason: str,
    now: datetime,
) -> DeletionDecision:
    """The retention rules' answer to deleting one of the request's items; a refusal is 409
    under a hold, 422 otherwise (too early without a reason that allows it)."""
    retained = RetainedItem(
        kind,
        item_id,
        record.retention_category,
        record.released_at,
        record.review_at,
        record.case_closed_at,
    )
    try:
        return check_deletion(
            retained,
            held=held,
            deleted_by=by,
            reason=reason,
            now=now,
            policy=flow.settings.retention,
        )
    except DeletionRefused as exc:
        raise RequestError(str(exc), 409 if held else 422) from exc
