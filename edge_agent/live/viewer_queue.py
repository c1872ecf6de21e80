"""Packets on the loop side of live view, and each viewer's bounded queue of them.

A viewer that falls behind loses its queue and waits for the next keyframe instead of growing
memory; one that joins a camera already open starts on the cached GOP, re-stamped (``restamped``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

import av

from edge_agent.live.bitstream import VIDEO_TIME_BASE

# How far (in packets, on top of the GOP burst) a viewer may lag before it is cut back to the next
# keyframe: 50 packets is 2 s at 25 fps; a live view further behind than that is no longer live.
VIEWER_LAG_PACKETS: Final = 50


@dataclass(frozen=True, slots=True)
class LivePacket:
    """One access unit ready to send: Annex-B, pts/dts/time_base in 90 kHz."""

    packet: av.Packet
    keyframe: bool  # starts with a decodable IDR (parameter sets included)
    size: int


@dataclass(frozen=True, slots=True)
class StreamInfo:
    codec: str
    width: int
    height: int
    profile: str | None


def restamped(item: LivePacket, pts: int) -> LivePacket:
    packet = av.Packet(bytes(item.packet))
    packet.pts = pts
    packet.dts = pts
    packet.time_base = VIDEO_TIME_BASE
    return LivePacket(packet, item.keyframe, item.size)


class ViewerQueue:
    """One viewer's bounded queue of packets. Lives on the event loop."""

    def __init__(
        self, burst: list[LivePacket], on_close: Callable[[ViewerQueue], None] | None = None
    ) -> None:
        self._on_close = on_close
        self._queue: asyncio.Queue[LivePacket | None] = asyncio.Queue(
            maxsize=len(burst) + VIEWER_LAG_PACKETS
        )
        self._waiting_for_keyframe = not burst
        self.closed = False
        self.dropped = 0
        self.received = 0
        for item in burst:
            self._queue.put_nowait(item)

    def offer(self, item: LivePacket) -> None:
        if self.closed:
            return
        if self._waiting_for_keyframe:
            if not item.keyframe:
                self.dropped += 1
                return
            self._waiting_for_keyframe = False
        if self._queue.full():
            self.dropped += self._drain()
            if not item.keyframe:
                self._waiting_for_keyframe = True
                self.dropped += 1
                return
        self._queue.put_nowait(item)

    def end(self) -> None:
        """The source is gone: the viewer's next :meth:`get` returns None."""
        if self.closed:
            return
        self.closed = True
        self._drain()
        self._queue.put_nowait(None)

    async def get(self) -> av.Packet | None:
        """The next packet to send; None once the source has ended or the viewer left."""
        if self.closed and self._queue.empty():
            return None
        item = await self._queue.get()
        if item is None:
            return None
        self.received += 1
        return item.packet

    def close(self) -> None:
        """The viewer left."""
        if not self.closed:
            self.end()
        if self._on_close is not None:
            self._on_close(self)

    def _drain(self) -> int:
        count = 0
        while not self._queue.empty():
            if self._queue.get_nowait() is not None:
                count += 1
        return count
