"""The data controller's decision: approve all, approve part, or decline with a reason.

Approval turns the request into what the hub then does, as data: hold specs (what to hold at the
hub and pin at the edge, at once, so the 31-day overwrite cannot take the footage while the request
is handled) and clip job specs, one per part of each approved camera's window (``parts``: at most
``[requests] part_minutes`` each), in the order they go out. A part approval names a subset of the
cameras and/or a narrower window inside the one asked; it needs a reason, like a decline does,
and the reason is kept. Nobody decides a request they filed or that is theirs.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Final

from hub.domain.requests import text, wording
from hub.domain.requests.parts import split_window
from hub.domain.requests.priority import by_priority
from hub.domain.requests.request import CameraChoice, FootageRequest, IncidentWindow, Urgency
from hub.domain.requests.states import RequestState, check_transition

MIN_REASON: Final = 10
MAX_REASON: Final = 2000


class DecisionKind(StrEnum):
    APPROVE = "approve"
    APPROVE_PART = "approve_part"
    DECLINE = "decline"


class HoldPlace(StrEnum):
    HUB = "hub"  # evidence items from this camera and window are kept past their retention date
    EDGE = "edge"  # the agent pins the segments so its ring buffer does not overwrite them


class DecisionRefused(ValueError):
    """A decision that cannot be taken as given; the message says why."""


@dataclass(frozen=True)
class ControllerDecision:
    kind: DecisionKind
    decided_by: str
    decided_at: datetime
    reason: str = ""
    cameras: tuple[CameraChoice, ...] = ()  # approve part: the cameras approved (empty: all)
    window: IncidentWindow | None = None  # approve part: a narrower window (None: as asked)
    rule: str | None = None  # the auto-approval rule that took it, if no person did


@dataclass(frozen=True)
class HoldSpec:
    request: str
    camera: CameraChoice
    window: IncidentWindow
    place: HoldPlace

    @property
    def site_id(self) -> str:
        return self.camera.site_id


@dataclass(frozen=True)
class ClipJobSpec:
    request: str
    camera: CameraChoice
    window: IncidentWindow
    urgency: Urgency
    requested_at: datetime  # when the request was received: older goes first within an urgency
    requested_by: str


@dataclass(frozen=True)
class DecisionOutcome:
    state: RequestState
    decision: ControllerDecision
    cameras: tuple[CameraChoice, ...]  # approved; empty when declined
    window: IncidentWindow | None  # approved; None when declined
    holds: tuple[HoldSpec, ...]
    clip_jobs: tuple[ClipJobSpec, ...]

    @property
    def summary(self) -> str:
        """One line for the custody log and the requester's mail."""
        who = f"rule {self.decision.rule!r}" if self.decision.rule else self.decision.decided_by
        if self.state is RequestState.DECLINED:
            return f"declined by {who}: {self.decision.reason}"
        assert self.window is not None
        cameras = ", ".join(camera.label for camera in self.cameras)
        head = "approved" if self.state is RequestState.APPROVED else "partly approved"
        line = f"{head} by {who}: {cameras}, {wording.span(self.window.start, self.window.end)}"
        return f"{line} ({self.decision.reason})" if self.decision.reason else line


def _reason(decision: ControllerDecision) -> str:
    reason = decision.reason.strip()
    needed = decision.kind is not DecisionKind.APPROVE
    what = "a decline" if decision.kind is DecisionKind.DECLINE else "a part approval"
    if needed and len(reason) < MIN_REASON:
        raise DecisionRefused(
            f"{what} needs a reason of at least {MIN_REASON} characters; it is kept and sent "
            "to the requester"
        )
    problem = text.paragraph("the reason", reason, max_length=MAX_REASON)
    if problem:
        raise DecisionRefused(problem)
    return reason


def _approved_cameras(
    request: FootageRequest, decision: ControllerDecision
) -> tuple[CameraChoice, ...]:
    if decision.kind is DecisionKind.APPROVE or not decision.cameras:
        return request.cameras
    asked = set(request.cameras)
    strangers = [camera.label for camera in decision.cameras if camera not in asked]
    if strangers:
        raise DecisionRefused(f"camera {', '.join(strangers)} was not asked for in this request")
    if len(set(decision.cameras)) != len(decision.cameras):
        raise DecisionRefused("a camera is approved twice")
    # In the order asked, whatever the order picked.
    return tuple(camera for camera in request.cameras if camera in set(decision.cameras))


def _approved_window(request: FootageRequest, decision: ControllerDecision) -> IncidentWindow:
    window = decision.window
    if decision.kind is DecisionKind.APPROVE or window is None:
        return request.window
    if not (wording.is_aware(window.start) and wording.is_aware(window.end)):
        raise DecisionRefused("the approved window has no time zone")
    if window.end <= window.start:
        raise DecisionRefused("the approved window ends at or before it starts")
    if not request.window.contains(window):
        asked = wording.span(request.window.start, request.window.end)
        raise DecisionRefused(
            f"the approved window {wording.span(window.start, window.end)} is not inside the "
            f"window asked for ({asked})"
        )
    return IncidentWindow(wording.as_utc(window.start), wording.as_utc(window.end))


def clip_jobs(
    reference: str,
    request: FootageRequest,
    cameras: tuple[CameraChoice, ...],
    window: IncidentWindow,
    part: timedelta | None,
) -> tuple[ClipJobSpec, ...]:
    """One job per part of each camera's ``window`` (the whole window when ``part`` is None), in
    the order they go out: parts in time order, every camera's first part before any camera's
    second; within a part the cameras by priority. Every part has the request's priority."""
    ordered = by_priority(
        ClipJobSpec(
            reference, camera, window, request.urgency, request.received_at, request.requested_by
        )
        for camera in cameras
    )
    pieces = (window,) if part is None else split_window(window, part)
    return tuple(replace(spec, window=piece) for piece in pieces for spec in ordered)


def decide(
    reference: str,
    request: FootageRequest,
    current: RequestState,
    decision: ControllerDecision,
    part: timedelta | None = None,
) -> DecisionOutcome:
    """What ``decision`` does to request ``reference``, or ``DecisionRefused`` /
    ``IllegalTransition`` (a request not awaiting a decision) saying why not. ``part``: the
    longest clip job (``[requests] part_minutes``); None for one job per camera."""
    if decision.rule is None:
        problem = text.username_problem("the deciding user", decision.decided_by)
        if problem:
            raise DecisionRefused(problem)
        if decision.decided_by in (request.requested_by, request.filed_by):
            raise DecisionRefused(
                f"{decision.decided_by} filed or owns request {reference} and cannot decide it: "
                "another data controller must"
            )
    reason = _reason(decision)
    if decision.kind is DecisionKind.DECLINE:
        state = check_transition(reference, current, RequestState.DECLINED)
        return DecisionOutcome(state, replace(decision, reason=reason), (), None, (), ())
    cameras = _approved_cameras(request, decision)
    window = _approved_window(request, decision)
    whole = cameras == request.cameras and window == request.window
    target = RequestState.APPROVED if whole else RequestState.PARTLY_APPROVED
    state = check_transition(reference, current, target)
    holds = tuple(
        HoldSpec(reference, camera, window, place)
        for camera in cameras
        for place in (HoldPlace.EDGE, HoldPlace.HUB)
    )
    jobs = clip_jobs(reference, request, cameras, window, part)
    return DecisionOutcome(state, replace(decision, reason=reason), cameras, window, holds, jobs)
