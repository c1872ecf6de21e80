"""The recorder's model of a stream's time: camera timestamps in, one continuous timeline out. Pure.

A camera's timestamps are not a clock the recorder can trust. They jump back when a second client
joins a shared RTSP mount (the server restarts them), when the camera reboots its encoder or steps
its clock by NTP; they wrap (33 bits in MPEG-TS, 32 bits in RTP); a broken encoder repeats one
timestamp for every frame; a packet can arrive twice. Yet every frame the camera sent must be
recorded, in order, with timestamps that only go forward, so that a segment is as long as its
frames and a clip plays smoothly.

``StreamTime`` turns each packet's decode timestamp (dts) into an output dts on one timeline (in
the stream's time base) by its *step* from the packet before:

- The step is the camera's own when it is plausible: forward, and not more than
  ``JUMP_TOLERANCE_SECONDS`` longer than the time that passed between the two packets' arrival.
  The timeline then follows the camera's timing exactly (a segment without jumps keeps the
  camera's timestamps unchanged).
- A wrap (the step is small modulo 2**33 or 2**32) is a plausible step.
- Any other step is a *jump*: backward, or forward by more than the packets' arrival says.
  A jump starts a new time anchor: the output continues from the last output dts by one frame
  period (the last plausible step, else the nominal rate), or, when the packet arrived more
  than ``gap_tolerance`` after the one before, by that arrival time (the camera really sent
  nothing meanwhile). It is compared with the *last* dts, never a running maximum, so only the
  packet at the jump is a jump and the ones after it step normally again.
- The same dts again: a packet that repeats the one before byte for byte is a duplicate (not
  written); one that does not start a picture is another part of the same frame (written with
  the same timestamps, which the segment writer joins into one packet); one that starts a
  picture is a new frame with a stuck timestamp, stepped like a jump.

Presentation order is kept: output pts = output dts + the packet's own pts - dts (B-frames),
bounded to ``[0, MAX_REORDER_SECONDS]``. A step longer than ``gap_tolerance`` with no jump is time
in which the camera sent no frame (a stall that did not end the connection): the model reports it
as a *hole* so the recorder can record it as a gap. A jump never makes a hole unless the arrival
times show one.

The model never drops a frame: every packet it is given comes out with timestamps, and only exact
duplicates are marked so.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from fractions import Fraction

# A camera step may be this much longer than the arrival gap before it counts as a jump: network
# jitter and a camera that sends a burst after a hiccup never stretch one step by half a second.
JUMP_TOLERANCE_SECONDS = 0.5
# B-frame reordering in cameras is a few frames; anything larger is a broken pts.
MAX_REORDER_SECONDS = 2.0
WRAP_BITS = (33, 32)


class PacketKind(enum.StrEnum):
    FRAME = "frame"  # a new frame (with its timestamps as sent, or re-anchored)
    CONTINUATION = "continuation"  # another part of the frame before (same timestamps)
    DUPLICATE = "duplicate"  # the packet before, again: not written


class TimeEvent(enum.StrEnum):
    BACKWARD_JUMP = "backward_jump"
    FORWARD_JUMP = "forward_jump"
    STUCK = "stuck"
    WRAP = "wrap"


@dataclass(frozen=True)
class Placed:
    """Where one packet goes on the output timeline.

    ``event`` names what happened to the camera's timestamps at this packet; ``camera_step``
    is then the camera's own step in seconds (e.g. -114.16 for a join). ``hole_seconds`` is
    time before this frame in which no frame came (0 when the frames were continuous).
    """

    kind: PacketKind
    pts: int
    dts: int
    event: TimeEvent | None = None
    camera_step: float = 0.0
    hole_seconds: float = 0.0


def unwrapped_step(step: int) -> tuple[int, bool]:
    """The step, or its small equivalent modulo 2**33 or 2**32 when it is a wrap."""
    best = step
    for bits in WRAP_BITS:
        modulus = 1 << bits
        half = modulus >> 1
        candidate = (step + half) % modulus - half
        if abs(candidate) < abs(best):
            best = candidate
    return best, best != step


class StreamTime:
    """Places the packets of one connection on a continuous output timeline (module docstring).

    ``frame_ticks`` is the nominal frame period (0 when the stream gives no rate); arrival times
    are seconds on any monotonic clock.
    """

    def __init__(self, time_base: Fraction, frame_ticks: int, gap_tolerance: float) -> None:
        self.time_base = time_base
        self._nominal_step = max(frame_ticks, 0)
        self._gap_tolerance = gap_tolerance
        self._max_reorder = round(Fraction(MAX_REORDER_SECONDS) / time_base)
        self._last_raw_dts: int | None = None
        self._last_dts = 0
        self._last_pts = 0
        self._last_arrival = 0.0
        self._last_step = 0
        self.frames = 0
        self.jumps = 0

    @property
    def frame_step(self) -> int:
        """The step a re-anchored frame gets: the last plausible step, else the nominal one."""
        return self._last_step or self._nominal_step or 1

    def place(
        self,
        pts: int,
        dts: int,
        arrival: float,
        *,
        starts_picture: bool | None = None,
        identical: bool = False,
    ) -> Placed:
        """Place one packet. ``starts_picture``: its first slice begins a picture (None: unknown,
        taken as a further part of the same frame when the dts repeats); ``identical``: its bytes
        are those of the packet before."""
        reorder = self._reorder(pts - dts)
        last_raw = self._last_raw_dts
        if last_raw is None:
            return self._frame(dts, dts, reorder, arrival)
        step, wrapped = unwrapped_step(dts - last_raw)
        arrived_after = max(arrival - self._last_arrival, 0.0)
        if step == 0:
            if identical:
                return Placed(PacketKind.DUPLICATE, self._last_pts, self._last_dts)
            if not starts_picture:
                self._last_arrival = arrival
                return Placed(PacketKind.CONTINUATION, self._last_pts, self._last_dts)
            return self._reanchor(dts, reorder, arrival, arrived_after, TimeEvent.STUCK, 0.0)
        camera_step = float(step * self.time_base)
        if step < 0:
            return self._reanchor(
                dts, reorder, arrival, arrived_after, TimeEvent.BACKWARD_JUMP, camera_step
            )
        if camera_step - arrived_after > JUMP_TOLERANCE_SECONDS:
            return self._reanchor(
                dts, reorder, arrival, arrived_after, TimeEvent.FORWARD_JUMP, camera_step
            )
        self._last_step = step
        placed = self._frame(dts, self._last_dts + step, reorder, arrival)
        hole = self._hole(step)
        if wrapped or hole:
            event = TimeEvent.WRAP if wrapped else None
            return Placed(placed.kind, placed.pts, placed.dts, event, camera_step, hole)
        return placed

    def _reorder(self, reorder: int) -> int:
        reorder, _ = unwrapped_step(reorder)
        return reorder if 0 <= reorder <= self._max_reorder else 0

    def _hole(self, step: int) -> float:
        """Seconds of a step beyond one frame period, when that is over the gap tolerance."""
        missing = float((step - self._nominal_step) * self.time_base)
        return round(missing, 6) if missing > self._gap_tolerance else 0.0

    def _reanchor(
        self,
        raw_dts: int,
        reorder: int,
        arrival: float,
        arrived_after: float,
        event: TimeEvent,
        camera_step: float,
    ) -> Placed:
        self.jumps += 1
        step = self.frame_step
        hole = 0.0
        if arrived_after > self._gap_tolerance:
            # The camera really sent nothing for a while: keep that time on the timeline.
            step = max(step, round(Fraction(arrived_after) / self.time_base))
            hole = self._hole(step)
        placed = self._frame(raw_dts, self._last_dts + step, reorder, arrival)
        return Placed(placed.kind, placed.pts, placed.dts, event, camera_step, hole)

    def _frame(self, raw_dts: int, out_dts: int, reorder: int, arrival: float) -> Placed:
        self._last_raw_dts = raw_dts
        self._last_dts = out_dts
        self._last_pts = out_dts + reorder
        self._last_arrival = arrival
        self.frames += 1
        return Placed(PacketKind.FRAME, self._last_pts, out_dts)
