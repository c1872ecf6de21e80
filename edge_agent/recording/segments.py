"""Plain data that the recorder produces and the planners reason about: segments, gaps, pins."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from cctv_common.evidence.manifest import GapCause


@dataclass(frozen=True)
class Segment:
    """One recorded file of about ten seconds that starts on a keyframe.

    ``keyframes`` holds the offset in seconds from ``start`` of every keyframe in the file; the
    first is always 0.0. ``path`` is relative to the agent's segments directory.

    Frame accounting (None in rows made before it was kept): ``frames`` were written into the
    file; ``frames_received`` came from the camera for it; ``frames_dropped`` says why the
    difference was not written, as (reason, count) pairs (``before_keyframe``: a connection's
    frames before its first keyframe cannot be decoded; ``duplicate``: the same packet twice;
    ``untimed``: a packet the demuxer gave without any timestamp). ``clock_jumps`` lists each
    jump of the camera's timestamps inside the file as (offset in seconds, the camera's step in
    seconds): no frame was lost there, the recorder re-anchored its timeline.
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
    frames: int | None = None
    frames_received: int | None = None
    frames_dropped: tuple[tuple[str, int], ...] = ()
    clock_jumps: tuple[tuple[float, float], ...] = ()
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
    """Time with no footage: the camera dropped, stalled, or was not yet recording.

    ``reason`` is for a reader; ``cause`` is from the closed list of the manifest (None in rows
    made before it was kept). An ``open`` gap is one that has not ended yet (the camera is still
    down); its ``end`` is where the question that found it stopped looking.
    """

    start: datetime
    end: datetime
    reason: str = "no footage"
    cause: GapCause | None = None
    open: bool = False

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
