"""One RTSP connection's packets turned into indexed segment files.

A ``RecordingSession`` is fed the video packets of one connection, in order, each with its arrival
time. ``edge_agent.recording.stream_time`` places every packet on one continuous timeline (a jump of
the camera's timestamps is a new time anchor, never a new segment), and the packets are written with
those timestamps, so every segment's timestamps only go forward. Frames before the connection's
first keyframe cannot be decoded and are not written (they are counted); after that every frame
is written. A new segment starts on the first keyframe after ``segment_seconds``; every segment is
timed by the rules in ``edge_agent.recording.segment_timing`` and handed to the ``RecordingSink``
(the index, or the pipe to the process that owns it) with its frame accounting. Time in which the
camera sent no frame is recorded as a gap with its cause. Nothing is decoded: packets go from the
demuxer to the muxer with their bytes untouched.

Segment files live at ``<segments_dir>/<camera_id>/<YYYYMMDD>/<HHMMSS_ffffff>.ts`` named by their
UTC start; while being written they are ``.ts.part`` named by the start estimated at that time.

Not thread-safe: one recorder thread owns a session.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from fractions import Fraction
from pathlib import Path
from typing import Any

import av

from cctv_common.evidence.manifest import GapCause
from edge_agent.config import RecorderConfig
from edge_agent.recording.nal_units import starts_picture
from edge_agent.recording.segment_timing import (
    SegmentTimeline,
    SessionClock,
    frame_ticks,
    ticks_to_seconds,
    ticks_to_timedelta,
)
from edge_agent.recording.segment_writer import PART_SUFFIX, SEGMENT_SUFFIX, SegmentWriter
from edge_agent.recording.segments import Gap, Segment
from edge_agent.recording.stream_time import PacketKind, Placed, StreamTime, TimeEvent
from edge_agent.store.index_port import IndexUnreachable, IndexWriteFailed, RecordingSink

log = logging.getLogger(__name__)

# Warn when a segment's packets arrive this much earlier or later than their pts say, measured
# by the least lag over the segment (network and encoder latency included).
CLOCK_LAG_WARNING_SECONDS = 1.0
# A camera whose timestamps stay stuck is logged once per this many seconds, not per frame.
STUCK_LOG_SECONDS = 60.0

DROPPED_BEFORE_KEYFRAME = "before_keyframe"
DROPPED_DUPLICATE = "duplicate"
DROPPED_UNTIMED = "untimed"


@dataclass(frozen=True)
class StreamFacts:
    codec: str
    width: int
    height: int
    fps: float | None
    time_base: Fraction

    @classmethod
    def of(cls, stream: Any) -> StreamFacts:
        rate = stream.average_rate or stream.guessed_rate
        context = stream.codec_context
        if stream.time_base is None:
            raise ValueError("video stream has no time base")
        return cls(
            codec=context.name,
            width=context.width or 0,
            height=context.height or 0,
            fps=float(rate) if rate else None,
            time_base=stream.time_base,
        )


def segment_relative_path(camera_id: str, start: datetime, suffix: str = SEGMENT_SUFFIX) -> str:
    utc = start.astimezone(UTC)
    return f"{camera_id}/{utc:%Y%m%d}/{utc:%H%M%S_%f}{suffix}"


def parse_segment_start(relative_path: str) -> datetime | None:
    """The UTC start encoded in a segment's path, or None for a name the recorder did not make."""
    parts = relative_path.split("/")
    if len(parts) != 3:
        return None
    name = parts[2].removesuffix(PART_SUFFIX)
    if not name.endswith(SEGMENT_SUFFIX):
        return None
    stem = name.removesuffix(SEGMENT_SUFFIX).split("-")[0]
    try:
        return datetime.strptime(parts[1] + stem, "%Y%m%d%H%M%S_%f").replace(tzinfo=UTC)
    except ValueError:
        return None


