"""Retention of the ring buffer: which segments to delete. Pure; the recorder's janitor acts on it.

Oldest first: everything past the age limit, then the oldest until the disk bound and the free
space floor are met. A segment that any pin (open job, legal hold) overlaps is never chosen, even
when that leaves the bound unmet: evidence outranks the buffer.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from edge_agent.recording.segments import Pin, Segment


@dataclass(frozen=True)
class RetentionDecision:
    delete: tuple[Segment, ...]
    bytes_freed: int
    pinned_bytes_kept: int
    bound_met: bool
    # Owners of the pins that kept segments retention would otherwise have deleted.
    kept_by: tuple[str, ...] = ()


def plan_retention(
    segments: Sequence[Segment],
    pins: Sequence[Pin],
    now: datetime,
    max_age: timedelta,
    max_bytes: int,
    bytes_to_free: int = 0,
) -> RetentionDecision:
    """Choose segments to delete.

    ``bytes_to_free`` is extra space wanted beyond ``max_bytes`` (the free-space floor).
    """
    oldest_first = sorted(segments, key=lambda s: s.start)
    total = sum(s.bytes for s in oldest_first)
    must_free = max(total - max_bytes, 0, bytes_to_free)
    cutoff = now - max_age
    chosen: list[Segment] = []
    freed = 0
    pinned_kept = 0
    kept_by: dict[str, None] = {}
    for segment in oldest_first:
        expired = segment.end < cutoff
        if not expired and freed >= must_free:
            break
        covering = [pin.owner for pin in pins if pin.covers(segment)]
        if covering:
            pinned_kept += segment.bytes
            kept_by.update(dict.fromkeys(covering))
            continue
        chosen.append(segment)
        freed += segment.bytes
    return RetentionDecision(
        delete=tuple(chosen),
        bytes_freed=freed,
        pinned_bytes_kept=pinned_kept,
        bound_met=freed >= must_free,
        kept_by=tuple(kept_by),
    )


def pressure_note(decision: RetentionDecision, hold_prefix: str = "hold:") -> str | None:
    """What the site's status and log say when retention cannot meet its bound (None when it
    does). Pinned footage is never deleted: if the disk fills, new recording gives way."""
    if decision.bound_met:
        return None
    holds = [o.removeprefix(hold_prefix) for o in decision.kept_by if o.startswith(hold_prefix)]
    jobs = len(decision.kept_by) - len(holds)
    if not decision.kept_by:
        return (
            "retention cannot free enough space: deleting every unpinned segment does not meet"
            " the free-space floor (the disk is used by something else)"
        )
    parts = []
    if holds:
        shown = ", ".join(holds[:5]) + (f" and {len(holds) - 5} more" if len(holds) > 5 else "")
        parts.append(f"{len(holds)} legal hold(s) ({shown})")
    if jobs:
        parts.append(f"{jobs} open clip job(s)")
    return (
        f"retention cannot free enough space: {decision.pinned_bytes_kept} bytes of footage are"
        f" pinned by {' and '.join(parts)} and are never deleted; if the disk fills, recording"
        " stops (a disk-full gap) before pinned footage is deleted"
    )
