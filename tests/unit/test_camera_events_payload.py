"""The camera events topic and payload: round trip, hub subscription, and bad input refused.

(The golden file tests/fixtures/mqtt/camera_events.json is checked with every other payload's in
tests/unit/test_payloads.py.)
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from paho.mqtt.client import topic_matches_sub

from cctv_common.wire.payloads import (
    MAX_EVENT_DATA_ITEMS,
    MAX_EVENTS_PER_MESSAGE,
    MAX_PAYLOAD_BYTES,
    CameraEvents,
    InvalidPayload,
    model_for,
    parse_payload,
)
from cctv_common.wire.topics import (
    HUB_EVENTS_FILTER,
    HUB_SUBSCRIPTIONS,
    EventsTopic,
    InvalidTopic,
    agent_subscriptions,
    events_topic,
    parse_topic,
)
from tests.support.paths import FIXTURES

GOLDEN = FIXTURES / "mqtt" / "camera_events.json"


def golden() -> dict[str, Any]:
    value = json.loads(GOLDEN.read_text(encoding="utf-8"))
    assert isinstance(value, dict)
    return value


def event(**changes: Any) -> dict[str, Any]:
    item = dict(golden()["events"][0])
    item.update(changes)
    return {k: v for k, v in item.items() if v is not ...}


def payload(*events: dict[str, Any]) -> bytes:
    return json.dumps({"v": 1, "events": list(events), "sent_at": "2024-03-01T12:05:10Z"}).encode()


def test_topic_round_trip_and_the_hub_subscribes() -> None:
    assert events_topic("site-a") == "cctv/v1/sites/site-a/events"
    assert parse_topic("cctv/v1/sites/site-a/events") == EventsTopic("site-a")
    assert model_for(EventsTopic("site-a")) is CameraEvents
    assert topic_matches_sub(HUB_EVENTS_FILTER, events_topic("site-b"))
    assert HUB_EVENTS_FILTER in [sub.filter for sub in HUB_SUBSCRIPTIONS]
    # An agent publishes its events; it never reads them (nor another site's).
    for sub in agent_subscriptions("site-a"):
        assert not topic_matches_sub(sub.filter, events_topic("site-a"))
    with pytest.raises(InvalidTopic):
        events_topic("../x")
    with pytest.raises(InvalidTopic):
        parse_topic("cctv/v1/sites/site-a/events/extra")


def test_golden_events_parse() -> None:
    parsed = parse_payload(EventsTopic("s"), GOLDEN.read_bytes())
    assert isinstance(parsed, CameraEvents)
    first, second = parsed.events
    assert (first.kind, first.active, first.camera_id) == ("motion", True, "cam-1")
    assert first.data["source.Rule"] == "MyMotionDetectorRule"
    assert (second.kind, second.active, second.data) == ("tamper", False, {})


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"event_id": "XYZ"}, "event_id"),
        ({"event_id": "5d41402abc4b2a76b9719d911017c59"}, "event_id"),
        ({"kind": "doorbell"}, "kind"),
        ({"camera_id": "../etc"}, "camera_id"),
        ({"at": "2024-03-01T12:04:59"}, "time zone"),
        ({"at": 1709294699}, "at"),
        ({"active": "true"}, "active"),
        ({"topic": ""}, "topic"),
        ({"topic": "t" * 201}, "topic"),
        ({"data": {"IsMotion": 1}}, "data"),
        ({"data": {"bad key": "x"}}, "data key"),
        ({"data": {"": "x"}}, "data key"),
        ({"data": {"k": "v" * 201}}, "over 200"),
        ({"data": {f"k{i}": "v" for i in range(MAX_EVENT_DATA_ITEMS + 1)}}, "items"),
        ({"extra": 1}, "extra"),
        ({"event_id": ...}, "event_id"),
    ],
)
def test_bad_events_are_refused(changes: dict[str, Any], reason: str) -> None:
    with pytest.raises(InvalidPayload, match=reason):
        CameraEvents.parse(payload(event(**changes)))


def test_batches_are_bounded_and_ids_unique() -> None:
    with pytest.raises(InvalidPayload, match="events"):
        CameraEvents.parse(payload())
    many = [event(event_id=f"{i:032x}") for i in range(MAX_EVENTS_PER_MESSAGE + 1)]
    with pytest.raises(InvalidPayload, match="events"):
        CameraEvents.parse(payload(*many))
    CameraEvents.parse(payload(*many[:MAX_EVENTS_PER_MESSAGE]))
    with pytest.raises(InvalidPayload, match="more than once"):
        CameraEvents.parse(payload(event(), event()))


def test_oversized_payloads_are_refused_before_parsing() -> None:
    with pytest.raises(InvalidPayload, match="over"):
        CameraEvents.parse(b" " * (MAX_PAYLOAD_BYTES + 1))