class RecordingSession:
    """The segments of one connection (module docstring).

    ``resume_after`` is the end of the camera's footage before this connection, and ``gap`` the
    reason and cause of the time from there to this connection's first segment.
    """

    def __init__(
        self,
        camera_id: str,
        template: Any,
        facts: StreamFacts,
        segments_dir: Path,
        sink: RecordingSink,
        settings: RecorderConfig,
        *,
        resume_after: datetime | None,
        gap: tuple[str, GapCause],
        on_segment: Callable[[Segment, float | None], None],
        label: str = "",
    ) -> None:
        self.camera_id = camera_id
        self._template = template
        self.facts = facts
        self._segments_dir = segments_dir
        self._sink = sink
        self._settings = settings
        self._on_segment = on_segment
        self._label = label or f"camera {camera_id}"
        self._tb = facts.time_base
        self._frame_ticks = frame_ticks(self._tb, facts.fps)
        self._time = StreamTime(self._tb, self._frame_ticks, settings.gap_tolerance_seconds)

        self.last_end = resume_after
        self._gap_reason, self._gap_cause = gap
        self.segments_written = 0
        self.frames_written = 0
        self.clock_lag: float | None = None

        self._clock: SessionClock | None = None
        self._writer: SegmentWriter | None = None
        self._timeline: SegmentTimeline | None = None
        self._segment_min_lag: float | None = None
        self._last_raw_dts: int | None = None
        self._previous: av.Packet | None = None
        self._last_frame_end = 0
        # Frame accounting of the open segment, and of frames not written before it opened.
        self._received = 0
        self._written = 0
        self._dropped: Counter[str] = Counter()
        self._pending_received = 0
        self._pending_dropped: Counter[str] = Counter()
        self._jumps: list[tuple[float, float]] = []
        self._holes: list[tuple[int, int]] = []
        self._stuck_logged_at = -STUCK_LOG_SECONDS

    @property
    def writing(self) -> bool:
        return self._writer is not None

    @property
    def frames_dropped(self) -> dict[str, int]:
        """Frames not written in this session so far, by reason (also those not yet indexed)."""
        return dict(self._dropped + self._pending_dropped)

    def note_untimed(self, count: int = 1) -> None:
        """The demuxer gave ``count`` packets that cannot be timed (fill_missing_timestamps)."""
        self._pending_received += count
        self._pending_dropped[DROPPED_UNTIMED] += count

    def feed(self, packet: av.Packet, arrival: datetime, monotonic: float | None = None) -> None:
        """Record one packet (pts and dts set); raises SegmentWriteFailed or IndexWriteFailed.

        ``arrival`` is the agent's UTC when the packet came, ``monotonic`` the same moment on a
        clock that never steps (``time.monotonic()``, the default).
        """
        pts, dts = packet.pts, packet.dts
        if pts is None or dts is None:
            raise ValueError("packet without timestamps; use fill_missing_timestamps first")
        seconds = time.monotonic() if monotonic is None else monotonic
        new_picture: bool | None = None
        identical = False
        if dts == self._last_raw_dts and self._previous is not None:
            data = bytes(packet)
            identical = data == bytes(self._previous)
            new_picture = starts_picture(data, self.facts.codec)
        placed = self._time.place(
            pts, dts, seconds, starts_picture=new_picture, identical=identical
        )
        self._last_raw_dts = dts
        if placed.kind is PacketKind.DUPLICATE:
            self._count_drop(DROPPED_DUPLICATE)
            return
        self._previous = packet
        packet.pts, packet.dts = placed.pts, placed.dts
        out_pts = placed.pts
        if self._clock is None:
            self._clock = SessionClock.start(out_pts, self._tb, arrival)
        clock = self._clock
        clock.observe(out_pts, arrival)
        if placed.event is not None:
            self._note_event(placed)

        timeline = self._timeline
        new_frame = placed.kind is PacketKind.FRAME
        if self._writer is None or timeline is None:
            if not packet.is_keyframe:
                if new_frame:
                    self._count_drop(DROPPED_BEFORE_KEYFRAME)
                return
            # A hole before the connection's first keyframe is inside the gap before it.
            timeline = self._open(out_pts, placed.dts)
        elif (
            new_frame
            and packet.is_keyframe
            and timeline.elapsed(out_pts) >= self._settings.segment_seconds
        ):
            self._close()
            self._note_hole(placed, inside=False)  # the gap the next segment's close records
            timeline = self._open(out_pts, placed.dts)
        else:
            self._note_hole(placed, inside=True)
        if placed.event in (TimeEvent.BACKWARD_JUMP, TimeEvent.FORWARD_JUMP):
            offset = ticks_to_seconds(out_pts - timeline.first_pts, self._tb)
            self._jumps.append((offset, round(placed.camera_step, 6)))
        if not clock.refining:
            lag = clock.lag(out_pts, arrival)
            if self._segment_min_lag is None or lag < self._segment_min_lag:
                self._segment_min_lag = lag
        timeline.add(out_pts, placed.dts, packet.duration or 0, packet.is_keyframe)
        assert self._writer is not None
        self._writer.write(packet)
        if new_frame:
            self._received += 1
            self._written += 1
            self.frames_written += 1
            self._last_frame_end = placed.dts + (packet.duration or self._time.frame_step)

    def finish(self) -> None:
        """Close and index the open segment, if any; raises like ``feed``."""
        if self._writer is not None:
            self._close()

    def abandon(self) -> None:
        """Throw away the open segment (after a write failure); never raises."""
        writer, self._writer, self._timeline = self._writer, None, None
        if writer is not None:
            writer.discard()

    def _count_drop(self, reason: str) -> None:
        if self._writer is None:
            self._pending_received += 1
            self._pending_dropped[reason] += 1
        else:
            self._received += 1
            self._dropped[reason] += 1

    def _note_event(self, placed: Placed) -> None:
        event = placed.event
        if event is TimeEvent.STUCK:
            now = time.monotonic()
            if now - self._stuck_logged_at >= STUCK_LOG_SECONDS:
                self._stuck_logged_at = now
                log.warning(
                    "%s: the camera repeats one timestamp for new frames; each is placed one"
                    " frame period after the last (logged once a minute)",
                    self._label,
                )
            return
        if event is TimeEvent.WRAP:
            log.info("%s: camera timestamps wrapped around; the timeline goes on", self._label)
            return
        log.warning(
            "%s: camera timestamps jumped by %.3f s; new time anchor, the recording goes on%s",
            self._label,
            placed.camera_step,
            f" after {placed.hole_seconds:.1f} s without frames" if placed.hole_seconds else "",
        )

    def _note_hole(self, placed: Placed, *, inside: bool) -> None:
        """Time without frames before this packet: a gap inside the segment or before it."""
        if not placed.hole_seconds:
            return
        if inside:
            self._holes.append((self._last_frame_end, placed.dts))
        else:
            self._gap_reason = f"no frames from the camera for {placed.hole_seconds:.1f} s"
            self._gap_cause = GapCause.STREAM_STALLED

    def _open(self, pts: int, dts: int) -> SegmentTimeline:
        assert self._clock is not None
        estimate = self._clock.utc(pts)
        part = self._segments_dir / segment_relative_path(
            self.camera_id, estimate, SEGMENT_SUFFIX + PART_SUFFIX
        )
        self._writer = SegmentWriter(part, self._template)
        self._timeline = SegmentTimeline.begin(pts, dts, self._tb)
        self._segment_min_lag = None
        self._received, self._pending_received = self._pending_received, 0
        self._written = 0
        self._dropped, self._pending_dropped = self._pending_dropped, Counter()
        self._jumps = []
        self._holes = []
        return self._timeline

    def _close(self) -> None:
        writer, timeline, clock = self._writer, self._timeline, self._clock
        self._writer, self._timeline = None, None
        assert writer is not None and timeline is not None and clock is not None
        if clock.refining:
            clock.freeze(timeline.first_pts, not_before=self.last_end)
        start = clock.utc(timeline.first_pts)
        end = start + ticks_to_timedelta(timeline.span_ticks(self._frame_ticks), self._tb)
        relative = self._free_name(start)
        written = writer.close_as(self._segments_dir / relative)
        segment = Segment(
            camera_id=self.camera_id,
            path=relative,
            start=start,
            end=end,
            bytes=written.bytes,
            sha256=written.sha256,
            keyframes=timeline.keyframes(),
            codec=self.facts.codec,
            width=self.facts.width,
            height=self.facts.height,
            fps=self.facts.fps,
            frames=self._written,
            frames_received=self._received,
            frames_dropped=tuple(sorted((k, v) for k, v in self._dropped.items() if v)),
            clock_jumps=tuple(self._jumps),
        )
        try:
            stored = self._sink.add_segment(segment)
        except IndexUnreachable:
            raise  # the file stays for the next start to salvage
        except IndexWriteFailed:
            written.path.unlink(missing_ok=True)
            raise
        self._record_gap(start)
        self._record_holes(clock, timeline)
        self.last_end = end
        self.segments_written += 1
        self._note_clock_lag()
        self._on_segment(stored, self.clock_lag)

    def _record_gap(self, start: datetime) -> None:
        previous = self.last_end
        if previous is None:
            return
        wanted = Gap(previous, max(start, previous), self._gap_reason, self._gap_cause)
        try:
            gap = self._sink.close_gap(self.camera_id, wanted, self._settings.gap_tolerance_seconds)
        except IndexWriteFailed as exc:
            # The segments themselves still show the hole; only the reason is lost.
            log.error("%s: cannot record a %.1f s gap: %s", self._label, wanted.seconds, exc)
            return
        if gap is not None:
            log.info(
                "%s: recorded a %.1f s gap (%s: %s)",
                self._label,
                gap.seconds,
                gap.cause,
                gap.reason,
            )

    def _record_holes(self, clock: SessionClock, timeline: SegmentTimeline) -> None:
        for begin, end in self._holes:
            gap = Gap(
                clock.utc(begin),
                clock.utc(end),
                "no frames from the camera (the connection stayed open)",
                GapCause.STREAM_STALLED,
            )
            try:
                self._sink.add_gap(self.camera_id, gap)
            except IndexWriteFailed as exc:
                log.error("%s: cannot record a %.1f s gap: %s", self._label, gap.seconds, exc)
                continue
            log.warning(
                "%s: no frames for %.1f s inside segment from %s; recorded as a gap",
                self._label,
                gap.seconds,
                clock.utc(timeline.first_pts).isoformat(),
            )
        self._holes = []

    def _note_clock_lag(self) -> None:
        lag = self._segment_min_lag
        if lag is None:
            return
        was = self.clock_lag
        self.clock_lag = lag
        if abs(lag) > CLOCK_LAG_WARNING_SECONDS and (
            was is None or abs(was) <= CLOCK_LAG_WARNING_SECONDS
        ):
            log.warning(
                "%s: camera clock and agent clock differ by %.2f s since this connection began;"
                " timestamps are re-anchored on the next reconnect",
                self._label,
                lag,
            )

    def _free_name(self, start: datetime) -> str:
        relative = segment_relative_path(self.camera_id, start)
        suffix = 1
        while (self._segments_dir / relative).exists():
            relative = segment_relative_path(self.camera_id, start, f"-{suffix}{SEGMENT_SUFFIX}")
            suffix += 1
        return relative
