"""Sends request mail through the council's SMTP relay, in a thread of its own.

``Mailer.send`` only queues: it never blocks and never raises, so a relay that is down cannot stop
a decision or a release. The thread sends with the standard library's smtplib: STARTTLS (or TLS
from the first byte, or nothing on loopback), then AUTH when a user is set. A mail that fails is
logged and tried again after each delay in ``retry_delays``; after the last it is logged as given
up. The password is read from its file for each connection; it is never logged and never held in
the settings. A password is never sent without TLS.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import smtplib
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from enum import StrEnum
from pathlib import Path
from typing import Final

from hub.domain.requests import text
from hub.notifications.messages import RequestMail

log = logging.getLogger(__name__)

DEFAULT_RETRY_DELAYS: Final = (30.0, 120.0, 600.0, 1800.0, 3600.0)
_LOOPBACK: Final = frozenset({"127.0.0.1", "localhost", "::1"})


class SmtpSecurity(StrEnum):
    STARTTLS = "starttls"  # port 587: plain connection upgraded before anything is said
    TLS = "tls"  # port 465: TLS from the first byte
    NONE = "none"  # loopback relays only (a local MTA), never with a password


class MailSettingsError(ValueError):
    """SMTP settings that cannot work or would be unsafe."""


class MailNotSent(RuntimeError):
    """One attempt to hand a mail to the relay failed; the message is safe to log."""


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    from_address: str
    port: int = 587
    security: SmtpSecurity = SmtpSecurity.STARTTLS
    username: str = ""
    password_file: Path | None = None  # first line is the password; mode 0600; never logged
    ca_file: Path | None = None  # the relay's CA when it is not a public one
    timeout: float = 30.0
    retry_delays: tuple[float, ...] = field(default=DEFAULT_RETRY_DELAYS)

    def __post_init__(self) -> None:
        if not self.host or any(c.isspace() for c in self.host):
            raise MailSettingsError("the SMTP host is required")
        if not 1 <= self.port <= 65535:
            raise MailSettingsError(f"the SMTP port {self.port} is not a port")
        if problem := text.email_problem("the sender address", self.from_address):
            raise MailSettingsError(problem)
        if self.security is SmtpSecurity.NONE and self.host not in _LOOPBACK:
            raise MailSettingsError("SMTP without TLS is allowed only to a relay on this machine")
        if self.username and self.security is SmtpSecurity.NONE:
            raise MailSettingsError("a password is never sent without TLS: set starttls or tls")
        if self.username and self.password_file is None:
            raise MailSettingsError("an SMTP user needs a password_file")
        if self.timeout <= 0 or any(delay < 0 for delay in self.retry_delays):
            raise MailSettingsError("the SMTP timeout and retry delays must be positive")


def _password(settings: SmtpSettings) -> str:
    assert settings.password_file is not None
    try:
        lines = settings.password_file.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise MailNotSent(
            f"cannot read the SMTP password file {settings.password_file}: {exc.strerror}"
        ) from None
    if not lines or not lines[0]:
        raise MailNotSent(f"the SMTP password file {settings.password_file} is empty")
    return lines[0]


def email_message(mail: RequestMail, sender: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = ", ".join(mail.to)
    message["Subject"] = mail.subject
    message["Date"] = formatdate(localtime=False, usegmt=True)
    message["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2])
    message["Auto-Submitted"] = "auto-generated"  # RFC 3834: no auto-replies, please
    message.set_content(mail.body, charset="utf-8")
    return message


def deliver(settings: SmtpSettings, mail: RequestMail) -> None:
    """One attempt to hand ``mail`` to the relay; ``MailNotSent`` (safe to log) if it fails."""
    context = ssl.create_default_context(cafile=str(settings.ca_file) if settings.ca_file else None)
    message = email_message(mail, settings.from_address)
    try:
        smtp: smtplib.SMTP
        if settings.security is SmtpSecurity.TLS:
            smtp = smtplib.SMTP_SSL(
                settings.host, settings.port, timeout=settings.timeout, context=context
            )
        else:
            smtp = smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout)
        with smtp:
            if settings.security is SmtpSecurity.STARTTLS:
                smtp.starttls(context=context)
            if settings.username:
                smtp.login(settings.username, _password(settings))
            refused = smtp.send_message(message, settings.from_address, list(mail.to))
    except smtplib.SMTPResponseException as exc:
        said = exc.smtp_error
        reply = (said.decode("utf-8", "replace") if isinstance(said, bytes) else str(said))[:200]
        raise MailNotSent(f"the relay said {exc.smtp_code} {reply}") from None
    except smtplib.SMTPRecipientsRefused:
        raise MailNotSent("the relay refused every recipient") from None
    except (smtplib.SMTPException, ssl.SSLError, OSError) as exc:
        raise MailNotSent(f"{type(exc).__name__}: {exc}"[:300]) from None
    if refused:
        log.warning(
            "mail for %s (%s): the relay refused %d of %d recipients",
            mail.request,
            mail.step.value,
            len(refused),
            len(mail.to),
        )


@dataclass(order=True)
class _Queued:
    due: float
    order: int
    attempt: int = field(compare=False)
    mail: RequestMail = field(compare=False)


class Mailer:
    """A queue of mail and the thread that sends it, with retries. ``send`` never raises."""

    def __init__(
        self,
        settings: SmtpSettings,
        *,
        clock: Callable[[], float] = time.monotonic,
        on_gave_up: Callable[[RequestMail, str], None] | None = None,
    ) -> None:
        self._settings = settings
        self._clock = clock
        self._on_gave_up = on_gave_up
        self._queue: list[_Queued] = []
        self._order = itertools.count()
        self._wake = threading.Condition()
        self._stopping = False
        self._busy = False
        self._thread = threading.Thread(target=self._run, name="mailer", daemon=True)
        self.sent = 0
        self.given_up = 0

    def start(self) -> None:
        self._thread.start()

    def close(self, timeout: float = 10.0) -> None:
        """Stop the thread; mail still queued is logged as not sent."""
        with self._wake:
            self._stopping = True
            self._wake.notify_all()
        if self._thread.is_alive():
            self._thread.join(timeout)
        with self._wake:
            left = len(self._queue)
        if left:
            log.warning("mailer stopped with %d mail not sent", left)

    def send(self, mail: RequestMail) -> None:
        """Queue ``mail`` for sending now; returns at once."""
        with self._wake:
            if self._stopping:
                log.warning("mail for %s (%s) not queued: mailer stopped", mail.request, mail.step)
                return
            heapq.heappush(self._queue, _Queued(self._clock(), next(self._order), 1, mail))
            self._wake.notify_all()

    def pending(self) -> int:
        """Mail queued or being sent."""
        with self._wake:
            return len(self._queue) + (1 if self._busy else 0)

    def _next(self) -> _Queued | None:
        with self._wake:
            while not self._stopping:
                if self._queue:
                    wait = self._queue[0].due - self._clock()
                    if wait <= 0:
                        self._busy = True
                        return heapq.heappop(self._queue)
                    self._wake.wait(min(wait, 1.0))
                else:
                    self._wake.wait(1.0)
            return None

    def _run(self) -> None:
        while (item := self._next()) is not None:
            try:
                self._attempt(item)
            except Exception:  # the thread must outlive any bug in one mail
                log.exception("mail for %s: unexpected error", item.mail.request)
            finally:
                with self._wake:
                    self._busy = False

    def _attempt(self, item: _Queued) -> None:
        mail = item.mail
        try:
            deliver(self._settings, mail)
        except MailNotSent as exc:
            delays = self._settings.retry_delays
            if item.attempt > len(delays):
                self.given_up += 1
                log.error(
                    "mail for %s (%s) not sent after %d attempts, given up: %s",
                    mail.request,
                    mail.step.value,
                    item.attempt,
                    exc,
                )
                if self._on_gave_up is not None:
                    self._on_gave_up(mail, str(exc))
                return
            delay = delays[item.attempt - 1]
            log.warning(
                "mail for %s (%s) not sent (attempt %d): %s; trying again in %.0f s",
                mail.request,
                mail.step.value,
                item.attempt,
                exc,
                delay,
            )
            with self._wake:
                heapq.heappush(
                    self._queue,
                    _Queued(self._clock() + delay, next(self._order), item.attempt + 1, mail),
                )
            return
        self.sent += 1
        log.info(
            "mail for %s (%s) sent to %d recipients", mail.request, mail.step.value, len(mail.to)
        )
