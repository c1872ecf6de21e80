"""The mail for each step of a footage request: received, approved (all or part), declined with the
reason, footage secured on hold, ready, released, expiring. Pure: facts in, a mail out.

A mail says what happened and links to the request's status page; to see anything the reader logs
in. It never carries footage, a still, a download link with a token, a password or a key: the
status URL is refused if it has a query, a fragment or a user name in it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Final
from urllib.parse import quote, urlsplit

from hub.domain.requests import text, wording

SUBJECT_PREFIX: Final = "[CCTV]"
MAX_RECIPIENTS: Final = 25
MAX_SUBJECT_PART: Final = 80


class NotificationStep(StrEnum):
    RECEIVED = "received"
    APPROVED = "approved"
    PARTLY_APPROVED = "partly_approved"
    DECLINED = "declined"
    SECURED = "secured"
    READY = "ready"
    RELEASED = "released"
    EXPIRING = "expiring"
    FLEET_ALERT = "fleet_alert"  # to engineers: a site or camera needs attention


class MailRefused(ValueError):
    """A mail that must not be sent as asked (a bad address, a URL carrying a token...)."""


@dataclass(frozen=True)
class RequestMail:
    to: tuple[str, ...]
    subject: str
    body: str
    request: str  # "R-12", for the log
    step: NotificationStep


@dataclass(frozen=True)
class MailFacts:
    """What a mail about a request may say."""

    reference: str
    police_reference: str  # the crime reference or incident log number
    recipient_name: str  # "DC Jane Smith"
    status_url: str  # from status_url()
    reason: str = ""  # a decline's or part approval's reason
    detail: str = ""  # e.g. "2 cameras, 06:00-06:30 on Sat 2 Mar 2024"
    expires_at: datetime | None = None  # EXPIRING: when the footage is due for deletion


def status_url(base_url: str, reference: str) -> str:
    """The request's status page under the hub's public ``base_url`` (https; http on loopback)."""
    parts = urlsplit(base_url.strip())
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise MailRefused("the hub's base URL must be an https:// address")
    if parts.scheme == "http" and parts.hostname not in ("127.0.0.1", "localhost", "::1"):
        raise MailRefused("the hub's base URL must be https:// unless it is on this machine")
    if parts.username or parts.password or parts.query or parts.fragment:
        raise MailRefused("the hub's base URL must not carry a user, a query or a fragment")
    path = parts.path.rstrip("/")
    return f"{parts.scheme}://{parts.netloc}{path}/requests/{quote(reference, safe='')}"


def _one_line(value: str, limit: int = MAX_SUBJECT_PART) -> str:
    cleaned = " ".join("".join(c if c.isprintable() else " " for c in value).split())
    return cleaned if len(cleaned) <= limit else cleaned[: limit - 3] + "..."


def _paragraph(value: str, limit: int = 2000) -> str:
    lines = ("".join(c if c.isprintable() else " " for c in line) for line in value.splitlines())
    cleaned = "\n".join(line.rstrip() for line in lines).strip()
    return cleaned if len(cleaned) <= limit else cleaned[: limit - 3] + "..."


def _headline(step: NotificationStep, facts: MailFacts) -> tuple[str, str]:
    """(subject words, first paragraph) for ``step``."""
    ref = _one_line(facts.reference, 20)
    if step is NotificationStep.RECEIVED:
        return "received", (
            f"Your request {ref} has been received and is awaiting a data controller's decision."
        )
    if step is NotificationStep.APPROVED:
        return "approved", f"Your request {ref} has been approved. The footage is being retrieved."
    if step is NotificationStep.PARTLY_APPROVED:
        return "partly approved", (
            f"Your request {ref} has been approved in part. Only what is approved is retrieved."
        )
    if step is NotificationStep.DECLINED:
        return "declined", f"Your request {ref} has been declined."
    if step is NotificationStep.SECURED:
        return "footage secured", (
            f"The footage for request {ref} is on hold: it will not be overwritten while the "
            "request is handled."
        )
    if step is NotificationStep.READY:
        return "ready", (
            f"The footage for request {ref} has been retrieved and verified and is ready for "
            "release."
        )
    if step is NotificationStep.RELEASED:
        return "released", (
            f"The footage for request {ref} has been released to you. Log in to watch or "
            "download it; each viewing is recorded in the custody log."
        )
    when = wording.long_date(facts.expires_at) if facts.expires_at else "soon"
    return "expiring", (
        f"The footage for request {ref} is due for deletion on {when}. If it is still needed, "
        "record the case's outcome or ask the control room for a review before then."
    )


def compose(step: NotificationStep, facts: MailFacts, to: tuple[str, ...]) -> RequestMail:
    """The mail for ``step``, or ``MailRefused`` for bad recipients or a status URL with a token."""
    if not to:
        raise MailRefused("a mail needs at least one recipient")
    if len(to) > MAX_RECIPIENTS:
        raise MailRefused(f"at most {MAX_RECIPIENTS} recipients")
    for address in to:
        if problem := text.email_problem("recipient", address):
            raise MailRefused(problem)
    parts = urlsplit(facts.status_url)
    if parts.scheme not in ("https", "http") or parts.query or parts.fragment or parts.username:
        raise MailRefused("the status URL must be a plain page address (from status_url())")
    words, opening = _headline(step, facts)
    police = f" ({_one_line(facts.police_reference)})" if facts.police_reference else ""
    subject = f"{SUBJECT_PREFIX} {_one_line(facts.reference, 20)} {words}{police}"
    lines = [f"Dear {_one_line(facts.recipient_name, 120) or 'officer'},", "", opening]
    if facts.police_reference:
        lines += ["", f"Your reference: {_one_line(facts.police_reference)}"]
    if facts.detail:
        lines += ["", _one_line(facts.detail, 500)]
    if facts.reason.strip():
        lines += ["", "Reason given by the data controller:", _paragraph(facts.reason)]
    lines += [
        "",
        f"Status page: {facts.status_url}",
        "",
        "This message was sent automatically by the CCTV evidence hub. It never contains footage;",
        "log in to the hub to see the request. Do not reply to this address.",
    ]
    return RequestMail(tuple(to), subject, "\n".join(lines) + "\n", facts.reference, step)
