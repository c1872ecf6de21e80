"""The remux itself: the chain of segments demuxed once and muxed into one MP4, by stream copy.

The first attempt assumes what the recorder guarantees (one access unit per PES packet, so the
demuxer need not parse; a frame count the index predicts, so the moov box fits in the space
reserved at the front; HEVC parameter sets that never change, so 'hvc1' loses nothing). Each
assumption that turns out false raises inside the remux and the cut is redone with that fallback
on (``remux_with_fallbacks``).
"""

from __future__ import annotations

import dataclasses
import errno
import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import av.error
from av.container import OutputContainer
from av.packet import Packet
from av.video.stream import VideoStream

from edge_agent.clips.clip_writeback import ClipWriteback
from edge_agent.clips.cut_errors import CutFailed
from edge_agent.clips.cut_plan import CutPlan
from edge_agent.clips.cut_timeline import CutTimeline
from edge_agent.clips.segment_chain import READ_SIZE, SegmentChain, SourceFile, verify_sources

log = logging.getLogger(__name__)

ProgressCallback = Callable[[float], None]

# Worst-case bytes of sample tables per video sample in the moov box: stsz 4, stts 8, ctts 8,
# stss 4, and a chunk of its own (co64 8 + stsc 12). Plus the fixed boxes and the extradata.
_MOOV_BYTES_PER_SAMPLE = 48
_MOOV_FIXED_BYTES = 4 * 1024
# Margin on the frame count that the index predicts (variable frame rate cameras).
_FRAME_COUNT_MARGIN = 1.25
_ASSUMED_MAX_FPS = 60.0

# Parameter sets (and an encoder's SEI) sit in the first bytes of a keyframe.
_PARAMETER_SET_SCAN_BYTES = 64 * 1024

_INPUT_OPTIONS = {
    # The stream's parameter sets are in band at the start of the first segment.
    "probesize": "65536",
    "analyzeduration": "200000",
    # Raw 33-bit timestamps: segments are rebased modulo 2**33 (see segment_probe.ts_delta).
    "correct_ts_overflow": "0",
}
_NO_PARSE = "+noparse+nofillin"
# Errors of the clip's own file (the sources are read by SegmentChain, which names them).
_WRITE_ERRORS = frozenset(
    {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM, errno.ENOENT, errno.EIO}
)


@dataclass(frozen=True)
class Remuxed:
    packets: int
    duration_seconds: float
    width: int
    height: int
    sources: SegmentChain  # still hashing the sources' last bytes: call ``digests()``


class _NeedsParsing(Exception):
    """A PES packet was not a whole access unit: redo the cut with the stream parser on."""


class _MoovReserveTooSmall(Exception):
    """The space reserved for the moov box was too small: redo the cut with +faststart."""


class _ParameterSetsChange(Exception):
    """HEVC parameter sets change within the clip: 'hvc1' would drop the later ones."""


@dataclass(frozen=True)
class _Mode:
    """How to remux; each flag is a fallback that the first attempt can turn out to need."""

    parse: bool = False  # run the stream parser: PES packets are not whole access units
    faststart: bool = False  # move the moov box afterwards instead of reserving room for it
    hvc1: bool = True  # tag HEVC 'hvc1' (parameter sets in the sample entry only)


def remux_with_fallbacks(
    plan: CutPlan, sources: Sequence[SourceFile], part_path: Path, progress: ProgressCallback | None
) -> Remuxed:
    mode = _Mode()
    camera = plan.camera_id
    while True:
        part_path.unlink(missing_ok=True)
        try:
            return _remux(plan, sources, part_path, progress, mode)
        except _NeedsParsing as exc:
            log.warning("camera %s: %s; cutting again with the parser on", camera, exc)
            mode = dataclasses.replace(mode, parse=True)
        except _MoovReserveTooSmall:
            log.warning(
                "camera %s: more frames than the index predicts; cutting again with faststart",
                camera,
            )
            mode = dataclasses.replace(mode, faststart=True)
        except _ParameterSetsChange as exc:
            log.warning(
                "camera %s: %s; cutting again tagged 'hev1' to keep them in band"
                " (Safari may not play the clip)",
                camera,
                exc,
            )
            mode = dataclasses.replace(mode, hvc1=False)


