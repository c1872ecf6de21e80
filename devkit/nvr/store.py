"""The test NVR's recordings on disk: access units with their wall-clock times. Standard library
only, so that both the NVR's GStreamer processes (Debian's /usr/bin/python3) and the tests read it.

One recording is a folder named after its token::

    recording.json   token, source (channel), codec, size, frame rate and its spans
    span-N.es        the span's access units, Annex B, end to end (parameter sets in band)
    span-N.idx       one line per access unit: byte offset, size, UTC time in ns, keyframe (1/0)

A span is a stretch without holes; a recording with a hole has two spans. The times are those
burnt into the picture (timeoverlay counting from the span's start), so a frame's time can be
read off the frame itself.
"""

from __future__ import annotations

import bisect
import json
from dataclasses import dataclass
from pathlib import Path

NTP_UNIX_OFFSET_NS = 2_208_988_800 * 1_000_000_000  # 1900-01-01 to 1970-01-01
META_NAME = "recording.json"


@dataclass(frozen=True)
class RecordedFrame:
    offset: int
    size: int
    time_ns: int  # UTC, ns since 1970
    key: bool


@dataclass(frozen=True)
class Span:
    number: int
    units: tuple[RecordedFrame, ...]
    frame_ns: int  # one frame's duration

    @property
    def start_ns(self) -> int:
        return self.units[0].time_ns

    @property
    def end_ns(self) -> int:
        """Just after the last frame."""
        return self.units[-1].time_ns + self.frame_ns

    def keyframe_at_or_before(self, time_ns: int) -> int:
        """Index of the last keyframe at or before ``time_ns`` (the first keyframe if none)."""
        times = [unit.time_ns for unit in self.units]
        index = max(bisect.bisect_right(times, time_ns) - 1, 0)
        while index > 0 and not self.units[index].key:
            index -= 1
        while index < len(self.units) - 1 and not self.units[index].key:
            index += 1
        return index


@dataclass(frozen=True)
class Recording:
    folder: Path
    token: str
    source_id: str
    channel: int
    name: str
    codec: str  # "h264" or "h265"
    width: int
    height: int
    fps: int
    spans: tuple[Span, ...]

    @property
    def start_ns(self) -> int:
        return self.spans[0].start_ns

    @property
    def end_ns(self) -> int:
        return self.spans[-1].end_ns

    def data_path(self, span: Span) -> Path:
        return self.folder / f"span-{span.number}.es"

    def read(self, span: Span, unit: RecordedFrame) -> bytes:
        with self.data_path(span).open("rb") as handle:
            handle.seek(unit.offset)
            return handle.read(unit.size)

    def units_between(self, start_ns: int, end_ns: int) -> list[tuple[Span, RecordedFrame]]:
        """Every access unit a replay of [start, end) sends: from the keyframe at or before the
        start (of the span the start falls in, or the next span) to the last frame before the
        end."""
        found: list[tuple[Span, RecordedFrame]] = []
        for span in self.spans:
            if span.end_ns <= start_ns or span.start_ns >= end_ns:
                continue
            first = span.keyframe_at_or_before(start_ns) if start_ns > span.start_ns else 0
            for unit in span.units[first:]:
                if unit.time_ns >= end_ns:
                    break
                found.append((span, unit))
        return found


class SpanWriter:
    """Appends access units to one span's files."""

    def __init__(self, folder: Path, number: int) -> None:
        self.folder = folder
        self.number = number
        self._data = (folder / f"span-{number}.es").open("wb")
        self._index = (folder / f"span-{number}.idx").open("w", encoding="ascii")
        self._offset = 0
        self.units = 0

    def add(self, data: bytes, time_ns: int, key: bool) -> None:
        self._data.write(data)
        self._index.write(f"{self._offset} {len(data)} {time_ns} {int(key)}\n")
        self._offset += len(data)
        self.units += 1

    def close(self) -> None:
        self._data.close()
        self._index.close()


def write_meta(folder: Path, meta: dict[str, object]) -> None:
    (folder / META_NAME).write_text(json.dumps(meta, indent=1, sort_keys=True), encoding="utf-8")


def load_recording(folder: Path) -> Recording:
    meta = json.loads((folder / META_NAME).read_text(encoding="utf-8"))
    fps = int(meta["fps"])
    frame_ns = 1_000_000_000 // fps
    spans = []
    for number in range(int(meta["spans"])):
        units = []
        for line in (folder / f"span-{number}.idx").read_text(encoding="ascii").splitlines():
            offset, size, time_ns, key = (int(field) for field in line.split())
            units.append(RecordedFrame(offset, size, time_ns, bool(key)))
        if units:
            spans.append(Span(number, tuple(units), frame_ns))
    return Recording(
        folder=folder,
        token=str(meta["token"]),
        source_id=str(meta["source_id"]),
        channel=int(meta["channel"]),
        name=str(meta["name"]),
        codec=str(meta["codec"]),
        width=int(meta["width"]),
        height=int(meta["height"]),
        fps=fps,
        spans=tuple(spans),
    )


def load_recordings(root: Path) -> dict[str, Recording]:
    """Every recording under ``root`` by token."""
    found = {}
    for meta in sorted(root.glob(f"*/{META_NAME}")):
        recording = load_recording(meta.parent)
        found[recording.token] = recording
    return found
