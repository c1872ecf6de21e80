"""How much of the link the agent's uploads use: the in-flight window, the chunk size, and how the
window is shared by priority. Pure rules (no I/O, no clock: every call takes ``now``).

**The estimate** (``LinkEstimate``) is BBR's model of the path, measured from the hub's acks:

- *delivery rate*: each chunk carries a stamp taken when it was sent (bytes delivered so far and
  when); when an ack first shows it held, ``(delivered now - delivered then) / (now - then)`` is
  one sample. The bottleneck rate is the largest sample of the last ``rate_window`` seconds (a
  rate sample can only be too low, through idle time or ack delay, never too high).
- *round trip*: the time from a chunk's send to the ack that first shows it held, less the time
  the bytes sent before it and not yet delivered (``ahead`` in its stamp) took at the estimated
  rate: that part is the agent's own queue (paho's, the socket's), not the path, and counting it
  would make the window grow the queue that inflates the next sample. The path's round trip is
  the smallest sample of the last ``rtt_window`` seconds.
- *after a reconnect* (``lossy``) the chunks sent before it and delivered after it give no
  sample: their interval spans the outage, and one such rate sample (a tenth of the line), once
  the samples from before the cut had aged out, shrank the window to its floor (20 chunks of
  64 KiB, half a second of a 20 Mbit/s line, less than the hub's ack cadence needs) and held the
  upload at 0.76 of the line for the rest of the clip.

**The window** (``window_chunks``) is ``gain x rate x round trip`` (the bandwidth-delay product)
in chunks, plus the hub's ack cadence (the agent hears about chunks 16 at a time, so fewer than
16 outstanding would stall until the hub's 0.5 s ack timer) and half a second of the link (kept
in flight while an ack travels and is handled), within ``[floor, ceiling]``. The
ceiling is paho's and the broker's in-flight limit (64 messages) and a byte bound, so that a
fast link does not queue hundreds of megabytes in front of a threat-to-life clip. Without an
estimate yet the window starts at the floor and grows as acks come.

**The chunk size** (``chunk_size_for``) is chosen when a clip is cut (its chunk hashes go into the
offer): about ``chunk_seconds`` of the estimated rate, a power of two within the wire contract's
64 KiB .. 8 MiB and the config's ``chunk_bytes`` ceiling; halved (not below 128 KiB) on a link
that dropped in the last minutes (an interrupted chunk is sent again whole). Packet loss alone
does not count: TCP hides it, and a chunk the agent presumes lost is usually one the hub was
still writing.
Fewer, larger chunks on fast links (fewer messages, acks and thread hops); small ones on slow and
lossy links (little sent twice, and a short queue in front of an urgent clip).

**Sharing by priority** (``share_window``): the most urgent uploads that want chunks take the
window; less urgent ones are paused (they keep everything they had: the hub holds their chunks,
their trackers are untouched, nothing restarts) until no more urgent upload wants chunks. Among
uploads of one priority the oldest goes first (in sequence: the first clip of a request is stored
sooner, and the request as a whole no later than if they shared the link).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from cctv_common.wire.payloads import MAX_CHUNK_SIZE, MIN_CHUNK_SIZE

# The hub's default ack cadence ([ingest] ack_every_chunks): the window must exceed it.
HUB_ACK_EVERY_CHUNKS: Final = 16
# paho's in-flight limit, which must not exceed the broker's Receive Maximum (64).
CEILING_CHUNKS: Final = 64
CEILING_BYTES: Final = 64 * 1024 * 1024
WINDOW_GAIN: Final = 2.0
CHUNK_SECONDS: Final = 0.1
RATE_WINDOW_SECONDS: Final = 10.0
RTT_WINDOW_SECONDS: Final = 30.0
LOSSY_MEMORY_SECONDS: Final = 300.0
# Below this, halving after a drop saves nothing worth its per-chunk cost: through the 30 s outage
# profile (20 Mbit/s) the runs with 64 KiB chunks were stored 0.6-1.4 s later than those with
# 128 KiB in each of three sessions.
LOSSY_FLOOR_BYTES: Final = 128 * 1024
MIN_RTT_SECONDS: Final = 0.001
# Beyond the ack cadence, this much of the link stays in flight while an ack is on its way and
# being handled (a loaded site box, a jittery radio link).
ACK_SLACK_SECONDS: Final = 0.5


@dataclass(frozen=True)
class SendStamp:
    """What the estimate knew when a chunk was sent."""

    sent_at: float
    delivered: int
    delivered_at: float
    # Bytes sent before this chunk and not yet delivered: the queue in front of it.
    ahead: int = 0


class LinkEstimate:
    """The bottleneck rate and round trip of the site's uplink, from every upload's acks."""

    def __init__(
        self,
        *,
        rate_window: float = RATE_WINDOW_SECONDS,
        rtt_window: float = RTT_WINDOW_SECONDS,
    ) -> None:
        if rate_window <= 0 or rtt_window <= 0:
            raise ValueError("the filter windows must be positive")
        self._rate_window = rate_window
        self._rtt_window = rtt_window
        self._rates: deque[tuple[float, float]] = deque()
        self._rtts: deque[tuple[float, float]] = deque()
        self.delivered = 0
        self._delivered_at: float | None = None
        self._lossy_at: float | None = None
        # The last reconnect: chunks sent before it give no samples.
        self._interrupted_at: float | None = None

    def stamp(self, now: float, ahead: int = 0) -> SendStamp:
        """Take when a chunk is sent, with the bytes outstanding before it; hand it back to
        ``delivered_chunks`` when it is held."""
        if self._delivered_at is None:
            # The first send: the first rate sample runs from here.
            self._delivered_at = now
        return SendStamp(now, self.delivered, self._delivered_at, ahead)

    def idle(self, now: float) -> None:
        """Nothing is in flight (paused, or between clips): the next sample starts now."""
        self._delivered_at = now

    def delivered_chunks(self, nbytes: int, newest: SendStamp | None, now: float) -> None:
        """An ack showed ``nbytes`` newly held; ``newest`` is the stamp of the last sent of them."""
        if nbytes <= 0:
            return
        self.delivered += nbytes
        self._delivered_at = now
        if newest is None:
            return
        if self._interrupted_at is not None and newest.sent_at < self._interrupted_at:
            return  # sent before the connection dropped: the interval spans the outage
        interval = now - newest.delivered_at
        if interval > 0:
            self._rates.append((now, (self.delivered - newest.delivered) / interval))
        self._expire(now)
        rate = self.rate
        queued = newest.ahead / rate if rate else 0.0
        rtt = now - newest.sent_at - queued
        if rtt > 0:
            self._rtts.append((now, max(rtt, MIN_RTT_SECONDS)))

    def lossy(self, now: float) -> None:
        """The connection was lost and is back: chunks may be cut short, and what was sent
        before now gives no sample when it is delivered."""
        self._lossy_at = now
        self._interrupted_at = now
        self._delivered_at = now

    def is_lossy(self, now: float) -> bool:
        return self._lossy_at is not None and now - self._lossy_at < LOSSY_MEMORY_SECONDS

    def _expire(self, now: float) -> None:
        for samples, window in ((self._rates, self._rate_window), (self._rtts, self._rtt_window)):
            # Keep the newest sample whatever its age, so an estimate never empties out.
            while len(samples) > 1 and now - samples[0][0] > window:
                samples.popleft()

    @property
    def rate(self) -> float | None:
        """Bottleneck rate in bytes per second (largest recent sample); None before any."""
        return max((value for _, value in self._rates), default=None)

    @property
    def round_trip(self) -> float | None:
        """Round trip in seconds (smallest recent sample); None before any."""
        return min((value for _, value in self._rtts), default=None)

    def bdp_bytes(self) -> float | None:
        rate, rtt = self.rate, self.round_trip
        if rate is None or rtt is None:
            return None
        return rate * rtt


@dataclass(frozen=True)
class WindowLimits:
    floor_chunks: int = HUB_ACK_EVERY_CHUNKS + 4
    ceiling_chunks: int = CEILING_CHUNKS
    ceiling_bytes: int = CEILING_BYTES
    gain: float = WINDOW_GAIN

    def __post_init__(self) -> None:
        if not 1 <= self.floor_chunks <= self.ceiling_chunks:
            raise ValueError("need 1 <= floor_chunks <= ceiling_chunks")
        if self.gain < 1:
            raise ValueError("the gain must be at least 1")


def window_chunks(
    estimate: LinkEstimate, chunk_size: int, limits: WindowLimits = WindowLimits()
) -> int:
    """Chunks that may be outstanding: ``gain x BDP`` plus the ack cadence, within the limits."""
    if chunk_size < 1:
        raise ValueError("chunk size must be positive")
    byte_ceiling = max(limits.floor_chunks, limits.ceiling_bytes // chunk_size)
    ceiling = min(limits.ceiling_chunks, byte_ceiling)
    bdp = estimate.bdp_bytes()
    if bdp is None:
        return limits.floor_chunks
    rate = estimate.rate or 0.0
    slack = math.ceil(rate * ACK_SLACK_SECONDS / chunk_size)
    wanted = math.ceil(limits.gain * bdp / chunk_size) + HUB_ACK_EVERY_CHUNKS + slack
    return max(limits.floor_chunks, min(ceiling, wanted))


def chunk_size_for(
    estimate: LinkEstimate,
    now: float,
    *,
    largest: int = MAX_CHUNK_SIZE,
    default: int = 1024 * 1024,
    chunk_seconds: float = CHUNK_SECONDS,
) -> int:
    """The chunk size for a clip cut now: about ``chunk_seconds`` of the link, a power of two
    within the wire's limits and ``largest``; ``default`` (within them) before any estimate."""
    top = max(MIN_CHUNK_SIZE, min(MAX_CHUNK_SIZE, largest))
    rate = estimate.rate
    if rate is None:
        return max(MIN_CHUNK_SIZE, min(top, default))
    target = rate * chunk_seconds
    if estimate.is_lossy(now):
        # Halved, but not below LOSSY_FLOOR_BYTES (unless the link is slower than that).
        target = max(target / 2, min(target, LOSSY_FLOOR_BYTES))
    size = MIN_CHUNK_SIZE
    while size * 2 <= target and size * 2 <= top:
        size *= 2
    return min(size, top)


@dataclass(frozen=True)
class Demand:
    """One upload's claim on the window."""

    key: str
    priority: int
    order: int
    outstanding: int
    wants: int


def share_window(window: int, demands: Sequence[Demand]) -> dict[str, int]:
    """How many new chunks each upload may send now.

    The most urgent priority among uploads that want chunks takes the window: its uploads, oldest
    first, get what is left of it after their own outstanding chunks. Less urgent uploads get 0
    (paused): their outstanding chunks drain, and they resume when nothing more urgent wants.
    """
    rooms = dict.fromkeys((demand.key for demand in demands), 0)
    wanting = [demand for demand in demands if demand.wants > 0]
    if not wanting or window < 1:
        return rooms
    top = max(demand.priority for demand in wanting)
    leading = sorted(
        (d for d in demands if d.priority >= top), key=lambda d: (-d.priority, d.order)
    )
    left = window - sum(demand.outstanding for demand in leading)
    for demand in leading:
        if left <= 0:
            break
        if demand.priority == top and demand.wants > 0:
            rooms[demand.key] = min(left, demand.wants)
            left -= rooms[demand.key]
    return rooms
