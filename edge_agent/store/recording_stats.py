"""What a camera's recent recording says about its health, read from the segment index: the
bitrate and frame rate over the last hour, the frames lost and the seconds without footage over
the last 24 h. Blocking (index reads)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from edge_agent.store.segment_index import SegmentIndex

RATE_WINDOW: Final = timedelta(hours=1)
LOSS_WINDOW: Final = timedelta(hours=24)


@dataclass(frozen=True)
class RecordingStats:
    bitrate_bps: int | None  # over the last hour of segments
    fps: float | None
    frames_lost_24h: int  # dropped frames, plus the frames the gaps would have held
    gap_seconds_24h: float


def recording_stats(index: SegmentIndex, camera_id: str, now: datetime) -> RecordingStats:
    recent = index.segments_overlapping(camera_id, now - RATE_WINDOW, now)
    seconds = sum((s.end - s.start).total_seconds() for s in recent)
    size = sum(s.bytes for s in recent)
    frames = sum(s.frames or 0 for s in recent)
    bitrate = round(size * 8 / seconds) if seconds > 0 else None
    fps = round(frames / seconds, 2) if seconds > 0 and frames else None
    day_start = now - LOSS_WINDOW
    dropped = sum(
        count
        for s in index.segments_overlapping(camera_id, day_start, now)
        for _reason, count in s.frames_dropped
    )
    gap_seconds = 0.0
    for gap in index.gaps_overlapping(camera_id, day_start, now):
        start, end = max(gap.start, day_start), min(gap.end, now)
        gap_seconds += max(0.0, (end - start).total_seconds())
    gap_seconds = min(gap_seconds, LOSS_WINDOW.total_seconds())
    unseen = round(gap_seconds * fps) if fps else 0
    return RecordingStats(bitrate, fps, dropped + unseen, round(gap_seconds, 1))
