"""Recorded segments made with ffmpeg for the cutter's tests, and their index rows, as the
recorder would leave them."""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

from edge_agent.recording.segment_probe import segment_from_file
from edge_agent.recording.segments import Segment

T0 = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
CAMERA = "cam-1"
SEGMENT_SECONDS = 2

ENCODERS = {
    # veryfast uses B-frames, so pts - dts must survive the cut.
    "h264": ["-c:v", "libx264", "-preset", "veryfast", "-g", "25", "-keyint_min", "25"],
    "hevc": [
        "-c:v", "libx265", "-preset", "ultrafast",
        "-x265-params", "keyint=25:min-keyint=25:scenecut=0:log-level=error",
    ],
}  # fmt: skip


def make_segments(directory: Path, codec: str, seconds: int, reset_timestamps: bool) -> None:
    """Segments like the recorder's: MPEG-TS, a keyframe every second, a new file every 2 s."""
    directory.mkdir(parents=True)
    command = [
        "ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error",
        "-f", "lavfi", "-i", f"testsrc2=size=320x240:rate=25:duration={seconds}",
        *ENCODERS[codec], "-sc_threshold", "0", "-pix_fmt", "yuv420p",
        "-f", "segment", "-segment_time", str(SEGMENT_SECONDS), "-segment_format", "mpegts",
        "-reset_timestamps", "1" if reset_timestamps else "0",
        str(directory / "seg_%03d.ts"),
    ]  # fmt: skip
    subprocess.run(command, check=True)


def index_rows(segments_dir: Path, gap_after: int | None = None) -> list[Segment]:
    """Rows for every file of the camera, each starting where the one before ended; a 5 s
    recording gap follows segment ``gap_after`` (as after a camera reconnect)."""
    rows = []
    start = T0
    for number, path in enumerate(sorted((segments_dir / CAMERA).glob("seg_*.ts"))):
        row = segment_from_file(CAMERA, segments_dir, path, start)
        rows.append(row)
        start = row.end + (timedelta(seconds=5) if number == gap_after else timedelta(0))
    return rows
