"""When each packet leaves the relay: a fixed delay, jitter, and first in, first out (pure).

The relay asks ``departure(arrival)`` for every frame it reads and holds the frame until then.
Frames leave in the order they came: a jittered delay never lets a frame overtake the one before
it (a real link holds the packets behind a late one; reordering would make TCP resend packets the
link never lost, which no site link does at this rate).
"""

from __future__ import annotations

import random
from collections import deque
from dataclasses import dataclass, field


@dataclass
class DelayLine:
    """Departure times for one direction; seconds on whatever clock the caller uses."""

    delay: float
    jitter: float = 0.0
    rng: random.Random = field(default_factory=random.Random)
    _last: float = float("-inf")

    def __post_init__(self) -> None:
        if self.delay < 0 or self.jitter < 0 or self.jitter > self.delay:
            raise ValueError(f"delay {self.delay} s with jitter {self.jitter} s is not a link")

    def departure(self, arrival: float) -> float:
        offset = self.rng.uniform(-self.jitter, self.jitter) if self.jitter else 0.0
        self._last = max(arrival + self.delay + offset, self._last)
        return self._last


@dataclass
class HeldFrames:
    """Frames waiting in one direction, oldest first, each with its departure time."""

    line: DelayLine
    frames: deque[tuple[float, bytes]] = field(default_factory=deque)

    def hold(self, arrival: float, frame: bytes) -> None:
        self.frames.append((self.line.departure(arrival), frame))

    def next_departure(self) -> float | None:
        return self.frames[0][0] if self.frames else None

    def due(self, now: float) -> bytes | None:
        """The oldest frame if its time has come (removed), else ``None``."""
        if self.frames and self.frames[0][0] <= now:
            return self.frames.popleft()[1]
        return None

    def __len__(self) -> int:
        return len(self.frames)