def _remux(
    plan: CutPlan,
    sources: Sequence[SourceFile],
    part_path: Path,
    progress: ProgressCallback | None,
    mode: _Mode,
) -> Remuxed:
    chain = SegmentChain(sources)
    written: Remuxed | None = None
    options = dict(_INPUT_OPTIONS)
    if not mode.parse:
        options["fflags"] = _NO_PARSE
    output: OutputContainer | None = None
    writeback = ClipWriteback(part_path)
    try:
        with av.open(chain, "r", format="mpegts", options=options, buffer_size=READ_SIZE) as src:
            if not src.streams.video:
                raise CutFailed(f"segment {sources[0].part.segment.path} has no video stream")
            in_stream = src.streams.video[0]
            if len(src.streams) > 1:
                log.info(
                    "camera %s: the segments also carry %s; the clip holds video only",
                    plan.camera_id,
                    ", ".join(s.type for s in src.streams if s is not in_stream),
                )
            output, out_stream, timeline = _open_output(plan, in_stream, part_path, mode)
            width, height = in_stream.width, in_stream.height
            check_parameter_sets = in_stream.codec_context.name == "hevc" and mode.hvc1
            first_parameter_sets = b""
            starts = chain.starts
            next_boundary = -1
            part = -1
            reported = 0.0
            for packet in src.demux(in_stream):
                pos = packet.pos
                if pos is None or packet.pts is None or packet.dts is None:
                    if packet.size == 0:
                        continue  # the demuxer's end-of-stream flush packet
                    if mode.parse:
                        continue  # the parser found no timestamp: the muxer cannot place it
                    where = sources[max(part, 0)].part.segment.path
                    raise _NeedsParsing(f"segment {where} has a PES packet without timestamps")
                if not mode.parse and not _starts_with_start_code(packet):
                    where = sources[chain.source_at(pos)].part.segment.path
                    raise _NeedsParsing(f"segment {where} has a PES packet that is not a frame")
                if pos >= next_boundary:
                    part = chain.source_at(pos)
                    next_boundary = starts[part + 1]
                    timeline.enter(part, packet.pts)
                    if check_parameter_sets:
                        parameter_sets = _hevc_parameter_sets(packet)
                        if not first_parameter_sets:
                            first_parameter_sets = parameter_sets
                        elif parameter_sets and parameter_sets != first_parameter_sets:
                            where = sources[part].part.segment.path
                            raise _ParameterSetsChange(
                                f"segment {where} has other HEVC parameter sets than the first"
                            )
                    if progress is not None and pos / chain.size - reported >= 0.01:
                        reported = pos / chain.size
                        progress(min(reported, 0.99))
                if timeline.place(packet):
                    packet.stream = out_stream
                    output.mux_one(packet)
                    writeback.wrote(packet.size)
        if chain.failure is not None:
            raise chain.failure
        if chain.tell() < chain.size:
            raise CutFailed(
                f"camera {plan.camera_id}: the demuxer stopped at byte {chain.tell()}"
                f" of {chain.size}"
            )
        if timeline.packets == 0:
            raise CutFailed(f"camera {plan.camera_id}: the planned segments hold no video")
        try:
            output.close()
        except av.error.FFmpegError as exc:
            if not mode.faststart and exc.errno == errno.EINVAL:
                raise _MoovReserveTooSmall() from exc
            raise
        output = None
        written = Remuxed(
            packets=timeline.packets,
            duration_seconds=float(timeline.end_ticks * timeline.time_base),
            width=width,
            height=height,
            sources=chain,
        )
        return written
    except (av.error.FFmpegError, OSError) as exc:
        if chain.failure is not None:
            raise chain.failure from exc
        if exc.errno in _WRITE_ERRORS:
            raise CutFailed(
                f"camera {plan.camera_id}: cannot write {part_path}: {os.strerror(exc.errno)}"
            ) from exc
        # A demuxer or muxer error on intact files is a bug; on changed files, it is the change.
        verify_sources(sources, chain.digests(), plan.camera_id)
        raise CutFailed(f"camera {plan.camera_id}: remux failed: {exc}") from exc
    finally:
        writeback.close()
        if written is None:
            chain.close()
        if output is not None:
            _close_quietly(output)


