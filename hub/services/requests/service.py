"""``RequestService``: the footage-request workflow as one object on the hub service."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from functools import partial

from cctv_common.wire.hub_signing import HubSigner
from hub.domain.request_records import OutboxMail, RequestRecord
from hub.domain.requests.retention import RetainedKind
from hub.domain.requests.states import RequestState
from hub.notifications.mailer import Mailer
from hub.notifications.messages import NotificationStep
from hub.services.jobs import JobService, MessagePublisher
from hub.services.requests.context import Workflow
from hub.services.requests.deciding import Deciding
from hub.services.requests.filing import Filing
from hub.services.requests.fulfilment import Fulfilment
from hub.services.requests.mail import RequesterMail
from hub.services.requests.release import Releasing
from hub.services.requests.reports import RequestReports
from hub.settings import HubSettings
from hub.storage.evidence.store import EvidenceStore
from hub.storage.ports import HubStorage, UnitOfWork

log = logging.getLogger(__name__)


class RequestService:
    def __init__(
        self,
        settings: HubSettings,
        *,
        storage: HubStorage,
        store: EvidenceStore,
        jobs: JobService,
        publish: MessagePublisher,
        signer: HubSigner,
        now: Callable[[], datetime],
        actor: str,
    ) -> None:
        mailer = None if settings.smtp is None else Mailer(settings.smtp.mailer_settings())
        self.flow = Workflow(
            storage=storage,
            store=store,
            jobs=jobs,
            publish=publish,
            signer=signer,
            settings=settings.requests,
            mail=RequesterMail(storage, mailer, settings.requests.base_url),
            now=now,
            actor=actor,
            exhibit_pattern=settings.exhibits.reference_pattern,
        )
        self.filing = Filing(self.flow)
        self.deciding = Deciding(self.flow)
        self.fulfilment = Fulfilment(self.flow, self.deciding)
        self.releasing = Releasing(self.flow, self.deciding)
        self.reports = RequestReports(self.flow)

    def start(self) -> None:
        """Start the mailer; the sweep (``fulfilment.run``) and ``retention_loop`` are
        background jobs the hub service runs on one worker."""
        self.flow.mail.start()

    def close(self) -> None:
        self.flow.mail.close()

    async def republish_holds(self) -> int:
        """Publish every hold in force again (retained); agents ignore holds they know."""
        holds = await self.flow.storage.aread(lambda uow: uow.holds.active())
        for hold in holds:
            self.deciding.publish_hold(hold)
        return len(holds)

    async def retention_loop(self) -> None:
        while True:
            try:
                await self.retention_check()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("retention check failed")
            await asyncio.sleep(self.flow.settings.retention_check_hours * 3600)

    async def retention_check(self) -> int:
        """Make the daily list, log it, and mail each requester whose footage is due for
        deletion within ``expiring_notice_days`` (once per request)."""
        flow = self.flow
        now = flow.now()
        due = await self.reports.retention_due()
        log.info(
            "retention: %d due for deletion, %d due for review, %d held past their date",
            len(due.due_for_deletion),
            len(due.due_for_review),
            len(due.held_past_date),
        )
        soon = await self.reports.retention_due(
            now + timedelta(days=flow.settings.expiring_notice_days)
        )
        sent = 0
        for entry in soon.due_for_deletion:
            if entry.item.kind is not RetainedKind.REQUEST:
                continue
            record, mails = await flow.storage.aread(partial(_with_mails, entry.item.item_id))
            if record is None or record.state is RequestState.DELETED:
                continue
            if any(mail.step == NotificationStep.EXPIRING.value for mail in mails):
                continue
            await flow.mail.send(
                NotificationStep.EXPIRING, record, now, expires_at=entry.dates.delete_on
            )
            sent += 1
        return sent


def _with_mails(reference: str, uow: UnitOfWork) -> tuple[RequestRecord | None, list[OutboxMail]]:
    return uow.requests.get(reference), uow.disclosures.mails(reference)
