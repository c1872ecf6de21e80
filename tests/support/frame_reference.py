"""What a camera sent against what the recorder kept, frame by frame, by the pictures' own bytes.

- ``ReferenceCapture(url)``: an independent RTSP client (PyAV, TCP, in a thread) that notes the
  SHA-1 of every frame's slice NAL units (``edge_agent.recording.nal_units.slice_payloads``: the
  picture without the parameter sets a server may repeat per client) and every backward step of its
  own timestamps (a shared mount restarting them when another client joins).
- ``recorded_frames(segments_dir, segments)``: the same digests from the recorder's segments.
- ``clip_frames(source)``: the same digests from an evidence clip (MP4: length-prefixed NAL units).
- ``compare(reference, recorded)``: the reference's frames from the recorder's first frame to its
  last, and how many of them the recorder has, in order.

Timestamps are never compared: they are what the recorder rewrites.
"""

from __future__ import annotations

import difflib
import hashlib
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import av
import av.error

from edge_agent.recording.nal_units import slice_payloads, starts_picture
from edge_agent.recording.segments import Segment

OPTIONS = {
    "rtsp_transport": "tcp",
    "allowed_media_types": "video",
    "analyzeduration": "500000",
    "probesize": "1000000",
    "timeout": "10000000",
}


def _sha1(data: bytes) -> bytes:
    return hashlib.sha1(data, usedforsecurity=False).digest()


def frame_digest(data: bytes, codec: str = "h264") -> bytes:
    """The digest of one recorded packet (one whole picture) by its slices."""
    return _sha1(slice_payloads(data, codec))


@dataclass
class ReferenceCapture:
    url: str
    frames: list[bytes] = field(default_factory=list)
    backward_steps: int = 0
    error: str | None = None
    _stop: threading.Event = field(default_factory=threading.Event)
    _started: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self, timeout: float = 20.0) -> ReferenceCapture:
        self._thread = threading.Thread(target=self._run, name="reference-capture", daemon=True)
        self._thread.start()
        if not self._started.wait(timeout):
            raise AssertionError(f"the reference capture did not start: {self.error}")
        return self

    def stop(self) -> list[bytes]:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(30)
        return self.frames

    def _run(self) -> None:
        try:
            with av.open(self.url, options=OPTIONS, timeout=(10.0, 5.0)) as container:
                stream = container.streams.video[0]
                codec = stream.codec_context.name
                last_dts: int | None = None
                frame = b""
                for packet in container.demux(stream):
                    if not packet.size:
                        continue
                    slices = slice_payloads(bytes(packet), codec)
                    same_time = packet.dts is not None and packet.dts == last_dts
                    if same_time and (slices == frame or not starts_picture(bytes(packet), codec)):
                        # A duplicate, or another slice of the same picture (the recorder
                        # joins those into one packet).
                        frame += b"" if slices == frame else slices
                        continue
                    if packet.dts is not None:
                        if last_dts is not None and packet.dts < last_dts:
                            self.backward_steps += 1
                        last_dts = packet.dts
                    if frame:
                        self.frames.append(_sha1(frame))
                    frame = slices
                    self._started.set()
                    if self._stop.is_set():
                        break
        except av.error.FFmpegError as exc:
            self.error = str(exc)
            self._started.set()


def recorded_frames(segments_dir: Path, segments: Sequence[Segment]) -> list[bytes]:
    """Digests of every frame in the segments, in recording order."""
    frames: list[bytes] = []
    for segment in sorted(segments, key=lambda s: s.start):
        with av.open(str(segments_dir / segment.path)) as container:
            stream = container.streams.video[0]
            codec = stream.codec_context.name
            for packet in container.demux(stream):
                if packet.size:
                    frames.append(frame_digest(bytes(packet), codec))
    return frames


def annex_b(length_prefixed: bytes, length_size: int = 4) -> bytes:
    """An MP4 sample's NAL units (each after its big-endian length) with start codes instead."""
    units: list[bytes] = []
    at = 0
    while at + length_size <= len(length_prefixed):
        size = int.from_bytes(length_prefixed[at : at + length_size], "big")
        at += length_size
        units.append(b"\x00\x00\x00\x01" + length_prefixed[at : at + size])
        at += size
    return b"".join(units)


def clip_frames(source: str | BinaryIO) -> list[bytes]:
    """Digests of every frame in an MP4 clip (the cutter's output), in order."""
    frames: list[bytes] = []
    with av.open(source, mode="r") as container:
        stream = container.streams.video[0]
        codec = stream.codec_context.name
        for packet in container.demux(stream):
            if packet.size:
                frames.append(frame_digest(annex_b(bytes(packet)), codec))
    return frames


@dataclass(frozen=True)
class Comparison:
    sent: int  # reference frames from the recorder's first frame to its last
    recorded: int  # of those, in the recorder's segments (in order)
    extra: int  # frames in the segments that the reference lacks

    @property
    def missing(self) -> int:
        return self.sent - self.recorded


def compare(reference: Sequence[bytes], recorded: Sequence[bytes]) -> Comparison:
    if not recorded:
        return Comparison(0, 0, 0)
    try:
        first = reference.index(recorded[0])
    except ValueError as exc:
        raise AssertionError("the recorder's first frame is not in the reference") from exc
    span = reference[first:]
    matcher = difflib.SequenceMatcher(None, span, recorded, autojunk=False)
    blocks = [block for block in matcher.get_matching_blocks() if block.size]
    matched = sum(block.size for block in blocks)
    # The reference goes on after the recorder stopped: count it up to the last frame matched.
    sent = blocks[-1].a + blocks[-1].size if blocks else 0
    return Comparison(sent=sent, recorded=matched, extra=len(recorded) - matched)
