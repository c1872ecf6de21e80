"""Does each camera still hold the window asked for? Flagged the moment a request is typed.

A site reports what each camera's ring buffer (or NVR channel) holds as one or more spans. For a
request window this says, per camera, what is already gone ("cam-3 holds footage from 06:24 only:
20 min of the window are gone"), what is missing at the end or in the middle, and how long until
the ring buffer overwrites the start of the window (approval places a hold that stops that).
Gaps shorter than ``tolerance`` (segment joins, a status report a minute old) are not flagged.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from hub.domain.requests import wording
from hub.domain.requests.request import CameraChoice, IncidentWindow

DEFAULT_TOLERANCE: Final = timedelta(minutes=2)
DEFAULT_AT_RISK: Final = timedelta(hours=24)
BUFFER_SOURCE: Final = "buffer"


@dataclass(frozen=True)
class BufferSpan:
    """Footage a camera holds without a break, ``start <= end``, aware times."""

    start: datetime
    end: datetime
    source: str = BUFFER_SOURCE  # "buffer", or "NVR <name>": footage the agent replays from it


@dataclass(frozen=True)
class CameraCoverage:
    camera: CameraChoice
    known: bool  # False: the site has not said what this camera holds
    missing: tuple[BufferSpan, ...]  # parts of the window no span holds (beyond the tolerance)
    overwrite_in: timedelta | None  # until the ring buffer reaches the window's start
    messages: tuple[str, ...]

    @property
    def complete(self) -> bool:
        return self.known and not self.missing

    @property
    def missing_length(self) -> timedelta:
        return sum((gap.end - gap.start for gap in self.missing), timedelta())


def _merged(spans: Sequence[BufferSpan]) -> list[BufferSpan]:
    ordered = sorted((s for s in spans if s.end >= s.start), key=lambda s: s.start)
    merged: list[BufferSpan] = []
    for item in ordered:
        if merged and item.start <= merged[-1].end and item.source == merged[-1].source:
            last = merged[-1]
            merged[-1] = BufferSpan(last.start, max(last.end, item.end), last.source)
        else:
            merged.append(item)
    return merged


def _gaps(window: IncidentWindow, spans: list[BufferSpan]) -> list[BufferSpan]:
    gaps = []
    cursor = window.start
    for item in spans:
        if item.end <= cursor:
            continue
        if item.start >= window.end:
            break
        if item.start > cursor:
            gaps.append(BufferSpan(cursor, item.start))
        cursor = max(cursor, item.end)
    if cursor < window.end:
        gaps.append(BufferSpan(cursor, window.end))
    return gaps


def _gap_message(
    label: str, gap: BufferSpan, window: IncidentWindow, spans: list[BufferSpan]
) -> str:
    day = wording.local_day(window.start)
    length = wording.duration(gap.end - gap.start)
    if gap.start == window.start and gap.end == window.end:
        if spans and spans[0].start >= window.end:
            first = wording.clock_time(spans[0].start, on=day)
            return f"{label} holds footage from {first} only: the whole window ({length}) is gone"
        if spans and spans[-1].end <= window.start:
            last = wording.clock_time(spans[-1].end, on=day)
            return (
                f"{label} has footage up to {last} only: none of the window ({length}) was recorded"
            )
        return f"{label} holds nothing of the window ({length})"
    if gap.start == window.start:
        first = wording.clock_time(gap.end, on=day)
        return f"{label} holds footage from {first} only: {length} of the window are gone"
    if gap.end == window.end:
        last = wording.clock_time(gap.start, on=day)
        return f"{label} has footage up to {last} only: the last {length} of the window are missing"
    return (
        f"{label} has no footage {wording.clock_time(gap.start, on=day)}-"
        f"{wording.clock_time(gap.end, on=day)} ({length} of the window)"
    )


def camera_coverage(
    camera: CameraChoice,
    window: IncidentWindow,
    spans: Sequence[BufferSpan] | None,
    *,
    tolerance: timedelta = DEFAULT_TOLERANCE,
    at_risk: timedelta = DEFAULT_AT_RISK,
) -> CameraCoverage:
    """What ``camera`` holds of ``window`` given its reported ``spans`` (None: not reported)."""
    label = camera.label
    if spans is None:
        message = f"{label} has not reported what it holds: the window may or may not be there"
        return CameraCoverage(camera, False, (), None, (message,))
    merged = _merged(spans)
    if not merged:
        message = f"{label} holds no footage at all: the whole window is missing"
        whole = (BufferSpan(window.start, window.end),)
        return CameraCoverage(camera, True, whole, None, (message,))
    gaps = [gap for gap in _gaps(window, merged) if gap.end - gap.start > tolerance]
    messages = [_gap_message(label, gap, window, merged) for gap in gaps]
    overwrite_in = None
    buffer = [span for span in spans if span.source == BUFFER_SOURCE]
    nvr_holds = any(
        span.start <= window.start and span.end >= window.end
        for span in merged
        if span.source != BUFFER_SOURCE
    )
    oldest = min((span.start for span in buffer), default=window.end)
    if oldest <= window.start and not nvr_holds:
        overwrite_in = window.start - oldest
        if overwrite_in < at_risk:
            messages.append(
                f"{label} will overwrite the start of the window in about "
                f"{wording.duration(overwrite_in)} unless the request is approved (which holds it)"
            )
    return CameraCoverage(camera, True, tuple(gaps), overwrite_in, tuple(messages))


def request_coverage(
    cameras: Sequence[CameraChoice],
    window: IncidentWindow,
    spans: Mapping[CameraChoice, Sequence[BufferSpan] | None],
    *,
    tolerance: timedelta = DEFAULT_TOLERANCE,
    at_risk: timedelta = DEFAULT_AT_RISK,
) -> tuple[CameraCoverage, ...]:
    """``camera_coverage`` for each camera, in the order asked."""
    return tuple(
        camera_coverage(camera, window, spans.get(camera), tolerance=tolerance, at_risk=at_risk)
        for camera in cameras
    )
