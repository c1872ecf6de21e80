"""Cut planning: which segments make a clip, and where the keyframe-aligned cut points fall.

Pure: it takes index rows and a window and returns a plan. The executor (``cutter``) carries it out.
The plan covers at least the requested window wherever footage exists: it starts on the last
keyframe at or before the start and stops just before the first keyframe at or after the end.
Every stretch of the window without footage is a gap with its cause
(``edge_agent.recording.gap_causes``), from the gaps the recorder recorded and how far retention has
deleted.
"""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from cctv_common.clock import iso_utc
from edge_agent.recording.gap_causes import Hole, Where, explain_gaps
from edge_agent.recording.segments import Gap, Segment

MAX_WINDOW = timedelta(hours=24)


class CutRefused(ValueError):
    """A cut that cannot be planned; the message says why in one line."""


class InvalidWindow(CutRefused):
    pass


class WindowOutsideBuffer(CutRefused):
    pass


@dataclass(frozen=True)
class PlannedPart:
    """A segment, or the keyframe-aligned part of one, that goes into the clip.

    Offsets are seconds from the segment's start; ``end_offset`` None means to the segment's end.
    """

    segment: Segment
    start_offset: float = 0.0
    end_offset: float | None = None

    @property
    def start(self) -> datetime:
        return self.segment.start + timedelta(seconds=self.start_offset)

    @property
    def end(self) -> datetime:
        if self.end_offset is None:
            return self.segment.end
        return self.segment.start + timedelta(seconds=self.end_offset)


@dataclass(frozen=True)
class CutPlan:
    camera_id: str
    requested_start: datetime
    requested_end: datetime
    parts: tuple[PlannedPart, ...]
    gaps: tuple[Gap, ...]

    @property
    def delivered_start(self) -> datetime:
        return self.parts[0].start

    @property
    def delivered_end(self) -> datetime:
        return self.parts[-1].end

    @property
    def covers_request(self) -> bool:
        return not self.gaps


def check_window(start: datetime, end: datetime) -> None:
    """Refuse windows that no real request has: naive, reversed, empty or over 24 hours."""
    if start.tzinfo is None or end.tzinfo is None:
        raise InvalidWindow("start and end must carry a time zone (UTC), e.g. 2026-11-23T10:00:00Z")
    if end <= start:
        raise InvalidWindow(f"end {iso_utc(end)} is not after start {iso_utc(start)}")
    if end - start > MAX_WINDOW:
        hours = (end - start).total_seconds() / 3600
        raise InvalidWindow(f"window of {hours:.1f} h is over the 24 h limit; split the request")


def plan_cut(
    camera_id: str,
    segments: Sequence[Segment],
    start: datetime,
    end: datetime,
    gap_tolerance: timedelta = timedelta(seconds=1),
    recorded_gaps: Sequence[Gap] = (),
    retention_horizon: datetime | None = None,
) -> CutPlan:
    """Plan a clip of ``camera_id`` for [start, end) from ``segments`` (any order, any camera).

    ``recorded_gaps`` are the camera's gaps from the index, ``retention_horizon`` the end of its
    newest footage that retention deleted: they give each gap its cause.
    """
    check_window(start, end)
    chosen = sorted(
        (s for s in segments if s.camera_id == camera_id and s.overlaps(start, end)),
        key=lambda s: s.start,
    )
    if not chosen:
        raise WindowOutsideBuffer(
            f"camera {camera_id} has no footage between {iso_utc(start)} and {iso_utc(end)}"
        )

    parts: list[PlannedPart] = []
    for position, segment in enumerate(chosen):
        start_offset = _in_point(segment, start) if position == 0 else 0.0
        end_offset = _out_point(segment, end) if position == len(chosen) - 1 else None
        parts.append(PlannedPart(segment, start_offset, end_offset))

    return CutPlan(
        camera_id=camera_id,
        requested_start=start,
        requested_end=end,
        parts=tuple(parts),
        gaps=tuple(
            explain_gaps(
                _holes(parts, start, end, gap_tolerance),
                recorded_gaps,
                retention_horizon,
                (parts[0].start, parts[-1].end),
                gap_tolerance,
            )
        ),
    )


def _in_point(segment: Segment, start: datetime) -> float:
    """Offset of the last keyframe at or before ``start`` (the segment's first when it is later)."""
    wanted = (start - segment.start).total_seconds()
    if wanted <= 0:
        return 0.0
    index = bisect.bisect_right(segment.keyframes, wanted) - 1
    return segment.keyframes[max(index, 0)]


def _out_point(segment: Segment, end: datetime) -> float | None:
    """Offset of the first keyframe at or after ``end``: the clip stops just before it."""
    wanted = (end - segment.start).total_seconds()
    index = bisect.bisect_left(segment.keyframes, wanted)
    if index >= len(segment.keyframes) or segment.keyframes[index] <= 0.0:
        return None
    return segment.keyframes[index]


def _holes(
    parts: Sequence[PlannedPart], start: datetime, end: datetime, tolerance: timedelta
) -> list[Hole]:
    holes = []
    if parts[0].start - start > tolerance:
        holes.append(Hole(start, parts[0].start, Where.BEFORE))
    for before, after in itertools.pairwise(parts):
        if after.start - before.end > tolerance:
            holes.append(Hole(before.end, after.start, Where.BETWEEN))
    if end - parts[-1].end > tolerance:
        holes.append(Hole(parts[-1].end, end, Where.AFTER))
    return holes
