"""A footage request as the hub keeps it: the checked request (``hub.domain.requests``) plus its
number, state, decision, holds, clip jobs, release, outcome and retention. Plain frozen
dataclasses with no I/O; ``hub.storage`` maps them to and from its rows.

References look like ``R-2026-0001``: sequential within the year the request was received.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Final

from hub.domain.requests.dashboard import Outcome
from hub.domain.requests.decision import DecisionKind
from hub.domain.requests.request import CameraChoice, FootageRequest, IncidentWindow
from hub.domain.requests.retention import RetentionCategory
from hub.domain.requests.states import RequestState

REQUEST_PREFIX: Final = "R"


def request_reference(year: int, number: int) -> str:
    """``R-2026-0001``: the ``number``-th request received in ``year``."""
    return f"{REQUEST_PREFIX}-{year:04d}-{number:04d}"


class RequestOutcome(StrEnum):
    """What the footage led to, in the requester's words on the API."""

    FURTHER_ENQUIRIES = "further_enquiries"
    CHARGE = "charge"
    NFA = "nfa"
    OTHER = "other"

    @property
    def for_dashboard(self) -> Outcome:
        return _DASHBOARD_OUTCOME[self]


_DASHBOARD_OUTCOME: Final = {
    RequestOutcome.FURTHER_ENQUIRIES: Outcome.FURTHER_ENQUIRIES,
    RequestOutcome.CHARGE: Outcome.CHARGE,
    RequestOutcome.NFA: Outcome.NOTHING,
    RequestOutcome.OTHER: Outcome.NOT_RECORDED,
}


@dataclass(frozen=True)
class DecisionRecord:
    outcome: DecisionKind
    decided_by: str
    decided_at: datetime
    reason: str
    cameras: tuple[CameraChoice, ...]  # approved; empty when declined
    window: IncidentWindow | None  # approved; None when declined
    rule: str | None


@dataclass(frozen=True)
class RequestRecord:
    reference: str
    request: FootageRequest
    state: RequestState
    decision: DecisionRecord | None
    released_at: datetime | None
    outcome: RequestOutcome | None
    outcome_note: str
    retention_category: RetentionCategory
    review_at: datetime | None
    case_closed_at: datetime | None
    updated_at: datetime

    @property
    def district(self) -> str:
        """The partner district of the request: the site of its first camera."""
        return self.request.cameras[0].site_id if self.request.cameras else ""


@dataclass(frozen=True)
class HoldRecord:
    """A legal hold placed for a request on one camera's window, at the hub and the edge."""

    id: str
    request: str
    site_id: str
    camera_id: str
    window: IncidentWindow
    placed_at: datetime
    placed_by: str
    edge_confirmed_at: datetime | None
    lifted_at: datetime | None
    lifted_by: str | None

    @property
    def active(self) -> bool:
        return self.lifted_at is None


@dataclass(frozen=True)
class RequestJob:
    """A clip job made for a request's camera."""

    request: str
    job_id: str
    site_id: str
    camera_id: str
    created_at: datetime


@dataclass(frozen=True)
class OutboxMail:
    """A mail about a request, kept so nobody has to take the log's word that it went."""

    id: int
    request: str
    step: str
    recipients: tuple[str, ...]
    subject: str
    state: str  # queued, sent, logged (no SMTP configured), failed
    created_at: datetime
