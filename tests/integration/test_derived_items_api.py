"""Derived items through the API (TestClient, a real SQLite file, a real H.264 clip made by
ffmpeg, PyAV and libx264 at the hub): order a court copy, follow it to ready, play it with
Range, and find every step in the master's custody rows; who may order what; bad orders and a
source that is not video fail cleanly with nothing left in the store."""

from __future__ import annotations

import hashlib
import json
import os
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi.testclient import TestClient

from hub.app import create_app
from hub.context import HubContext
from hub.domain.derived_items import DerivedItem, DerivedState
from hub.domain.records import EvidenceItem
from hub.settings import HubSettings
from hub.storage.engine import AnyDatabase, open_database
from hub.storage.evidence.store import FilesystemEvidenceStore
from tests.support.exhibit_kit import flip_byte
from tests.support.hub_kit import RecordingLink, auth, insert_evidence, make_h264_mp4, make_settings

pytestmark = pytest.mark.slow


@dataclass
class Hub:
    client: TestClient
    item: EvidenceItem
    clip: bytes
    junk: EvidenceItem
    data_dir: Path
    settings: HubSettings
    database: AnyDatabase
    key: Ed25519PrivateKey

    @property
    def context(self) -> HubContext:
        context: HubContext = self.client.app.state.hub  # type: ignore[attr-defined]
        return context

    def idle(self) -> None:
        self.client.portal.call(self.context.service.derived.idle)  # type: ignore[union-attr]

    def order(self, body: dict[str, Any], user: str = "supervisor", clip: str = "") -> Any:
        return self.client.post(
            f"/api/clips/{clip or self.item.clip_id}/derived", json=body, auth=auth(user)
        )


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory, hub_engine_per_module: str) -> Iterator[Hub]:
    folder = tmp_path_factory.mktemp("derived")
    key = Ed25519PrivateKey.generate()
    settings = make_settings(folder / "hub", site_key=key)
    database = open_database(settings)
    clip = make_h264_mp4(folder / "source.mp4", seconds=2)
    try:
        with TestClient(create_app(settings, database, RecordingLink())) as client:
            # After the start: the site is registered from the settings then.
            item = insert_evidence(settings, database, key, clip, requested_by="pc-one")
            junk = insert_evidence(
                settings, database, key, secrets.token_bytes(20_000), requested_by="pc-one"
            )
            yield Hub(client, item, clip, junk, settings.data_dir, settings, database, key)
    finally:
        database.close()


def _custody(hub: Hub, clip_id: str) -> list[dict[str, Any]]:
    response = hub.client.get(f"/api/clips/{clip_id}", auth=auth("supervisor"))
    assert response.status_code == 200, response.text
    rows: list[dict[str, Any]] = response.json()["custody"]
    return rows


def test_a_court_copy_is_made_kept_and_played(hub: Hub) -> None:
    ordered = hub.order({"operation": "h264"}, user="pc-one")
    assert ordered.status_code == 202, ordered.text
    derived_id = ordered.json()["derived_id"]
    assert derived_id.startswith("DRV-") and ordered.json()["state"] == "working"
    hub.idle()
    item = hub.client.get(f"/api/derived/{derived_id}", auth=auth("pc-one")).json()
    assert item["state"] == "ready", item
    assert item["progress"] == 100 and item["operation"] == "h264"
    assert item["source_sha256"] == hub.item.sha256
    manifest = item["manifest"]
    assert manifest["item_id"] == derived_id
    assert manifest["source"]["sha256"] == hub.item.sha256
    assert manifest["sha256"] == item["sha256"] and manifest["operation"]["name"] == "h264"
    listed = hub.client.get(f"/api/clips/{hub.item.clip_id}/derived", auth=auth("pc-one"))
    assert [d["derived_id"] for d in listed.json()] == [derived_id]
    # The whole video, then a range (as a player seeks).
    video = hub.client.get(item["video_url"], auth=auth("pc-one"))
    assert video.status_code == 200
    assert hashlib.sha256(video.content).hexdigest() == item["sha256"]
    assert len(video.content) == item["bytes"]
    part = hub.client.get(item["video_url"], headers={"Range": "bytes=0-99"}, auth=auth("pc-one"))
    assert part.status_code == 206 and part.content == video.content[:100]
    download = hub.client.get(item["video_url"] + "?download=1", auth=auth("pc-one"))
    assert download.status_code == 200 and "attachment" in download.headers["content-disposition"]
    # The master is untouched, and the copy, its view and download are custody rows on it.
    master = hub.client.get(f"/api/clips/{hub.item.clip_id}/video", auth=auth("pc-one"))
    assert master.content == hub.clip
    rows = [r for r in _custody(hub, hub.item.clip_id) if r["detail"].get("derived_id")]
    assert [r["action"] for r in rows] == ["derive", "view", "download"]
    assert rows[0]["actor"] == "pc-one"
    assert rows[0]["detail"]["sha256"] == item["sha256"]
    assert rows[0]["detail"]["source_sha256"] == hub.item.sha256
    assert not list((hub.data_dir / "derived-work").glob("*"))


