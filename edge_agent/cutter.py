"""Clip cutter: carries out a ``CutPlan`` by remuxing its segments into one MP4, by stream copy.

Nothing is decoded or encoded: every video packet of the planned range goes into the clip with
the camera's own bytes (MPEG-TS carries NAL units with start codes, MP4 with length prefixes;
the MP4 muxer does that conversion and nothing else). The clip's ``moov`` box comes before
``mdat``, so a browser plays it while it downloads.

Clips hold the video stream only; gaps in the plan stay gaps (the frame before a gap is shown
until the next one, no filler frames are made). H.265 is tagged 'hvc1' for Safari; FFmpeg then
keeps VPS/SPS/PPS in the sample entry only, so if they change within the clip it is redone
tagged 'hev1', which keeps every NAL unit in band.

How it stays fast (numbers in ``bench/cut.py``):

* The planned segment files are demuxed as ONE input: ``_SegmentChain`` is a read-only,
  seekable file-like object that presents their concatenation (MPEG-TS is concatenable).
  Opening and probing one demuxer per segment costs 15-25 ms each. ``packet.pos``, the byte
  offset in the chain, says which segment a packet came from, so that each segment is rebased
  on its own: its timestamps restart after a reconnect and never continue across files.
* The chain hashes every file as the demuxer reads it (in a helper thread, so on a second
  core), so the source segments' SHA-256, which go into the manifest, are those of the very
  bytes that were cut, read once; a mismatch with the index fails the cut at the end.
* The demuxer does not re-parse the elementary stream (``fflags=+noparse``): the recorder
  writes one access unit per PES packet, so PES payloads are the frames. Keyframe flags come
  from the index (``Segment.keyframes``), durations from the frame spacing. A PES packet
  without timestamps or without a leading start code means that this does not hold, and the
  cut is redone with the parser on.
* The ``moov`` box is written into space reserved at the front (``moov_size``, bounded from the
  plan) rather than moved there afterwards (``movflags=+faststart`` rewrites the whole file).
  If more frames come than the reservation allows, the cut is redone with ``+faststart``.
* The clip's own SHA-256 runs beside its fsync and the tail of the sources' hashes.

Blocking: call ``cut_clip`` from a worker thread (``asyncio.to_thread``); ``progress`` is
called from that thread.
"""

from __future__ import annotations

import bisect
import dataclasses
import errno
import hashlib
import logging
import os
import queue
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from fractions import Fraction
from pathlib import Path

import av
import av.error
from av.container import OutputContainer
from av.packet import Packet
from av.video.stream import VideoStream

from cctv_common.files import fsync_dir, fsync_file
from edge_agent.cut_plan import CutPlan, PlannedPart
from edge_agent.segment_probe import MPEGTS_TS_BITS, sha256_of, ts_delta

log = logging.getLogger(__name__)

ProgressCallback = Callable[[float], None]

# Worst-case bytes of sample tables per video sample in the moov box: stsz 4, stts 8, ctts 8,
# stss 4, and a chunk of its own (co64 8 + stsc 12). Plus the fixed boxes and the extradata.
_MOOV_BYTES_PER_SAMPLE = 48
_MOOV_FIXED_BYTES = 4 * 1024
# Margin on the frame count that the index predicts (variable frame rate cameras).
_FRAME_COUNT_MARGIN = 1.25
_ASSUMED_MAX_FPS = 60.0

# Reads from the chain: large enough that Python calls are few (one per MiB).
_READ_SIZE = 1 << 20
_HASH_QUEUE_DEPTH = 32
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
# Errors of the clip's own file (the sources are read by _SegmentChain, which names them).
_WRITE_ERRORS = frozenset(
    {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM, errno.ENOENT, errno.EIO}
)


class CutFailed(Exception):
    """The clip could not be cut; the message says why in one line. Nothing is left behind."""


class SegmentUnavailable(CutFailed):
    """A planned segment file is missing or cannot be read."""


class SegmentCorrupt(CutFailed):
    """A planned segment file no longer matches its index row (size or SHA-256)."""


