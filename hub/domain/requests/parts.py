"""Long windows in parts: each camera's approved window is cut, uploaded and stored as consecutive
parts of at most ``[requests] part_minutes`` (one clip job each), so the first part is watchable
before the last is cut and one failed upload costs one part, not the whole window.

The split is done in UTC: a part is always the same length of real time, whatever the clocks do
on a DST day. A camera's progress is its parts': stored parts of all parts, a percent, and an
estimate of the time left from the pace measured so far (none when nothing is moving).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from hub.domain.requests import wording
from hub.domain.requests.request import IncidentWindow

DEFAULT_PART_MINUTES: Final = 30


def split_window(window: IncidentWindow, part: timedelta) -> tuple[IncidentWindow, ...]:
    """``window`` as consecutive parts of at most ``part``, in time order; the last may be short."""
    if part <= timedelta(0):
        raise ValueError("a part must be longer than zero")
    start, end = wording.as_utc(window.start), wording.as_utc(window.end)
    parts = []
    while start < end:
        stop = min(start + part, end)
        parts.append(IncidentWindow(start, stop))
        start = stop
    return tuple(parts)


@dataclass(frozen=True)
class PartJob:
    """What the progress of a part needs to know about one clip job of the camera."""

    window: IncidentWindow
    stored: bool  # stored and verified, its evidence item not deleted
    running: bool  # not yet in a final state: it may still finish
    percent: int
    created_at: datetime


@dataclass(frozen=True)
class CameraParts:
    """One camera's parts: how many are stored of all, and how long the rest should take."""

    total: int
    stored: int
    percent: int
    estimate_seconds_left: int | None  # None: done, not started, or a part has nothing running
    missing: tuple[IncidentWindow, ...]  # parts with no stored clip yet

    @property
    def complete(self) -> bool:
        return self.stored == self.total


def _covers(job: PartJob, part: IncidentWindow) -> bool:
    return job.window.contains(part)


def camera_parts(
    parts: tuple[IncidentWindow, ...], jobs: Iterable[PartJob], now: datetime
) -> CameraParts:
    """The progress of one camera whose approved window is ``parts``, from its clip jobs (a
    re-run or an extension that covers a part counts for it)."""
    jobs = list(jobs)
    done = 0
    stored = 0
    stalled = False
    missing = []
    for part in parts:
        covering = [job for job in jobs if _covers(job, part)]
        if any(job.stored for job in covering):
            stored += 1
            done += 100
            continue
        missing.append(part)
        running = [job for job in covering if job.running]
        if not running:
            stalled = True
            continue
        done += max(min(max(job.percent, 0), 100) for job in running)
    total = len(parts)
    units = 100 * total
    percent = round(100 * done / units) if units else 100
    if missing:
        percent = min(percent, 99)  # never "100%" while a part is still to come
    estimate = None
    started = [job.created_at for job in jobs if any(_covers(job, p) for p in parts)]
    if missing and not stalled and done > 0 and started:
        spent = (now - min(started)).total_seconds()
        if spent > 0:
            estimate = max(0, round(spent * (units - done) / done))
    return CameraParts(total, stored, percent, estimate, tuple(missing))
