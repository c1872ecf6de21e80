"""Why a clip has no footage where it has none: each hole of a cut plan gets its cause. Pure.

The planner finds the holes (before the first part, between parts, after the last); the recorder
recorded gaps with their causes as they happened (a connection ended, the stream stalled, the disk
filled, the agent stopped, a recorder process crashed), and retention recorded how far it has
deleted each camera's footage. A hole takes the cause that explains most of its time:

- the recorded gaps overlapping it, summed per cause;
- retention, for its time before the retention horizon that no recorded gap explains;
- otherwise: ``before_buffer`` before the camera's first footage (the recorder was not yet
  recording it) and after its last (not yet in the buffer when the clip was cut), and
  ``agent_stopped`` between two parts (no recorder wrote a cause: the agent was not running).

A recorded gap that lies inside the delivered footage without matching a hole (a stall inside a
segment, in which the connection stayed open) is a gap of the clip too. Jumps of the camera's
clock are not gaps: no frame was lost there (only rows of older agents, which did lose frames at
a jump, can explain a hole with that cause).
"""

from __future__ import annotations

import enum
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from cctv_common.evidence.manifest import GapCause
from edge_agent.recording.segments import Gap


class Where(enum.Enum):
    BEFORE = "before"
    BETWEEN = "between"
    AFTER = "after"


@dataclass(frozen=True)
class Hole:
    start: datetime
    end: datetime
    where: Where


_DEFAULTS = {
    Where.BEFORE: (GapCause.BEFORE_BUFFER, "before the first recorded footage"),
    Where.BETWEEN: (GapCause.AGENT_STOPPED, "no recording (the agent was not running)"),
    Where.AFTER: (
        GapCause.BEFORE_BUFFER,
        "after the last recorded footage (not yet in the buffer when the clip was cut)",
    ),
}
RETENTION_REASON = "deleted by retention (older than the buffer keeps)"


def _overlap(a_start: datetime, a_end: datetime, b_start: datetime, b_end: datetime) -> float:
    return max((min(a_end, b_end) - max(a_start, b_start)).total_seconds(), 0.0)


def explain_hole(hole: Hole, recorded: Sequence[Gap], horizon: datetime | None) -> Gap:
    """The hole as a gap with the cause that explains most of it (module docstring)."""
    seconds: dict[GapCause, float] = defaultdict(float)
    reasons: dict[GapCause, tuple[float, str]] = {}
    explained = 0.0
    for gap in recorded:
        overlap = _overlap(hole.start, hole.end, gap.start, gap.end)
        if overlap <= 0:
            continue
        cause: GapCause = gap.cause or GapCause.CAMERA_UNREACHABLE
        seconds[cause] += overlap
        explained += overlap
        if overlap > reasons.get(cause, (0.0, ""))[0]:
            reasons[cause] = (overlap, gap.reason)
    if horizon is not None and hole.start < horizon:
        before_horizon = _overlap(hole.start, hole.end, hole.start, horizon)
        deleted = max(before_horizon - explained, 0.0)
        if deleted > 0:
            seconds[GapCause.RETENTION] += deleted
            reasons[GapCause.RETENTION] = (deleted, RETENTION_REASON)
    if not seconds:
        default, reason = _DEFAULTS[hole.where]
        return Gap(hole.start, hole.end, reason, default)
    best = max(seconds, key=lambda c: seconds[c])
    return Gap(hole.start, hole.end, reasons[best][1], best)


def explain_gaps(
    holes: Sequence[Hole],
    recorded: Sequence[Gap],
    horizon: datetime | None,
    delivered: tuple[datetime, datetime],
    tolerance: timedelta,
) -> list[Gap]:
    """Every hole explained, and the recorded gaps inside the delivered footage; by start."""
    gaps = [explain_hole(hole, recorded, horizon) for hole in holes]
    first, last = delivered
    for gap in recorded:
        if gap.cause is GapCause.CAMERA_CLOCK_JUMP:
            continue
        start, end = max(gap.start, first), min(gap.end, last)
        if end - start <= tolerance:
            continue
        if any(_overlap(start, end, hole.start, hole.end) > 0 for hole in holes):
            continue
        gaps.append(Gap(start, end, gap.reason, gap.cause or GapCause.STREAM_STALLED))
    return sorted(gaps, key=lambda gap: gap.start)
