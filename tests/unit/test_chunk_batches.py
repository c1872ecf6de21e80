"""Chunks handed to ingest in batches, and one loop wake-up per burst from paho's thread."""

from __future__ import annotations

import asyncio
import threading
from collections import deque

from cctv_common.mqtt.events import BridgeEvent, Connected, EventQueue, inbound
from cctv_common.wire.topics import chunk_topic, manifest_topic
from hub.service import MAX_CHUNK_BATCH, chunk_batch


def chunk(clip: str, index: int, site: str = "s1") -> BridgeEvent:
    return inbound(chunk_topic(site, clip, index), b"x")


def batch_of(events: list[BridgeEvent]) -> tuple[list[object], BridgeEvent | None, int]:
    queue = deque(events[1:])
    batch, held_back = chunk_batch(events[0], lambda: queue.popleft() if queue else None)
    return list(batch), held_back, len(queue)


def test_chunks_of_one_clip_back_to_back_make_one_batch() -> None:
    events = [chunk("a", i) for i in range(5)]
    batch, held_back, left = batch_of(events)
    assert batch == events and held_back is None and left == 0


def test_a_batch_ends_at_another_clip_site_or_message_which_is_handled_next() -> None:
    for ender in (
        chunk("b", 0),
        chunk("a", 9, site="s2"),
        inbound(manifest_topic("s1", "a"), b"{}"),
    ):
        events = [chunk("a", 0), chunk("a", 1), ender, chunk("a", 2)]
        batch, held_back, left = batch_of(events)
        assert batch == events[:2] and held_back is ender and left == 1


def test_a_batch_is_bounded_and_other_events_are_not_batched() -> None:
    events = [chunk("a", i) for i in range(MAX_CHUNK_BATCH + 3)]
    batch, held_back, left = batch_of(events)
    assert len(batch) == MAX_CHUNK_BATCH and held_back is None and left == 3
    assert batch_of([Connected(True), chunk("a", 0)]) == ([], None, 1)


def test_events_from_another_thread_arrive_all_and_in_order() -> None:
    async def main() -> list[BridgeEvent]:
        queue = EventQueue(asyncio.get_running_loop(), max_chunk_bytes=None)
        sent = [chunk("a", i) for i in range(500)]

        def feed() -> None:
            for event in sent:
                assert queue.put_threadsafe(event)

        thread = threading.Thread(target=feed)
        thread.start()
        got = [await queue.get() for _ in sent]
        thread.join()
        assert queue.get_nowait() is None
        assert got == sent
        return got

    assert len(asyncio.run(main())) == 500