def test_who_may_order_what(hub: Hub) -> None:
    redact = {"operation": "redact", "reason": "third parties in a subject access request"}
    assert hub.order(redact, user="pc-one").status_code == 403
    assert hub.order({"operation": "h264"}, user="operator").status_code == 403
    assert hub.order({"operation": "timestamp"}, user="pc-two").status_code == 404
    assert hub.order({"operation": "h264"}, user="engineer").status_code == 403


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ({"operation": "redact"}, "needs a reason"),
        (
            {
                "operation": "redact",
                "reason": "bystanders",
                "boxes": [{"x": 5000, "y": 0, "w": 9, "h": 9}],
            },
            "reaches outside",
        ),
        ({"operation": "h264", "boxes": [{"x": 0, "y": 0, "w": 9, "h": 9}]}, "for redaction"),
        (
            {"operation": "redact", "reason": "bystanders", "faces": False},
            "faces, boxes, or both",
        ),
    ],
)
def test_a_bad_order_is_refused_with_the_reason(hub: Hub, body: dict[str, Any], says: str) -> None:
    response = hub.order(body)
    assert response.status_code == 422
    assert says in json.dumps(response.json())


def test_a_source_that_is_not_video_fails_and_leaves_nothing(hub: Hub) -> None:
    ordered = hub.order({"operation": "h264"}, clip=hub.junk.clip_id)
    assert ordered.status_code == 202
    derived_id = ordered.json()["derived_id"]
    hub.idle()
    item = hub.client.get(f"/api/derived/{derived_id}", auth=auth("supervisor")).json()
    assert item["state"] == "failed" and "video" in item["error"]
    assert item["sha256"] is None
    video = hub.client.get(f"/api/derived/{derived_id}/video", auth=auth("supervisor"))
    assert video.status_code == 409
    rows = [r for r in _custody(hub, hub.junk.clip_id) if r["detail"].get("derived_id")]
    assert [r["detail"]["state"] for r in rows] == ["failed"]
    assert not list((hub.data_dir / "derived-work").glob("*"))
    missing = hub.client.get("/api/derived/DRV-" + "0" * 32, auth=auth("supervisor"))
    assert missing.status_code == 404


def test_progress_is_read_from_the_items_row(hub: Hub) -> None:
    """Progress is kept in the database row, so any hub process answers it, not only the one
    making the copy."""
    record = DerivedItem(
        id="DRV-" + secrets.token_hex(16),
        clip_id=hub.item.clip_id,
        source_sha256=hub.item.sha256,
        operation="h264",
        state=DerivedState.WORKING,
        created_by="supervisor",
        created_at=datetime.now(UTC),
        reason="",
        plan={"operation": "h264"},
    )
    storage = hub.context.service.storage
    storage.write(lambda uow: uow.derived.add(record))
    storage.write(lambda uow: uow.derived.set_progress(record.id, 40))
    got = hub.client.get(f"/api/derived/{record.id}", auth=auth("supervisor")).json()
    assert got["state"] == "working" and got["progress"] == 40
    storage.write(lambda uow: uow.derived.fail(record.id, "test over", datetime.now(UTC)))


def test_deleting_a_master_deletes_its_derived_copies(hub: Hub, tmp_path: Path) -> None:
    data = make_h264_mp4(tmp_path / "doomed.mp4", seconds=1)
    master = insert_evidence(hub.settings, hub.database, hub.key, data, requested_by="pc-one")
    derived_id = hub.order({"operation": "h264"}, clip=master.clip_id).json()["derived_id"]
    hub.idle()
    made = hub.client.get(f"/api/derived/{derived_id}", auth=auth("supervisor")).json()
    assert made["state"] == "ready"
    store = hub.context.store
    assert store.size(made["sha256"]) == made["bytes"]
    gone = hub.client.request(
        "DELETE",
        f"/api/clips/{master.clip_id}",
        json={"reason": "court order 123: destroy"},
        auth=auth("supervisor"),
    )
    assert gone.status_code == 200, gone.text
    after = hub.client.get(f"/api/derived/{derived_id}", auth=auth("supervisor")).json()
    assert after["deleted_at"] is not None and after["video_url"] is None
    video = hub.client.get(f"/api/derived/{derived_id}/video", auth=auth("supervisor"))
    assert video.status_code == 410
    assert not store.exists(made["sha256"])
    deletes = [r for r in _custody(hub, master.clip_id) if r["action"] == "delete"]
    assert len(deletes) == 2
    assert deletes[1]["detail"]["derived_id"] == derived_id
    assert "court order 123" in deletes[1]["detail"]["reason"]


def test_a_damaged_copy_is_refused_and_found_by_the_scrub(hub: Hub, tmp_path: Path) -> None:
    data = make_h264_mp4(tmp_path / "to-damage.mp4", seconds=1)
    master = insert_evidence(hub.settings, hub.database, hub.key, data, requested_by="pc-one")
    derived_id = hub.order({"operation": "h264"}, clip=master.clip_id).json()["derived_id"]
    hub.idle()
    made = hub.client.get(f"/api/derived/{derived_id}", auth=auth("supervisor")).json()
    store = hub.context.store
    assert isinstance(store, FilesystemEvidenceStore)
    path = store.path_for(made["sha256"])
    os.chmod(path, 0o640)
    flip_byte(path, 100)
    # The scrub re-hashes derived items too, and writes the failure on the master's custody.
    report = hub.client.portal.call(hub.context.service.integrity.scrub_once)  # type: ignore[union-attr]
    assert derived_id in {name for obj, _ in report.damaged for name in obj.clip_ids}
    failed = [r for r in _custody(hub, master.clip_id) if r["action"] == "integrity_failed"]
    assert failed and failed[-1]["detail"]["derived_id"] == derived_id
    refused = hub.client.get(made["video_url"], auth=auth("supervisor"))
    assert refused.status_code == 409
    assert f"derived item {derived_id} failed its integrity check" in refused.json()["detail"]
    rows = [r for r in _custody(hub, master.clip_id) if r["action"] == "refused"]
    assert rows and rows[-1]["detail"]["derived_id"] == derived_id
