"""From packet timestamps to agent-clock UTC: the segment timing contract. Pure.

The cutter relies on these rules for every recorded segment:

- A recording session is one RTSP connection. ``pts`` here are the *output* timestamps of
  ``edge_agent.recording.stream_time``: the camera's own while they run smoothly, continued across
  every jump, wrap or stuck stretch, and the ones written into the segment files. The session's
  clock is anchored once: the anchor is the UTC at which the session's first packet was captured,
  and the UTC of any packet is ``anchor + (pts - first pts of the session) * time_base``. Packet
  timestamps come from the camera's encoder clock, so network jitter does not move them.
- The capture time of a packet is unknown; its arrival time is an upper bound. Every packet gives a
  candidate anchor ``arrival - (pts - first pts) * time_base``; the anchor is the smallest candidate
  seen while the session's first segment is written. Packets the demuxer buffered while probing the
  stream arrive late and give large candidates; packets that arrive live give candidates close to
  the true capture time plus the least network latency. After the first segment the anchor is
  frozen, so consecutive segments of one session join exactly.
- ``Segment.start`` is the UTC of the segment's first packet, which is a keyframe.
- ``Segment.keyframes`` are the offsets in seconds from ``start`` of every keyframe in the file,
  from pts, rounded to the microsecond; the first is 0.0.
- ``Segment.end`` is ``start + (largest pts - first pts + one frame duration) * time_base``.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from fractions import Fraction
from typing import Protocol, TypeVar


def ticks_to_timedelta(ticks: int, time_base: Fraction) -> timedelta:
    """Exact to the microsecond (the index stores microseconds)."""
    return timedelta(microseconds=round(ticks * time_base * 1_000_000))


def ticks_to_seconds(ticks: int, time_base: Fraction) -> float:
    return round(float(ticks * time_base), 6)


@dataclass
class SessionClock:
    """Maps the pts of one session to agent-clock UTC (see the module docstring)."""

    time_base: Fraction
    first_pts: int
    anchor: datetime
    refining: bool = True

    @classmethod
    def start(cls, pts: int, time_base: Fraction, arrival: datetime) -> SessionClock:
        return cls(time_base=time_base, first_pts=pts, anchor=arrival)

    def observe(self, pts: int, arrival: datetime) -> None:
        """Tighten the anchor with a packet's arrival time while the clock is still refining."""
        if not self.refining:
            return
        candidate = arrival - self.offset(pts)
        if candidate < self.anchor:
            self.anchor = candidate

    def freeze(self, first_pts: int | None = None, not_before: datetime | None = None) -> None:
        """Stop refining; with ``not_before``, move the anchor so ``first_pts`` is not earlier.

        The floor keeps a new session's first segment from overlapping the previous session's
        last one when the two estimates of network latency differ.
        """
        if first_pts is not None and not_before is not None:
            early = not_before - self.utc(first_pts)
            if early > timedelta(0):
                self.anchor += early
        self.refining = False

    def offset(self, pts: int) -> timedelta:
        return ticks_to_timedelta(pts - self.first_pts, self.time_base)

    def utc(self, pts: int) -> datetime:
        return self.anchor + self.offset(pts)

    def lag(self, pts: int, arrival: datetime) -> float:
        """Seconds from a packet's computed capture time to its arrival (negative: clock ahead)."""
        return (arrival - self.utc(pts)).total_seconds()


@dataclass
class SegmentTimeline:
    """The timestamps of one segment's packets, from its first packet (a keyframe)."""

    time_base: Fraction
    first_pts: int
    first_dts: int
    keyframe_ticks: list[int] = field(default_factory=list)
    max_pts: int = 0
    last_dts: int = 0
    last_duration: int = 0
    packets: int = 0

    @classmethod
    def begin(cls, pts: int, dts: int, time_base: Fraction) -> SegmentTimeline:
        return cls(time_base=time_base, first_pts=pts, first_dts=dts, max_pts=pts, last_dts=dts - 1)

    def add(self, pts: int, dts: int, duration: int, is_keyframe: bool) -> None:
        """Account one packet; packets of one access unit may share a pts (counted once)."""
        offset = pts - self.first_pts
        if is_keyframe and (not self.keyframe_ticks or self.keyframe_ticks[-1] != offset):
            self.keyframe_ticks.append(offset)
        if pts >= self.max_pts:
            self.max_pts = pts
            if duration > 0:
                self.last_duration = duration
        self.last_dts = max(self.last_dts, dts)
        self.packets += 1

    def elapsed(self, pts: int) -> float:
        """Seconds from the segment's first packet to ``pts``."""
        return float((pts - self.first_pts) * self.time_base)

    def keyframes(self) -> tuple[float, ...]:
        return tuple(ticks_to_seconds(ticks, self.time_base) for ticks in self.keyframe_ticks)

    def span_ticks(self, frame_ticks: int) -> int:
        """From the first packet to the end of the last frame."""
        return self.max_pts - self.first_pts + (self.last_duration or frame_ticks)


def frame_ticks(time_base: Fraction, fps: float | None, observed: Iterable[int] = ()) -> int:
    """One frame period in ticks: from the stream's rate, else the median observed pts step."""
    if fps:
        return max(1, round(1 / (Fraction(fps) * time_base)))
    steps = [step for step in observed if step > 0]
    return round(statistics.median(steps)) if steps else 0


class TimedPacket(Protocol):
    pts: int | None
    dts: int | None
    duration: int | None
    size: int


P = TypeVar("P", bound=TimedPacket)


def fill_missing_timestamps(
    packets: Iterable[P], on_untimed: Callable[[int], None] | None = None
) -> Iterator[P]:
    """Give every packet a pts and a dts, or drop it.

    FFmpeg's RTSP demuxer can hand out the first packet of a session (often the keyframe it
    probed) without timestamps. Such packets are held back until the next timed packet and then
    timed backwards from it by their durations; a packet whose duration is unknown cannot be
    timed and is dropped. A packet with only one of pts/dts gets the other (no B-frames can be
    assumed without both). Empty packets (the demuxer's end-of-stream flush) are dropped.
    ``on_untimed(n)`` is told of every ``n`` packets dropped untimed, so they can be counted.
    """
    held: list[P] = []
    for packet in packets:
        if packet.size == 0:
            continue
        if packet.pts is None and packet.dts is None:
            held.append(packet)
            continue
        if packet.pts is None:
            packet.pts = packet.dts
        elif packet.dts is None:
            packet.dts = packet.pts
        if held:
            timed = _time_backwards(held, packet)
            if len(timed) < len(held) and on_untimed is not None:
                on_untimed(len(held) - len(timed))
            yield from timed
            held = []
        yield packet


def _time_backwards(held: list[P], anchor: TimedPacket) -> list[P]:
    assert anchor.dts is not None  # set by the caller
    timed: list[P] = []
    next_dts = anchor.dts
    for packet in reversed(held):
        if not packet.duration:
            break  # this and every earlier held packet cannot be timed
        next_dts -= packet.duration
        packet.pts = packet.dts = next_dts
        timed.append(packet)
    timed.reverse()
    return timed
