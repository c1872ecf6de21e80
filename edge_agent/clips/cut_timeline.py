"""Where each packet of a cut goes on the clip's timeline, and whether it is in the cut at all."""

from __future__ import annotations

import logging
from fractions import Fraction

from av.packet import Packet

from edge_agent.clips.cut_plan import CutPlan
from edge_agent.recording.segment_probe import MPEGTS_TS_BITS, ts_delta

log = logging.getLogger(__name__)


class CutTimeline:
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