class IncompatibleSegments(CutFailed):
    """The planned segments differ in codec or resolution and cannot share one MP4 track."""


@dataclass(frozen=True)
class CutResult:
    """What was written: the clip's hash and size, its stream, and the time it covers.

    ``delivered_end`` is ``delivered_start`` plus the clip's duration (the last frame's pts
    plus its duration); ``packets`` counts video packets (frames).
    """

    path: Path
    bytes: int
    sha256: str
    codec: str
    width: int
    height: int
    fps: float | None
    packets: int
    delivered_start: datetime
    delivered_end: datetime
    duration_seconds: float


@dataclass(frozen=True)
class _Source:
    part: PlannedPart
    path: Path


@dataclass(frozen=True)
class _Written:
    packets: int
    duration_seconds: float
    width: int
    height: int
    sources: _SegmentChain  # still hashing the sources' last bytes: call ``digests()``


class _NeedsParsing(Exception):
    """A PES packet was not a whole access unit: redo the cut with the stream parser on."""


class _MoovReserveTooSmall(Exception):
    """The space reserved for the moov box was too small: redo the cut with +faststart."""


class _ParameterSetsChange(Exception):
    """HEVC parameter sets change within the clip: 'hvc1' would drop the later ones."""


def cut_clip(
    plan: CutPlan,
    segments_dir: Path,
    out_path: Path,
    progress: ProgressCallback | None = None,
) -> CutResult:
    """Remux ``plan`` into one MP4 at ``out_path`` by stream copy; return what was written.

    The clip is written to ``out_path.with_suffix('.part')``, fsynced, and renamed to
    ``out_path`` (replacing it) only once every source segment has matched its SHA-256 in the
    index. Raises ``SegmentUnavailable``, ``SegmentCorrupt``, ``IncompatibleSegments`` or
    ``CutFailed``; then nothing is left at ``out_path`` or the ``.part`` path.
    """
    sources = _check_sources(plan, segments_dir)
    part_path = out_path.with_suffix(".part")
    camera = plan.camera_id
    log.info(
        "camera %s: cutting %s segments into %s (%s to %s)",
        camera,
        len(sources),
        out_path,
        plan.delivered_start.isoformat(),
        plan.delivered_end.isoformat(),
    )
    written: _Written | None = None
    try:
        written = _remux_with_fallbacks(plan, sources, part_path, progress)
        # The clip's hash, its fsync and the tail of the sources' hashes run side by side.
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="cut-fsync") as pool:
            synced = pool.submit(fsync_file, part_path)
            clip_sha256, clip_bytes = sha256_of(part_path)
            _verify_sources(sources, written.sources.digests(), camera)
            synced.result()
        os.replace(part_path, out_path)
        fsync_dir(out_path.parent)
    except BaseException as exc:
        if written is not None:
            written.sources.close()
        part_path.unlink(missing_ok=True)
        if isinstance(exc, OSError):  # fsync, hashing or renaming the clip
            message = f"camera {camera}: cannot write {out_path}: {exc.strerror or exc}"
            raise CutFailed(message) from exc
        raise
    if progress is not None:
        progress(1.0)
    first = sources[0].part.segment
    result = CutResult(
        path=out_path,
        bytes=clip_bytes,
        sha256=clip_sha256,
        codec=first.codec,
        width=written.width or first.width,
        height=written.height or first.height,
        fps=first.fps,
        packets=written.packets,
        delivered_start=plan.delivered_start,
        delivered_end=plan.delivered_start + timedelta(seconds=written.duration_seconds),
        duration_seconds=written.duration_seconds,
    )
    log.info(
        "camera %s: cut %s (%s packets, %.1f s, %s bytes, sha256 %s)",
        camera,
        out_path,
        result.packets,
        result.duration_seconds,
        result.bytes,
        result.sha256,
    )
    return result


# Checks before and after


