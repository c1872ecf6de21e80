"""The hub's camera events: stored once per event id from the sites' messages, and served by
``GET /api/sites/{site}/cameras/{camera}/events`` to whoever may see cameras (engineers too).

TestClient against a real SQLite file; messages go through the hub's own router
(``HubService.handle``) as they would from the broker.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi.testclient import TestClient

from cctv_common.mqtt.events import inbound
from cctv_common.wire.payloads import CameraEventItem, CameraEvents
from cctv_common.wire.topics import events_topic
from hub.app import create_app
from hub.storage.engine import AnyDatabase, open_database
from tests.support.hub_kit import (
    CAMERA,
    SITE,
    RecordingLink,
    auth,
    make_settings,
    report_status,
    row_count,
)

pytestmark = pytest.mark.usefixtures("hub_engine")  # SQLite, then PostgreSQL

NOW = datetime.now(UTC).replace(microsecond=0)


@dataclass
class Hub:
    client: TestClient
    database: AnyDatabase

    def send(self, payload: bytes, site: str = SITE) -> None:
        service = self.client.app.state.hub.service  # type: ignore[attr-defined]
        portal = self.client.portal
        assert portal is not None
        portal.call(service.handle, inbound(events_topic(site), payload))

    def events(self, query: str = "", user: str = "operator", camera: str = CAMERA) -> Any:
        response = self.client.get(
            f"/api/sites/{SITE}/cameras/{camera}/events{query}", auth=auth(user)
        )
        assert response.status_code == 200, response.text
        return response.json()

    def rows(self) -> int:
        return row_count(self.database, "camera_events")


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[Hub]:
    settings = make_settings(tmp_path, site_key=Ed25519PrivateKey.generate())
    database = open_database(settings)
    try:
        with TestClient(create_app(settings, database, RecordingLink())) as client:
            report_status(database)
            yield Hub(client, database)
    finally:
        database.close()


def item(seconds_ago: float, kind: str = "motion", active: bool = True, n: int = 0) -> Any:
    return CameraEventItem.model_validate(
        {
            "event_id": f"{int(seconds_ago * 1000) * 10 + n:032x}",
            "camera_id": CAMERA,
            "at": NOW - timedelta(seconds=seconds_ago),
            "kind": kind,
            "active": active,
            "topic": "tns1:RuleEngine/CellMotionDetector/Motion",
            "data": {"source.Rule": "MyMotionDetectorRule"},
        }
    )


def message(*items: Any) -> bytes:
    return CameraEvents(events=tuple(items), sent_at=NOW).to_bytes()


def test_events_are_stored_once_each_and_served_in_order(hub: Hub) -> None:
    hub.send(message(item(60), item(30, active=False)))
    hub.send(message(item(30, active=False), item(10, "tamper")))  # a re-send after an outage
    assert hub.rows() == 3
    answer = hub.events()
    assert answer["truncated"] is False
    assert [(e["kind"], e["active"]) for e in answer["events"]] == [
        ("motion", True),
        ("motion", False),
        ("tamper", True),
    ]
    first = answer["events"][0]
    assert first["at"] == (NOW - timedelta(seconds=60)).isoformat().replace("+00:00", "Z")
    assert first["data"] == {"source.Rule": "MyMotionDetectorRule"}
    assert first["topic"] == "tns1:RuleEngine/CellMotionDetector/Motion"


def test_the_window_chooses_the_events(hub: Hub) -> None:
    hub.send(message(item(7200), item(60), item(30)))
    start = (NOW - timedelta(seconds=90)).isoformat().replace("+00:00", "Z")
    end = (NOW - timedelta(seconds=45)).isoformat().replace("+00:00", "Z")
    answer = hub.events(f"?start={start}&end={end}")
    assert len(answer["events"]) == 1
    assert answer["start"] == start and answer["end"] == end
    assert len(hub.events()["events"]) == 3  # the last 24 hours by default
    assert hub.events(camera="other-cam")["events"] == []
    truncated = hub.events("?limit=2")
    assert len(truncated["events"]) == 2 and truncated["truncated"] is True


@pytest.mark.parametrize(
    ("user", "status"),
    [("engineer", 200), ("operator", 200), ("supervisor", 200), ("pc-one", 200), ("auditor", 403)],
)
def test_who_may_see_events(hub: Hub, user: str, status: int) -> None:
    response = hub.client.get(f"/api/sites/{SITE}/cameras/{CAMERA}/events", auth=auth(user))
    assert response.status_code == status, response.text
    assert hub.client.get(f"/api/sites/{SITE}/cameras/{CAMERA}/events").status_code == 401


@pytest.mark.parametrize(
    ("query", "status", "reason"),
    [
        ("?start=2024-03-01T12:00:00", 422, "time zone"),
        ("?start=2024-03-02T12:00:00Z&end=2024-03-01T12:00:00Z", 422, "not after"),
        ("?start=2024-01-01T00:00:00Z&end=2024-03-01T00:00:00Z", 422, "over 31 days"),
        ("?start=yesterday", 422, "start"),
        ("?limit=0", 422, "limit"),
    ],
)
def test_bad_windows_are_refused(hub: Hub, query: str, status: int, reason: str) -> None:
    response = hub.client.get(
        f"/api/sites/{SITE}/cameras/{CAMERA}/events{query}", auth=auth("operator")
    )
    assert response.status_code == status
    assert reason in response.text


def test_unknown_sites_and_bad_ids(hub: Hub) -> None:
    unknown = hub.client.get("/api/sites/nowhere/cameras/cam-1/events", auth=auth("operator"))
    assert unknown.status_code == 404 and "not registered" in unknown.text
    bad = hub.client.get(f"/api/sites/{SITE}/cameras/..%2Fx/events", auth=auth("operator"))
    assert bad.status_code in (400, 404)


def test_bad_messages_store_nothing(hub: Hub, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    hub.send(b"{not json")
    hub.send(b'{"v":1,"events":[],"sent_at":"2024-03-01T12:00:00Z"}')
    hub.send(message(item(5)), site="site-unknown")
    assert hub.rows() == 0
    assert "camera events dropped" in caplog.text
    assert "site site-unknown is not registered; its camera events are ignored" in caplog.text
    hub.send(message(item(5)))
    assert hub.rows() == 1