def _starts_with_start_code(packet: Packet) -> bool:
    """A PES packet that holds a whole access unit starts with an Annex-B start code."""
    head = memoryview(packet)[:4]
    return (
        len(head) == 4
        and head[0] == 0
        and head[1] == 0
        and (head[2] == 1 or (head[2] == 0 and head[3] == 1))
    )


def _hevc_parameter_sets(packet: Packet) -> bytes:
    """The VPS, SPS and PPS NAL units at the head of an HEVC access unit, in order."""
    head = bytes(memoryview(packet)[:_PARAMETER_SET_SCAN_BYTES])
    found = []
    start = head.find(b"\x00\x00\x01")
    while start >= 0:
        begin = start + 3
        if begin >= len(head):
            break
        nal_type = (head[begin] >> 1) & 0x3F
        end = head.find(b"\x00\x00\x01", begin)
        if nal_type < 32:  # the first slice: parameter sets come before it
            break
        if nal_type in (32, 33, 34):
            found.append(head[begin : len(head) if end < 0 else end].rstrip(b"\x00"))
        start = end
    return b"".join(found)


def _open_output(
    plan: CutPlan, in_stream: VideoStream, part_path: Path, mode: _Mode
) -> tuple[OutputContainer, VideoStream, CutTimeline]:
    time_base = in_stream.time_base
    if time_base is None:
        raise CutFailed(f"camera {plan.camera_id}: the video stream has no time base")
    rate = plan.parts[0].segment.fps or in_stream.average_rate or 25
    frame_ticks = max(round(1 / (Fraction(rate) * time_base)), 1)
    if mode.faststart:
        options = {"movflags": "+faststart"}
    else:
        extradata = len(in_stream.codec_context.extradata or b"")
        options = {"moov_size": str(_moov_reserve(plan, extradata))}
    output = av.open(str(part_path), "w", format="mp4", options=options)
    # opaque=True: a stream for packets only, without looking for an encoder of the codec.
    out_stream = output.add_stream_from_template(in_stream, opaque=True)
    if in_stream.codec_context.name == "hevc" and mode.hvc1:
        # FFmpeg tags HEVC in MP4 'hev1' by default; Apple's players (Safari) only play 'hvc1'.
        # With 'hvc1' FFmpeg keeps VPS/SPS/PPS in the sample entry (hvcC) and drops their
        # in-band copies from the samples, which is why the cut checks that they never change.
        out_stream.codec_context.codec_tag = "hvc1"
    return output, out_stream, CutTimeline(plan, time_base, frame_ticks)


def _moov_reserve(plan: CutPlan, extradata_bytes: int) -> int:
    """Bytes to reserve at the front for the moov box: an upper bound from the plan."""
    frames = 0.0
    for part in plan.parts:
        fps = max(part.segment.fps or _ASSUMED_MAX_FPS, 1.0)
        seconds = (part.end - part.start).total_seconds()
        frames += seconds * fps * _FRAME_COUNT_MARGIN + 2
    return int(frames) * _MOOV_BYTES_PER_SAMPLE + _MOOV_FIXED_BYTES + 4 * extradata_bytes


def _close_quietly(output: OutputContainer) -> None:
    try:
        output.close()
    except av.error.FFmpegError as exc:
        log.debug("closing an abandoned clip failed: %s", exc)