def _check_sources(plan: CutPlan, segments_dir: Path) -> list[_Source]:
    """Every planned file must exist with the size that the index holds; one stream layout."""
    if not plan.parts:
        raise CutFailed(f"camera {plan.camera_id}: the plan has no segments")
    first = plan.parts[0].segment
    sources = []
    for part in plan.parts:
        segment = part.segment
        layout = (segment.codec, segment.width, segment.height)
        if layout != (first.codec, first.width, first.height):
            raise IncompatibleSegments(
                f"segment {segment.path} is {segment.codec} {segment.width}x{segment.height}"
                f" but segment {first.path} is {first.codec} {first.width}x{first.height};"
                f" cut the window in two at {segment.start.isoformat()}"
            )
        path = segments_dir / segment.path
        try:
            size = path.stat().st_size
        except OSError as exc:
            raise SegmentUnavailable(
                f"segment {segment.path} cannot be read: {exc.strerror or exc}"
            ) from exc
        if size != segment.bytes:
            raise SegmentCorrupt(
                f"segment {segment.path} is {size} bytes but the index holds {segment.bytes}"
            )
        sources.append(_Source(part, path))
    return sources


def _verify_sources(sources: Sequence[_Source], digests: Sequence[str], camera: str) -> None:
    for source, digest in zip(sources, digests, strict=True):
        segment = source.part.segment
        if digest != segment.sha256:
            log.error(
                "camera %s: segment %s has SHA-256 %s but the index holds %s",
                camera,
                segment.path,
                digest,
                segment.sha256,
            )
            raise SegmentCorrupt(
                f"segment {segment.path} no longer matches its SHA-256 in the index"
            )


# The chain of segment files


class _SegmentChain:
    """The planned segment files end to end, as one read-only seekable file for PyAV.

    Each file is opened when the reading reaches it, and hashed as it is read: bytes read in
    order are handed to a helper thread (hashlib releases the GIL, so this runs beside the
    remux). Bytes skipped by a seek are hashed from the file in ``digests()``.
    """

    def __init__(self, sources: Sequence[_Source]) -> None:
        self._sources = sources
        self.starts = [0]
        for source in sources:
            self.starts.append(self.starts[-1] + source.part.segment.bytes)
        self.size = self.starts[-1]
        self.failure: CutFailed | None = None
        self._position = 0
        self._fd = -1
        self._fd_index = -1
        self._fd_position = 0
        self._hashers = [hashlib.sha256() for _ in sources]
        self._hashed = [0] * len(sources)
        self._hash_error: Exception | None = None
        self._queue: queue.Queue[tuple[int, bytes] | None] = queue.Queue(_HASH_QUEUE_DEPTH)
        self._hash_thread = threading.Thread(
            target=self._hash_worker, name="cut-source-sha256", daemon=True
        )
        self._hash_thread.start()

    # The file-like protocol that PyAV uses

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        if whence == os.SEEK_SET:
            self._position = offset
        elif whence == os.SEEK_CUR:
            self._position += offset
        elif whence == os.SEEK_END:
            self._position = self.size + offset
        else:
            raise OSError(errno.EINVAL, f"unsupported whence {whence}")
        return self._position

    def read(self, size: int = -1) -> bytes:
        position = self._position
        if position >= self.size:
            return b""
        index = bisect.bisect_right(self.starts, position) - 1
        local = position - self.starts[index]
        wanted = self.starts[index + 1] - position
        if size >= 0:
            wanted = min(wanted, size)
        segment = self._sources[index].part.segment
        try:
            fd = self._open(index)
            if self._fd_position != local:
                os.lseek(fd, local, os.SEEK_SET)
            data = os.read(fd, wanted)
        except OSError as exc:
            self.failure = SegmentUnavailable(
                f"segment {segment.path} cannot be read: {exc.strerror or exc}"
            )
            raise
        if not data:
            self.failure = SegmentCorrupt(
                f"segment {segment.path} is shorter than the {segment.bytes} bytes in the index"
            )
            raise OSError(errno.EIO, str(self.failure))
        self._fd_position = local + len(data)
        self._position = position + len(data)
        if local == self._hashed[index]:
            self._hashed[index] += len(data)
            self._queue.put((index, data))
        return data

    def close(self) -> None:
        if self._hash_thread.is_alive():
            self._queue.put(None)
            self._hash_thread.join()
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    # Ours

    def source_at(self, position: int) -> int:
        return bisect.bisect_right(self.starts, position) - 1

    def digests(self) -> tuple[str, ...]:
        """SHA-256 of every file; bytes that the demuxer skipped are read from disk now."""
        self.close()
        if self._hash_error is not None:
            raise CutFailed(f"hashing the source segments failed: {self._hash_error}")
        digests = []
        for index, source in enumerate(self._sources):
            hasher = self._hashers[index]
            if self._hashed[index] < source.part.segment.bytes:
                log.debug("hashing the unread rest of %s", source.part.segment.path)
                try:
                    with source.path.open("rb") as handle:
                        handle.seek(self._hashed[index])
                        while chunk := handle.read(_READ_SIZE):
                            hasher.update(chunk)
                except OSError as exc:
                    raise SegmentUnavailable(
                        f"segment {source.part.segment.path} cannot be read: {exc.strerror or exc}"
                    ) from exc
            digests.append(hasher.hexdigest())
        return tuple(digests)

    def _open(self, index: int) -> int:
        if self._fd_index != index:
            if self._fd >= 0:
                os.close(self._fd)
                self._fd = -1
            self._fd = os.open(self._sources[index].path, os.O_RDONLY)
            self._fd_index = index
            self._fd_position = 0
        return self._fd

    def _hash_worker(self) -> None:
        while (item := self._queue.get()) is not None:
            index, data = item
            try:
                self._hashers[index].update(data)
            except Exception as exc:  # keep draining: the reader must never block on us
                self._hash_error = exc


