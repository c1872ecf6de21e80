"""Stored camera events reach the hub's topic once each, through a real Mosquitto, across an
agent restart and a broker outage; the pure parts (ids, payload items, batches) on their own."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TypeVar

import pytest

from cctv_common.wire.payloads import (
    MAX_EVENT_DATA_ITEMS,
    MAX_EVENT_VALUE_CHARS,
    MAX_EVENTS_PER_MESSAGE,
    CameraEvents,
)
from cctv_common.wire.topics import events_topic
from devkit.local_broker import HUB_USER, MosquittoBroker
from devkit.waiting import until
from edge_agent.config import UplinkConfig
from edge_agent.store.segment_index import CameraEvent, SegmentIndex
from edge_agent.uplink.connection import Uplink
from edge_agent.uplink.events import (
    Cursor,
    EventUplink,
    batches,
    event_id,
    load_cursor,
    save_cursor,
    stop_task,
    to_item,
)
from tests.support.mosquitto_fixtures import SITE_A, MqttClientFactory, MqttTestClient

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
GUARD = 30.0  # safety limit for waits; nothing asserts on durations
T = TypeVar("T")


def motion(seconds: float, active: bool = True, camera: str = "cam-1") -> CameraEvent:
    data = {"IsMotion": "true" if active else "false", "source.Rule": "MyMotionDetectorRule"}
    return CameraEvent(
        camera, T0 + timedelta(seconds=seconds), "motion", active,
        "tns1:RuleEngine/CellMotionDetector/Motion", data,
    )  # fmt: skip


# Pure parts.


def test_an_event_id_is_a_digest_of_its_content() -> None:
    first = motion(1)
    assert event_id(first) == event_id(motion(1))
    assert len(event_id(first)) == 32
    others = [motion(2), motion(1, active=False), motion(1, camera="cam-2")]
    assert len({event_id(e) for e in others} | {event_id(first)}) == 4


def test_items_are_cut_to_the_payload_limits() -> None:
    data = {f"k{i:02}": "x" * 500 for i in range(30)}
    data.update({"bad key": "dropped", "ünïcode": "dropped"})
    event = CameraEvent("cam-1", T0, "tamper", True, "t" * 300, data)
    item = to_item(event)
    assert item is not None
    assert len(item.data) == MAX_EVENT_DATA_ITEMS
    assert all(len(value) == MAX_EVENT_VALUE_CHARS for value in item.data.values())
    assert "bad key" not in item.data and len(item.topic) == 200
    assert item.event_id == event_id(event)
    assert to_item(CameraEvent("cam-1", T0, "other", True, "tns1:Device/Trigger", {})) is None


def test_batches_hold_at_most_the_count_and_the_bytes() -> None:
    items = [to_item(motion(i)) for i in range(MAX_EVENTS_PER_MESSAGE * 2 + 5)]
    made = batches([i for i in items if i is not None], T0)
    assert [count for count, _ in made] == [MAX_EVENTS_PER_MESSAGE, MAX_EVENTS_PER_MESSAGE, 5]
    small = batches([i for i in items[:40] if i is not None], T0, max_bytes=6000)
    assert sum(count for count, _ in small) == 40
    assert all(len(data) <= 6000 for _, data in small)
    for count, data in small:
        assert len(CameraEvents.parse(data).events) == count


def test_the_cursor_file(tmp_path: Path) -> None:
    path = tmp_path / "events_sent.json"
    assert load_cursor(path) == Cursor()
    save_cursor(path, Cursor(7, "ab" * 16))
    assert load_cursor(path) == Cursor(7, "ab" * 16)
    assert not list(tmp_path.glob("*.part"))
    path.write_text("{not json")
    assert load_cursor(path) == Cursor()


# Through a real broker.


class Hub:
    """The hub's side of the events topic: a persistent session, as the hub has."""

    def __init__(self, mqtt_client: MqttClientFactory) -> None:
        self.client: MqttTestClient = mqtt_client(
            HUB_USER, client_id="hub-test", clean_start=False, session_expiry_seconds=3600
        )
        self.client.subscribe(events_topic(SITE_A))
        self.ids: list[str] = []

    def take(self) -> int:
        """Read what has arrived; how many events the hub has now."""
        while not self.client.messages.empty():
            message = self.client.next_message()
            self.ids.extend(e.event_id for e in CameraEvents.parse(message.payload).events)
        return len(self.ids)


def _run(coroutine: Callable[[], Awaitable[T]]) -> T:
    async def guarded() -> T:
        return await asyncio.wait_for(coroutine(), GUARD * 3)

    return asyncio.run(guarded())


def _uplink(broker: MosquittoBroker) -> Uplink:
    config = UplinkConfig(
        host=broker.host, port=broker.port, password=broker.password(SITE_A), tls=False,
        keepalive_seconds=5,
    )  # fmt: skip
    return Uplink(site_id=SITE_A, config=config)


