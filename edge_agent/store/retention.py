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
    for segment in oldest_first:
        expired = segment.end < cutoff
        if not expired and freed >= must_free:
            break
        if any(pin.covers(segment) for pin in pins):
            pinned_kept += segment.bytes
            continue
        chosen.append(segment)
        freed += segment.bytes
    return RetentionDecision(
        delete=tuple(chosen),
        bytes_freed=freed,
        pinned_bytes_kept=pinned_kept,
        bound_met=freed >= must_free,
    )