# The remux


@dataclass(frozen=True)
class _Mode:
    """How to remux; each flag is a fallback that the first attempt can turn out to need."""

    parse: bool = False  # run the stream parser: PES packets are not whole access units
    faststart: bool = False  # move the moov box afterwards instead of reserving room for it
    hvc1: bool = True  # tag HEVC 'hvc1' (parameter sets in the sample entry only)


def _remux_with_fallbacks(
    plan: CutPlan, sources: Sequence[_Source], part_path: Path, progress: ProgressCallback | None
) -> _Written:
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


class _Timeline:
    """Rebases each segment's packets onto the clip's timeline and applies the cut points.

    Clip ticks (the input time base) = (segment start - delivered start) + (ts - the segment's
    first pts). pts - dts is kept; dts stays strictly increasing across segment boundaries:
    a segment that would overlap the one before (index rounding) is delayed as a whole.
    """

    def __init__(self, plan: CutPlan, time_base: Fraction, frame_ticks: int) -> None:
        self.plan = plan
        self.time_base = time_base
        self.frame_ticks = frame_ticks
        # Half a frame tells a keyframe from its neighbours; 10 ms bounds it when the index's
        # frame rate is wrong. Index offsets are pts offsets rounded to 1 us, so both are ample.
        self.tolerance = max(min(frame_ticks // 2, round(Fraction(1, 100) / time_base)), 1)
        self.packets = 0
        self.end_ticks = 0
        self._last_dts: int | None = None
        self._part = -1
        self._first_pts = 0
        self._base = 0
        self._shift = 0
        self._in_ticks = 0
        self._out_ticks: int | None = None
        self._keyframes: list[int] = []
        self._next_keyframe = 0
        self._started = False
        self._stopped = False
        self._segment_opening = False
        self._previous_dts: int | None = None
        self._frame_interval = frame_ticks

    def _ticks(self, seconds: float) -> int:
        return round(Fraction(seconds) / self.time_base)

    def enter(self, index: int, first_pts: int) -> None:
        """The demuxer reached part ``index``; ``first_pts`` is its first packet's pts."""
        part = self.plan.parts[index]
        self._part = index
        self._first_pts = first_pts
        self._base = self._ticks((part.segment.start - self.plan.delivered_start).total_seconds())
        self._in_ticks = self._ticks(part.start_offset)
        self._out_ticks = None if part.end_offset is None else self._ticks(part.end_offset)
        self._keyframes = [self._ticks(offset) for offset in part.segment.keyframes]
        self._next_keyframe = 0
        self._started = False
        self._stopped = False
        self._shift = 0
        self._segment_opening = True
        self._previous_dts = None

    def place(self, packet: Packet) -> bool:
        """Set the packet's clip timestamps and flags; False when it is outside the cut."""
        if self._stopped:
            return False
        pts = packet.pts
        dts = packet.dts
        assert pts is not None and dts is not None  # the caller skips untimed packets
        offset = ts_delta(pts, self._first_pts, MPEGTS_TS_BITS)
        reorder = pts - dts
        # The demuxer gives no durations without the parser: a frame lasts until the next one.
        previous_dts = self._previous_dts
        self._previous_dts = offset - reorder
        if previous_dts is not None and offset - reorder > previous_dts:
            self._frame_interval = offset - reorder - previous_dts
        tolerance = self.tolerance
        if not self._started:
            # In-point: the first packet, in decode order, at or after the in-point keyframe.
            if offset < self._in_ticks - tolerance:
                return False
            self._started = True
        if self._out_ticks is not None and offset >= self._out_ticks - tolerance:
            # Out-point: stop before the keyframe that starts the next GOP.
            self._stopped = True
            return False

        keyframes = self._keyframes
        index = self._next_keyframe
        while index < len(keyframes) and keyframes[index] < offset - tolerance:
            index += 1
        self._next_keyframe = index
        packet.is_keyframe = index < len(keyframes) and keyframes[index] - offset <= tolerance

        out_dts = self._base + offset - reorder + self._shift
        last_dts = self._last_dts
        if last_dts is not None and out_dts <= last_dts:
            if self._segment_opening:
                self._shift += last_dts + 1 - out_dts
            else:
                log.warning(
                    "camera %s: dts not increasing inside segment %s; nudged by %s ticks",
                    self.plan.camera_id,
                    self.plan.parts[self._part].segment.path,
                    last_dts + 1 - out_dts,
                )
            out_dts = last_dts + 1
        self._segment_opening = False
        out_pts = max(self._base + offset + self._shift, out_dts)
        duration = packet.duration or self._frame_interval
        packet.dts = out_dts
        packet.pts = out_pts
        packet.duration = duration
        self._last_dts = out_dts
        if out_pts + duration > self.end_ticks:
            self.end_ticks = out_pts + duration
        self.packets += 1
        return True


def _remux(
    plan: CutPlan,
    sources: Sequence[_Source],
    part_path: Path,
    progress: ProgressCallback | None,
    mode: _Mode,
) -> _Written:
    chain = _SegmentChain(sources)
    written: _Written | None = None
    options = dict(_INPUT_OPTIONS)
    if not mode.parse:
        options["fflags"] = _NO_PARSE
    output: OutputContainer | None = None
    try:
        with av.open(chain, "r", format="mpegts", options=options, buffer_size=_READ_SIZE) as src:
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
        written = _Written(
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
        _verify_sources(sources, chain.digests(), plan.camera_id)
        raise CutFailed(f"camera {plan.camera_id}: remux failed: {exc}") from exc
    finally:
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
) -> tuple[OutputContainer, VideoStream, _Timeline]:
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
    return output, out_stream, _Timeline(plan, time_base, frame_ticks)


def _moov_reserve(plan: CutPlan, extradata_bytes: int) -> int:
    """Bytes to reserve at the front for the moov box: an upper bound from the plan."""
    frames = 0.0
    for part in plan.parts:
        fps = max(part.segment.fps or _ASSUMED_MAX_FPS, 1.0)
        seconds = (part.end - part.start).total_seconds()
        frames += seconds * fps * _FRAME_COUNT_MARGIN + 2
    return int(frames) * _MOOV_BYTES_PER_SAMPLE + _MOOV_FIXED_BYTES + 4 * extradata_bytes


# Files


def _close_quietly(output: OutputContainer) -> None:
    try:
        output.close()
    except av.error.FFmpegError as exc:
        log.debug("closing an abandoned clip failed: %s", exc)
