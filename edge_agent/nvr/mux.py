"""Replayed access units into one MP4 by stream copy, frame times from the NVR. Blocking (PyAV):
call from a worker thread.

Nothing is decoded or encoded: each access unit's bytes (Annex B, as replayed) become one MP4
sample (the muxer turns start codes into length prefixes, as it does for the ring buffer's
MPEG-TS). Sample times are the NVR's times relative to the first frame, on a 90 kHz clock, so
``delivered.start`` plus a sample's time is the wall-clock time the NVR gave that frame. The
``moov`` box goes to the front (``+faststart``) so the clip plays while it downloads, like a
ring-buffer clip. H.265 is tagged 'hvc1' for Safari unless its parameter sets change within the
clip ('hev1' keeps every one in band), as the ring-buffer cutter does.

The stream's shape (codec, size, parameter sets) comes from PyAV probing the first keyframe.
"""

from __future__ import annotations

import io
import itertools
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import av.error

from cctv_common.files import fsync_file
from edge_agent.nvr.depacketize import Codec, nal_type
from edge_agent.nvr.replay import SpooledUnit
from edge_agent.recording.segment_probe import sha256_of

log = logging.getLogger(__name__)

TIME_BASE = Fraction(1, 90000)
_DEMUXERS = {"h264": "h264", "h265": "hevc"}


class MuxFailed(Exception):
    """The access units could not be written as an MP4; the message says why."""


@dataclass(frozen=True)
class MuxResult:
    path: Path
    bytes: int
    sha256: str
    codec: str
    width: int
    height: int
    fps: float | None
    frames: int
    first_ns: int  # the first frame's UTC time (ns since 1970)
    end_ns: int  # the last frame's time plus its duration


def decode_ticks(pts: Sequence[int]) -> list[int]:
    """Decode timestamps for presentation timestamps given in decode order. Pure.

    Without B-frames they are the same. With B-frames (a timestamp that goes back), each
    decode timestamp is the i-th smallest presentation timestamp less the largest reordering
    delay, so that it never comes after its own presentation time and only goes forward.
    """
    ordered = sorted(pts)
    if list(pts) == ordered:
        result = list(pts)
    else:
        delay = max(sorted_pts - own for sorted_pts, own in zip(ordered, pts, strict=True))
        result = [sorted_pts - delay for sorted_pts in ordered]
    for index in range(1, len(result)):  # equal times (a sender's rounding): one tick apart
        if result[index] <= result[index - 1]:
            result[index] = result[index - 1] + 1
    return result


def _parameter_sets(codec: Codec, data: bytes) -> bytes:
    types = (7, 8) if codec == "h264" else (32, 33, 34)
    return b"".join(
        unit for unit in data.split(b"\x00\x00\x00\x01") if unit and nal_type(codec, unit) in types
    )


def mux_access_units(
    spool: Path, units: Sequence[SpooledUnit], codec: Codec, out_path: Path
) -> MuxResult:
    """Write ``units`` (read from ``spool``) to ``out_path`` as an MP4; fsynced."""
    if not units:
        raise MuxFailed("the NVR sent no frames for this window")
    first_key = next((i for i, unit in enumerate(units) if unit.keyframe), None)
    if first_key is None:
        raise MuxFailed("the NVR sent no keyframe, so no frame of the window can be decoded")
    if first_key:
        log.info("skipping %d frames before the first keyframe (they cannot be decoded)", first_key)
        units = units[first_key:]
    first_ns = units[0].time_ns
    pts = [
        round((unit.time_ns - first_ns) * TIME_BASE.denominator / 1_000_000_000) for unit in units
    ]
    dts = decode_ticks(pts)
    intervals = sorted(b - a for a, b in itertools.pairwise(pts) if b > a)
    frame_ticks = intervals[len(intervals) // 2] if intervals else 3600
    hvc1 = codec == "h265"
    with spool.open("rb") as source:
        if hvc1:
            first_sets, changed = b"", False
            for unit in units:
                if unit.keyframe:
                    source.seek(unit.offset)
                    sets = _parameter_sets(codec, source.read(unit.size))
                    first_sets = first_sets or sets
                    changed = changed or (bool(sets) and sets != first_sets)
            if changed:
                log.warning("H.265 parameter sets change within the clip: tagged 'hev1'")
                hvc1 = False
        source.seek(units[0].offset)
        template = source.read(units[0].size)
        try:
            with av.open(io.BytesIO(template), "r", format=_DEMUXERS[codec]) as probe:
                in_stream = probe.streams.video[0]
                width, height = in_stream.width, in_stream.height
                output = av.open(
                    str(out_path), "w", format="mp4", options={"movflags": "+faststart"}
                )
                try:
                    out_stream = output.add_stream_from_template(in_stream, opaque=True)
                    out_stream.time_base = TIME_BASE
                    if hvc1:
                        out_stream.codec_context.codec_tag = "hvc1"
                    for index, unit in enumerate(units):
                        source.seek(unit.offset)
                        packet = av.Packet(source.read(unit.size))
                        packet.stream = out_stream
                        packet.time_base = TIME_BASE
                        packet.pts = pts[index]
                        packet.dts = dts[index]
                        following = (
                            pts[index + 1] if index + 1 < len(pts) else pts[index] + frame_ticks
                        )
                        packet.duration = (
                            max(following - pts[index], 1)
                            if following > pts[index]
                            else frame_ticks
                        )
                        packet.is_keyframe = unit.keyframe
                        output.mux_one(packet)
                finally:
                    output.close()
        except (av.error.FFmpegError, OSError, IndexError) as exc:
            out_path.unlink(missing_ok=True)
            raise MuxFailed(f"writing the MP4 failed: {exc}") from exc
    fsync_file(out_path)
    digest, size = sha256_of(out_path)
    end_ns = units[-1].time_ns + frame_ticks * 1_000_000_000 // TIME_BASE.denominator
    fps = round(TIME_BASE.denominator / frame_ticks, 3) if intervals else None
    return MuxResult(
        out_path, size, digest, codec, width, height, fps, len(units), first_ns, end_ns
    )
