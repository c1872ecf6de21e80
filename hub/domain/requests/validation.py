"""Checks a request as typed into the form or sent to the API, and builds a ``FootageRequest``.

Every problem is found in one pass and reported together (``RequestRefused.problems``), each in a
sentence the officer can act on: "the window ends at 14:05 on Sat 2 Mar 2024, in the future".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Final

from cctv_common.wire.ids import is_valid_id
from hub.domain.requests import text, wording
from hub.domain.requests.request import (
    CameraChoice,
    CameraRef,
    FootageRequest,
    IncidentWindow,
    LawfulBasis,
    NvrChannelRef,
    Officer,
    Urgency,
)

MAX_NAME: Final = 120
MAX_REFERENCE: Final = 60
MAX_OFFENCE: Final = 300
MAX_NOTES: Final = 4000
MAX_COLLEAGUES: Final = 20
MAX_NVR_CHANNEL: Final = 1024


class RequestRefused(ValueError):
    """A request that breaks one or more rules; ``problems`` says each, in order of the form."""

    def __init__(self, problems: tuple[str, ...]) -> None:
        self.problems = problems
        super().__init__("; ".join(problems))


@dataclass(frozen=True)
class RequestLimits:
    max_window: timedelta = timedelta(hours=24)
    max_cameras: int = 16
    # How far a window's end may be ahead of the hub's clock (the officer's watch is not the
    # hub's NTP clock); beyond this the footage cannot have been recorded yet.
    clock_tolerance: timedelta = timedelta(minutes=2)


@dataclass(frozen=True)
class CameraCatalogue:
    """The cameras and NVR channels the hub knows, as registered by the sites."""

    cameras: frozenset[CameraRef] = frozenset()
    nvr_channels: frozenset[NvrChannelRef] = frozenset()

    @property
    def sites(self) -> frozenset[str]:
        return frozenset(ref.site_id for ref in self.cameras | self.nvr_channels)

    def knows(self, choice: CameraChoice) -> bool:
        if isinstance(choice, CameraRef):
            return choice in self.cameras
        return choice in self.nvr_channels


@dataclass(frozen=True)
class RequestDraft:
    """A request as received: text stripped by nobody, enums as strings, times as given."""

    force: str = ""
    officer_name: str = ""
    rank: str = ""
    collar_number: str = ""
    contact: str = ""
    crime_reference: str = ""
    incident_log: str = ""
    offence: str = ""
    lawful_basis: str = ""
    urgency: str = ""
    start: datetime | None = None
    end: datetime | None = None
    cameras: tuple[CameraChoice, ...] = ()
    notes: str = ""
    ripa: bool = False
    colleagues: tuple[str, ...] = field(default=())


def _enum_problem(field_name: str, value: str, allowed: list[str]) -> str:
    return f"{field_name} {text.shown(value)} is not one of: {', '.join(allowed)}"


def _window_problems(
    start: datetime | None, end: datetime | None, limits: RequestLimits, now: datetime
) -> list[str]:
    if start is None or end is None:
        return ["the incident window needs a start and an end time"]
    problems = []
    for name, moment in (("start", start), ("end", end)):
        if not wording.is_aware(moment):
            problems.append(f"the window's {name} has no time zone: local to whom?")
    if problems:
        return problems
    if end <= start:
        return [
            f"the window ends ({wording.day_and_time(end)}) at or before it starts "
            f"({wording.day_and_time(start)})"
        ]
    if start > now + limits.clock_tolerance:
        problems.append(
            f"the window starts at {wording.day_and_time(start)}, in the future "
            f"(it is now {wording.day_and_time(now)}): footage cannot be asked for before "
            "it is recorded"
        )
    elif end > now + limits.clock_tolerance:
        problems.append(
            f"the window ends at {wording.day_and_time(end)}, in the future "
            f"(it is now {wording.day_and_time(now)}): end it now or earlier"
        )
    if end - start > limits.max_window:
        problems.append(
            f"the window is {wording.duration(end - start)} long; at most "
            f"{wording.duration(limits.max_window)} may be asked for in one request"
        )
    return problems


def _camera_problems(
    cameras: tuple[CameraChoice, ...], catalogue: CameraCatalogue, limits: RequestLimits
) -> list[str]:
    if not cameras:
        return ["pick at least one camera"]
    problems = []
    if len(cameras) > limits.max_cameras:
        problems.append(
            f"{len(cameras)} cameras were picked; at most {limits.max_cameras} may be in one "
            "request"
        )
    seen: set[CameraChoice] = set()
    for choice in cameras[: limits.max_cameras + 1]:
        problem = _camera_problem(choice, catalogue)
        if problem is not None:
            problems.append(problem)
        elif choice in seen:
            problems.append(f"camera {choice.label} is picked twice")
        seen.add(choice)
    return problems


def _camera_problem(choice: CameraChoice, catalogue: CameraCatalogue) -> str | None:
    if not isinstance(choice, CameraRef | NvrChannelRef):
        return f"{text.shown(str(choice))} is not a camera"
    if not is_valid_id(choice.site_id):
        return f"site id {text.shown(str(choice.site_id))} is not a valid id"
    if isinstance(choice, CameraRef):
        if not is_valid_id(choice.camera_id):
            return f"camera id {text.shown(str(choice.camera_id))} is not a valid id"
    elif not is_valid_id(choice.nvr_id):
        return f"NVR id {text.shown(str(choice.nvr_id))} is not a valid id"
    elif isinstance(choice.channel, bool) or not 1 <= choice.channel <= MAX_NVR_CHANNEL:
        return f"NVR channel {choice.channel!r} is not a channel number (1-{MAX_NVR_CHANNEL})"
    if catalogue.knows(choice):
        return None
    if choice.site_id not in catalogue.sites:
        return f"there is no site {choice.site_id!r}"
    return f"site {choice.site_id!r} has no camera {choice.label!r}"


def _people_problems(draft: RequestDraft, requested_by: str, filed_by: str) -> list[str]:
    problems = [
        problem
        for problem in (
            text.username_problem("the requesting user", requested_by),
            text.username_problem("the filing user", filed_by),
        )
        if problem is not None
    ]
    if len(draft.colleagues) > MAX_COLLEAGUES:
        problems.append(f"at most {MAX_COLLEAGUES} colleagues may be named")
    for colleague in draft.colleagues[: MAX_COLLEAGUES + 1]:
        name = colleague.strip()
        problem = text.username_problem("colleague", name) if name else None
        if problem is not None:
            problems.append(problem)
    return problems


def _text_problems(draft: RequestDraft) -> list[str]:
    one_line = [
        ("the force", draft.force, MAX_NAME, True),
        ("the officer's name", draft.officer_name, MAX_NAME, True),
        ("the officer's rank", draft.rank, MAX_NAME, True),
        ("the collar number", draft.collar_number, 20, True),
        ("the crime reference", draft.crime_reference, MAX_REFERENCE, False),
        ("the incident log number", draft.incident_log, MAX_REFERENCE, False),
        ("the offence or reason", draft.offence, MAX_OFFENCE, True),
    ]
    problems = [
        problem
        for name, value, limit, required in one_line
        if (problem := text.one_line(name, value.strip(), max_length=limit, required=required))
    ]
    contact = draft.contact.strip()
    if not contact:
        problems.append("a contact e-mail address is required: progress is mailed there")
    elif problem := text.email_problem("the contact", contact):
        problems.append(problem)
    if not draft.crime_reference.strip() and not draft.incident_log.strip():
        problems.append("give a crime reference or an incident log number")
    if problem := text.paragraph("the notes", draft.notes, max_length=MAX_NOTES):
        problems.append(problem)
    return problems


def check_request(
    draft: RequestDraft,
    *,
    catalogue: CameraCatalogue,
    requested_by: str,
    filed_by: str,
    now: datetime,
    limits: RequestLimits | None = None,
) -> FootageRequest:
    """The request ``draft`` describes, or ``RequestRefused`` listing everything wrong with it."""
    rules = limits or RequestLimits()
    problems = _text_problems(draft)
    bases = [basis.value for basis in LawfulBasis]
    if draft.lawful_basis not in bases:
        problems.append(_enum_problem("the lawful basis", draft.lawful_basis, bases))
    urgencies = [urgency.value for urgency in Urgency]
    if draft.urgency not in urgencies:
        problems.append(_enum_problem("the urgency", draft.urgency, urgencies))
    problems += _window_problems(draft.start, draft.end, rules, now)
    problems += _camera_problems(draft.cameras, catalogue, rules)
    problems += _people_problems(draft, requested_by, filed_by)
    if problems:
        raise RequestRefused(tuple(problems))
    assert draft.start is not None and draft.end is not None
    colleagues = tuple(dict.fromkeys(c.strip() for c in draft.colleagues if c.strip()))
    return FootageRequest(
        officer=Officer(
            force=draft.force.strip(),
            name=draft.officer_name.strip(),
            rank=draft.rank.strip(),
            collar_number=draft.collar_number.strip(),
            contact=draft.contact.strip(),
        ),
        crime_reference=draft.crime_reference.strip(),
        incident_log=draft.incident_log.strip(),
        offence=draft.offence.strip(),
        lawful_basis=LawfulBasis(draft.lawful_basis),
        urgency=Urgency(draft.urgency),
        window=IncidentWindow(draft.start.astimezone(UTC), draft.end.astimezone(UTC)),
        cameras=draft.cameras,
        notes=draft.notes.strip(),
        ripa=draft.ripa,
        requested_by=requested_by,
        filed_by=filed_by,
        colleagues=tuple(c for c in colleagues if c != requested_by),
        received_at=now.astimezone(UTC),
    )
