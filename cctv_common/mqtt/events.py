"""What the MQTT bridge hands its owner, in the order paho saw it, and the queue it comes on.

An inbound message's topic is parsed once, when it comes off the wire (``inbound``), into its
typed topic (``cctv_common.wire.topics``); a topic that is not ours becomes ``UnknownTopic``.
``EventQueue`` is fed from paho's thread and read on the owner's event loop; chunks (and only
chunks) count against its byte budget, past which they are dropped to be asked for again.
"""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from dataclasses import dataclass, field
from typing import Final

from cctv_common.wire.topics import ChunkTopic, InvalidTopic, Topic, parse_topic

_SHOWN_TOPIC: Final = 200


@dataclass(frozen=True)
class Connected:
    """Connected and subscribed; ``session_present``: the broker kept our session."""

    session_present: bool


@dataclass(frozen=True)
class Disconnected:
    reason: str


@dataclass(frozen=True)
class Inbound:
    """A message on one of our topics, its topic already parsed."""

    topic: Topic
    payload: bytes = field(repr=False)
    retained: bool = False

    @property
    def is_chunk(self) -> bool:
        return isinstance(self.topic, ChunkTopic)


@dataclass(frozen=True)
class UnknownTopic:
    """A message on a topic that is not one of ours (its payload is dropped)."""

    text: str
    reason: str


BridgeEvent = Connected | Disconnected | Inbound | UnknownTopic


def inbound(topic: str, payload: bytes, retained: bool = False) -> Inbound | UnknownTopic:
    """The event for a message as it came off the wire: its topic parsed, once."""
    try:
        return Inbound(parse_topic(topic), payload, retained)
    except InvalidTopic as exc:
        shown = topic if len(topic) <= _SHOWN_TOPIC else topic[:_SHOWN_TOPIC] + "..."
        return UnknownTopic(shown, str(exc))


class EventQueue:
    """An asyncio queue fed from paho's thread, with a byte budget for chunks.

    ``max_chunk_bytes=None``: no budget (an agent receives no chunks).
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, max_chunk_bytes: int | None = None) -> None:
        self._loop = loop
        self._queue: asyncio.Queue[BridgeEvent] = asyncio.Queue()
        self._max_chunk_bytes = max_chunk_bytes
        self._chunk_bytes = 0
        self._lock = threading.Lock()
        # Events from other threads wait here until the loop drains them: one wake-up of the
        # loop per burst, not one per message (each wake-up is a write to the loop's self-pipe
        # and a wait for the GIL).
        self._inbox: deque[BridgeEvent] = deque()
        self._wake_pending = False
        self.dropped_chunks = 0

    def _counted(self, event: BridgeEvent) -> int:
        return len(event.payload) if isinstance(event, Inbound) and event.is_chunk else 0

    def put_threadsafe(self, event: BridgeEvent) -> bool:
        """Hand ``event`` to the loop (from any thread); False if a chunk was dropped instead."""
        size = self._counted(event)
        if size:
            with self._lock:
                limit = self._max_chunk_bytes
                if limit is not None and self._chunk_bytes + size > limit:
                    self.dropped_chunks += 1
                    return False
                self._chunk_bytes += size
        with self._lock:
            self._inbox.append(event)
            if self._wake_pending:
                return True  # the loop is already told; it drains this one too
            self._wake_pending = True
        try:
            self._loop.call_soon_threadsafe(self._drain)
        except RuntimeError:  # the loop is closed: the owner is shutting down
            return False
        return True

    def _drain(self) -> None:
        """On the loop: move what other threads put into the queue, in their order."""
        with self._lock:
            waiting = list(self._inbox)
            self._inbox.clear()
            self._wake_pending = False
        for event in waiting:
            self._queue.put_nowait(event)

    def put_nowait(self, event: BridgeEvent) -> None:
        """Add an event from the loop's own thread."""
        size = self._counted(event)
        if size:
            with self._lock:
                self._chunk_bytes += size
        self._queue.put_nowait(event)

    async def get(self) -> BridgeEvent:
        return await self._queue.get()

    def get_nowait(self) -> BridgeEvent | None:
        """The next event if one is waiting, else None (never waits)."""
        try:
            return self._queue.get_nowait()
        except asyncio.QueueEmpty:
            return None

    def done(self, event: BridgeEvent) -> None:
        """Called once an event is handled, to give its bytes back to the budget."""
        size = self._counted(event)
        if size:
            with self._lock:
                self._chunk_bytes -= size

    @property
    def chunk_bytes(self) -> int:
        with self._lock:
            return self._chunk_bytes

    def qsize(self) -> int:
        return self._queue.qsize()
