"""One RTSP connection's packets turned into indexed segment files.

A ``RecordingSession`` is fed the video packets of one connection, in order, each with its arrival
time. It drops packets until the first keyframe, starts a new segment on the first keyframe after
``segment_seconds``, times every segment by the rules in ``edge_agent.segment_timing``, and hands
each closed segment to the index. It never decodes: packets go from the demuxer to the muxer.

Segment files live at ``<segments_dir>/<camera_id>/<YYYYMMDD>/<HHMMSS_ffffff>.ts`` named by their
UTC start; while being written they are ``.ts.part`` named by the start estimated at that time.

Not thread-safe: one recorder thread owns a session.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from fractions import Fraction
from pathlib import Path
from typing import Any

import av

from edge_agent.config import RecorderConfig
from edge_agent.segment_index import IndexWriteFailed, SegmentIndex
from edge_agent.segment_timing import (
    SegmentTimeline,
    SessionClock,
    frame_ticks,
    ticks_to_timedelta,
)
from edge_agent.segment_writer import PART_SUFFIX, SEGMENT_SUFFIX, SegmentWriter
from edge_agent.segments import Gap, Segment

log = logging.getLogger(__name__)

# Warn when a segment's packets arrive this much earlier or later than their pts say, measured
# by the least lag over the segment (network and encoder latency included).
CLOCK_LAG_WARNING_SECONDS = 1.0


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
    def __init__(
        self,
        camera_id: str,
        template: Any,
        facts: StreamFacts,
        segments_dir: Path,
        index: SegmentIndex,
        settings: RecorderConfig,
        *,
        resume_after: datetime | None,
        gap_reason: str,
        on_segment: Callable[[Segment, float | None], None],
        label: str = "",
    ) -> None:
        self.camera_id = camera_id
        self._template = template
        self.facts = facts
        self._segments_dir = segments_dir
        self._index = index
        self._settings = settings
        self._on_segment = on_segment
        self._label = label or f"camera {camera_id}"
        self._tb = facts.time_base
        self._frame_ticks = frame_ticks(self._tb, facts.fps)
        # A forward jump in decode timestamps longer than the stall timeout cannot be a late
        # packet (the read would have timed out first); it and any backward step start a new
        # clock, as a reconnect would.
        self._jump_ticks = round(settings.stall_timeout_seconds / self._tb)

        self.last_end = resume_after
        self._gap_reason = gap_reason
        self.segments_written = 0
        self.dropped_before_keyframe = 0
        self.clock_lag: float | None = None

        self._clock: SessionClock | None = None
        self._last_dts: int | None = None
        self._writer: SegmentWriter | None = None
        self._timeline: SegmentTimeline | None = None
        self._segment_min_lag: float | None = None

    @property
    def writing(self) -> bool:
        return self._writer is not None

    def feed(self, packet: av.Packet, arrival: datetime) -> None:
        """Record one packet (pts and dts set); raises SegmentWriteFailed or IndexWriteFailed."""
        pts, dts = packet.pts, packet.dts
        if pts is None or dts is None:
            raise ValueError("packet without timestamps; use fill_missing_timestamps first")
        if self._clock is None:
            self._clock = SessionClock.start(pts, self._tb, arrival)
        elif self._last_dts is not None and (
            dts < self._last_dts or dts - self._last_dts > self._jump_ticks
        ):
            log.warning(
                "%s: timestamps jumped by %.3f s; starting a new segment clock",
                self._label,
                float((dts - self._last_dts) * self._tb),
            )
            self.finish()
            self._gap_reason = "camera timestamps jumped"
            self._clock = SessionClock.start(pts, self._tb, arrival)
        clock = self._clock
        clock.observe(pts, arrival)
        self._last_dts = dts if self._last_dts is None else max(dts, self._last_dts)

        timeline = self._timeline
        if self._writer is None or timeline is None:
            if not packet.is_keyframe:
                self.dropped_before_keyframe += 1
                return
            timeline = self._open(pts, dts)
        elif packet.is_keyframe and timeline.elapsed(pts) >= self._settings.segment_seconds:
            self._close()
            timeline = self._open(pts, dts)
        if not clock.refining:
            lag = clock.lag(pts, arrival)
            if self._segment_min_lag is None or lag < self._segment_min_lag:
                self._segment_min_lag = lag
        timeline.add(pts, dts, packet.duration or 0, packet.is_keyframe)
        assert self._writer is not None
        self._writer.write(packet)

    def finish(self) -> None:
        """Close and index the open segment, if any; raises like ``feed``."""
        if self._writer is not None:
            self._close()

    def abandon(self) -> None:
        """Throw away the open segment (after a write failure); never raises."""
        writer, self._writer, self._timeline = self._writer, None, None
        if writer is not None:
            writer.discard()

    def _open(self, pts: int, dts: int) -> SegmentTimeline:
        assert self._clock is not None
        estimate = self._clock.utc(pts)
        part = self._segments_dir / segment_relative_path(
            self.camera_id, estimate, SEGMENT_SUFFIX + PART_SUFFIX
        )
        self._writer = SegmentWriter(part, self._template)
        self._timeline = SegmentTimeline.begin(pts, dts, self._tb)
        self._segment_min_lag = None
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
        )
        try:
            stored = self._index.add_segment(segment)
        except IndexWriteFailed:
            written.path.unlink(missing_ok=True)
            raise
        self._record_gap(start)
        self.last_end = end
        self.segments_written += 1
        self._note_clock_lag()
        self._on_segment(stored, self.clock_lag)

    def _record_gap(self, start: datetime) -> None:
        previous = self.last_end
        if previous is None:
            return
        missing = (start - previous).total_seconds()
        if missing <= self._settings.gap_tolerance_seconds:
            return
        gap = Gap(previous, start, self._gap_reason)
        try:
            self._index.add_gap(self.camera_id, gap)
        except IndexWriteFailed as exc:
            # The segments themselves still show the hole; only the reason is lost.
            log.error("%s: cannot record a %.1f s gap: %s", self._label, missing, exc)
            return
        log.info("%s: recorded a %.1f s gap (%s)", self._label, missing, self._gap_reason)

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
