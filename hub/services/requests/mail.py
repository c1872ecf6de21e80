"""The requester's mail at each step: composed by ``hub.notifications.messages``, kept in the
outbox table, and sent by the ``Mailer`` when ``[smtp]`` is configured (else logged only).

A mail never carries footage or a token: only the request's reference, the police reference,
what happened, and a link to the status page."""

from __future__ import annotations

import logging
from datetime import datetime

from hub.domain.request_records import RequestRecord
from hub.notifications.mailer import Mailer
from hub.notifications.messages import (
    MailFacts,
    MailRefused,
    NotificationStep,
    compose,
    status_url,
)
from hub.storage.ports import HubStorage, UnitOfWork

log = logging.getLogger(__name__)


class RequesterMail:
    def __init__(self, storage: HubStorage, mailer: Mailer | None, base_url: str) -> None:
        self._storage = storage
        self._mailer = mailer
        self._base_url = base_url

    def start(self) -> None:
        if self._mailer is not None:
            self._mailer.start()

    def close(self) -> None:
        if self._mailer is not None:
            self._mailer.close()

    def _recipients(
        self, uow: UnitOfWork, record: RequestRecord, extra: tuple[str, ...]
    ) -> list[str]:
        found = [record.request.officer.contact]
        for name in record.request.colleagues:
            user = uow.users.get(name)
            if user is not None and user.email and not user.disabled:
                found.append(user.email)
        found += extra
        return list(dict.fromkeys(address for address in found if address))

    async def send(
        self,
        step: NotificationStep,
        record: RequestRecord,
        now: datetime,
        *,
        reason: str = "",
        detail: str = "",
        expires_at: datetime | None = None,
        also_to: tuple[str, ...] = (),
    ) -> None:
        """Compose, keep in the outbox and send (or log); never raises."""
        officer = record.request.officer
        try:
            facts = MailFacts(
                reference=record.reference,
                police_reference=record.request.police_reference,
                recipient_name=f"{officer.rank} {officer.name}".strip(),
                status_url=status_url(self._base_url, record.reference),
                reason=reason,
                detail=detail,
                expires_at=expires_at,
            )
            recipients = await self._storage.aread(
                lambda uow: self._recipients(uow, record, also_to)
            )
            mail = compose(step, facts, tuple(recipients))
        except MailRefused as exc:
            log.error("request %s: %s mail not made: %s", record.reference, step.value, exc)
            return
        state = "queued" if self._mailer is not None else "logged"
        await self._storage.awrite(
            lambda uow: uow.disclosures.add_mail(
                record.reference, step.value, mail.to, mail.subject, state, now
            )
        )
        if self._mailer is None:
            log.info(
                "request %s: %s mail to %d recipient(s) logged, not sent (no [smtp]): %s",
                record.reference,
                step.value,
                len(mail.to),
                mail.subject,
            )
            return
        self._mailer.send(mail)
