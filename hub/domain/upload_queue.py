"""A site's upload queue as the hub shows it: each open clip job in the order the agent sends them
(most urgent first, then oldest: ``edge_agent.uplink.window_rules``), how much of each the hub
holds, the site's measured rate, and an estimate of the time left. Pure rules (no I/O, no clock).

The time left for a clip is everything ahead of it in the queue and its own remainder, at the
rate measured over the last ``RATE_WINDOW_SECONDS``: a routine clip behind a threat-to-life one
waits for it. A clip not yet cut (no size known) has no estimate, and neither has anything while
nothing is arriving.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Final

RATE_WINDOW_SECONDS: Final = 10.0


class RateMeter:
    """Bytes received over a sliding window of ``window`` seconds."""

    def __init__(self, window: float = RATE_WINDOW_SECONDS) -> None:
        if window <= 0:
            raise ValueError("the window must be positive")
        self._window = window
        self._samples: deque[tuple[float, int]] = deque()
        self._total = 0

    def add(self, nbytes: int, now: float) -> None:
        self._samples.append((now, nbytes))
        self._total += nbytes
        self._expire(now)

    def _expire(self, now: float) -> None:
        while self._samples and now - self._samples[0][0] > self._window:
            self._total -= self._samples.popleft()[1]

    def rate(self, now: float) -> float:
        """Bytes per second over the window (0 when nothing arrived in it)."""
        self._expire(now)
        if not self._samples:
            return 0.0
        # Over the whole window once it has filled, else since the first sample (a fresh
        # upload is not diluted by the quiet before it).
        span = min(self._window, max(now - self._samples[0][0], 1.0))
        return self._total / span


@dataclass(frozen=True)
class QueuedClip:
    job_id: str
    camera_id: str
    priority: int
    state: str
    created_at: datetime
    clip_id: str | None = None
    bytes_held: int = 0
    bytes_total: int | None = None


@dataclass(frozen=True)
class QueueRow:
    clip: QueuedClip
    position: int
    seconds_left: float | None


def queue_rows(clips: Sequence[QueuedClip], rate: float) -> list[QueueRow]:
    """The queue in sending order with each clip's estimated time left."""
    ordered = sorted(clips, key=lambda c: (-c.priority, c.created_at, c.job_id))
    rows: list[QueueRow] = []
    ahead: float | None = 0.0
    for position, clip in enumerate(ordered, start=1):
        if clip.bytes_total is None or ahead is None or rate <= 0:
            ahead = None
            rows.append(QueueRow(clip, position, None))
            continue
        ahead += max(0, clip.bytes_total - clip.bytes_held)
        rows.append(QueueRow(clip, position, ahead / rate))
    return rows
