"""A footage request as filed by the police (or by an operator on their behalf), once checked.

``FootageRequest`` is only ever built by ``validation.check_request`` from a ``RequestDraft``, so
a value of this type has passed every rule: an aware UTC window, known cameras, a crime reference
or incident log number, clean text. The hub's storage gives it its number (``R-12``) and state.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Final

REFERENCE_PREFIX: Final = "R-"


def reference(number: int) -> str:
    """The reference people use for request ``number``: ``R-12``."""
    return f"{REFERENCE_PREFIX}{number}"


class LawfulBasis(StrEnum):
    """Why the council may disclose the footage and the police may process it (DPA 2018)."""

    LAW_ENFORCEMENT = "dpa2018-part3-s35"
    CRIME_EXEMPTION = "dpa2018-sch2-para2"
    LEGAL_PROCEEDINGS = "dpa2018-sch2-para5"

    @property
    def label(self) -> str:
        return _BASIS_LABELS[self]


_BASIS_LABELS: Final = {
    LawfulBasis.LAW_ENFORCEMENT: (
        "DPA 2018 Part 3, s.35: processing by a competent authority for law enforcement purposes"
    ),
    LawfulBasis.CRIME_EXEMPTION: (
        "DPA 2018 Schedule 2, Part 1, paragraph 2: prevention or detection of crime, "
        "apprehension or prosecution of offenders"
    ),
    LawfulBasis.LEGAL_PROCEEDINGS: (
        "DPA 2018 Schedule 2, Part 1, paragraph 5: required by law or in connection with "
        "legal proceedings"
    ),
}


class Urgency(StrEnum):
    ROUTINE = "routine"
    PRIORITY = "priority"
    THREAT_TO_LIFE = "threat_to_life"

    @property
    def rank(self) -> int:
        """0 is served first."""
        return _URGENCY_RANK[self]

    @property
    def label(self) -> str:
        return self.value.replace("_", " ")


_URGENCY_RANK: Final = {Urgency.THREAT_TO_LIFE: 0, Urgency.PRIORITY: 1, Urgency.ROUTINE: 2}


@dataclass(frozen=True, order=True)
class CameraRef:
    """A camera the site's agent records itself."""

    site_id: str
    camera_id: str

    @property
    def label(self) -> str:
        return f"{self.site_id}/{self.camera_id}"


@dataclass(frozen=True, order=True)
class NvrChannelRef:
    """A channel of an NVR the site's agent can replay (ONVIF Profile G, docs/nvr.md)."""

    site_id: str
    nvr_id: str
    channel: int

    @property
    def label(self) -> str:
        return f"{self.site_id}/{self.nvr_id} channel {self.channel}"


CameraChoice = CameraRef | NvrChannelRef


@dataclass(frozen=True)
class IncidentWindow:
    """A span of time, both ends aware UTC, ``start < end``."""

    start: datetime
    end: datetime

    @property
    def length(self) -> timedelta:
        return self.end - self.start

    def contains(self, other: IncidentWindow) -> bool:
        return self.start <= other.start and other.end <= self.end

    def overlaps(self, other: IncidentWindow) -> bool:
        return self.start < other.end and other.start < self.end


@dataclass(frozen=True)
class Officer:
    """Who asks: the officer in the case, as they would sign a statement."""

    force: str
    name: str
    rank: str
    collar_number: str
    contact: str  # an e-mail address; progress mail goes there


@dataclass(frozen=True)
class FootageRequest:
    officer: Officer
    crime_reference: str  # at least one of crime_reference and incident_log is not empty
    incident_log: str
    offence: str
    lawful_basis: LawfulBasis
    urgency: Urgency
    window: IncidentWindow
    cameras: tuple[CameraChoice, ...]  # at least one, no repeats, in the order asked
    notes: str
    ripa: bool  # the requester says RIPA (directed surveillance) applies; counted and reported
    requested_by: str  # the police user the request belongs to
    filed_by: str  # who typed it in: the requester, or an operator on their behalf
    colleagues: tuple[str, ...]  # hub users who may also see the request and its footage
    received_at: datetime

    @property
    def police_reference(self) -> str:
        """What the police call the case: the crime reference, else the incident log number."""
        return self.crime_reference or self.incident_log

    def may_see(self, user: str) -> bool:
        """Whether police user ``user`` is the requester or a named colleague."""
        return user == self.requested_by or user in self.colleagues