def test_each_event_reaches_the_hub_once_across_a_restart_and_an_outage(
    mosquitto_broker: MosquittoBroker, mqtt_client: MqttClientFactory, tmp_path: Path
) -> None:
    hub = Hub(mqtt_client)
    index = SegmentIndex(tmp_path / "index.db")
    state = tmp_path / "events_sent.json"
    for second in range(150):  # more than one message's worth
        index.add_event(motion(second, active=second % 2 == 0))
    index.add_event(CameraEvent("cam-1", T0, "other", True, "tns1:Device/Trigger", {}))
    stored = [event_id(e) for _, e in index.events_after(0, 1000) if e.kind == "motion"]

    async def one_run(more: list[CameraEvent], wanted: int) -> int:
        """Start an agent's uplinks, store ``more`` events, wait until the hub has ``wanted``."""
        uplink = _uplink(mosquitto_broker)
        sender = EventUplink(SITE_A, index, uplink, state, poll_seconds=0.1)
        await uplink.start()
        task = asyncio.create_task(sender.run())
        try:
            for event in more:
                index.add_event(event)
            await until(lambda: hub.take() >= wanted, f"{wanted} events")
            await asyncio.sleep(0.3)  # anything extra would arrive now
            hub.take()
            return sender.sent
        finally:
            await stop_task(task)
            await uplink.stop()

    assert _run(lambda: one_run([], len(stored))) == len(stored)
    assert hub.ids == stored  # all, once each, in order
    assert json.loads(state.read_text())["row"] == 151  # past the event the hub does not show

    # A restart: only what was stored since goes out.
    later = [motion(200), motion(201, active=False)]
    assert _run(lambda: one_run(later, len(stored) + 2)) == 2
    assert hub.ids == stored + [event_id(e) for e in later]

    # The broker is down while events are stored; they go out once it is back.
    async def outage() -> None:
        uplink = _uplink(mosquitto_broker)
        sender = EventUplink(SITE_A, index, uplink, state, poll_seconds=0.1)
        await uplink.start()
        await uplink.wait_connected()
        task = asyncio.create_task(sender.run())
        try:
            await asyncio.to_thread(mosquitto_broker.stop)
            index.add_event(motion(300))
            await asyncio.sleep(0.5)  # the uplink tries while the broker is away
            await asyncio.to_thread(mosquitto_broker.start)
            await until(lambda: sender.sent == 1, "the event after the outage")
        finally:
            await stop_task(task)
            await uplink.stop()

    _run(outage)
    # The hub's client reconnects by itself; the broker kept its session across the restart.
    deadline = datetime.now(UTC) + timedelta(seconds=GUARD)
    while len(hub.ids) < len(stored) + 3 and datetime.now(UTC) < deadline:
        hub.take()
        time.sleep(0.05)
    assert hub.ids == stored + [event_id(e) for e in later] + [event_id(motion(300))]
    index.close()


def test_a_new_index_offers_every_event_again(
    mosquitto_broker: MosquittoBroker, mqtt_client: MqttClientFactory, tmp_path: Path
) -> None:
    hub = Hub(mqtt_client)
    state = tmp_path / "events_sent.json"
    save_cursor(state, Cursor(2, "0" * 32))  # from an index that is gone
    index = SegmentIndex(tmp_path / "index.db")
    for second in range(3):
        index.add_event(motion(second))

    async def run() -> None:
        uplink = _uplink(mosquitto_broker)
        sender = EventUplink(SITE_A, index, uplink, state, poll_seconds=0.1)
        await uplink.start()
        task = asyncio.create_task(sender.run())
        try:
            await until(lambda: hub.take() == 3, "all three events")
        finally:
            await stop_task(task)
            await uplink.stop()

    _run(run)
    assert hub.ids == [event_id(motion(s)) for s in range(3)]
    index.close()


def test_a_broker_that_refuses_is_retried_without_moving_the_cursor(
    mosquitto_broker: MosquittoBroker, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # site-b's login may not publish under site-a: the broker refuses in its PUBACK.
    index = SegmentIndex(None)
    index.add_event(motion(1))
    state = tmp_path / "events_sent.json"
    config = UplinkConfig(
        host=mosquitto_broker.host, port=mosquitto_broker.port, username="site-b",
        password=mosquitto_broker.password("site-b"), tls=False,
    )  # fmt: skip

    async def run() -> None:
        uplink = Uplink(site_id=SITE_A, config=config)
        sender = EventUplink(SITE_A, index, uplink, state, poll_seconds=0.1)
        await uplink.start()
        task = asyncio.create_task(sender.run())
        try:
            await until(lambda: "camera events not sent yet" in caplog.text, "a refusal")
            assert sender.sent == 0 and not task.done()
        finally:
            await stop_task(task)
            await uplink.stop()

    _run(run)
    assert not state.exists()
    assert "not authori" in caplog.text.lower()
