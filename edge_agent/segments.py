"""Plain data that the recorder produces and the planners reason about: segments, gaps, pins."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta


@dataclass(frozen=True)
class Segment:
    """One recorded file of about ten seconds that starts on a keyframe.

    ``keyframes`` holds the offset in seconds from ``start`` of every keyframe in the file; the
    first is always 0.0. ``path`` is relative to the agent's segments directory.
    """

    camera_id: str
    path: str
    start: datetime
    end: datetime
    bytes: int
    sha256: str
    keyframes: tuple[float, ...] = (0.0,)
    codec: str = "h264"
    width: int = 0
    height: int = 0
    fps: float | None = None
    id: int | None = field(default=None, compare=False)

    @property
    def duration(self) -> timedelta:
        return self.end - self.start

    def keyframe_times(self) -> list[datetime]:
        return [self.start + timedelta(seconds=offset) for offset in self.keyframes]

    def overlaps(self, start: datetime, end: datetime) -> bool:
        return self.end > start and self.start < end


@dataclass(frozen=True)
class Gap:
    """Time with no footage: the camera dropped, stalled, or was not yet recording."""

    start: datetime
    end: datetime
    reason: str = "no footage"

    @property
    def seconds(self) -> float:
        return (self.end - self.start).total_seconds()


@dataclass(frozen=True)
class Pin:
    """Footage that retention must keep: under an open job or a legal hold.

    ``camera_id`` None pins every camera of the site for the window.
    """

    owner: str
    camera_id: str | None
    start: datetime
    end: datetime

    def covers(self, segment: Segment) -> bool:
        if self.camera_id is not None and self.camera_id != segment.camera_id:
            return False
        return segment.overlaps(self.start, self.end)
