"""The delivery summary in the API: jobs and clips say how much of the window the clip holds.

TestClient against a real SQLite file; the evidence rows carry real signed manifests with gaps.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi.testclient import TestClient

from cctv_common.evidence.manifest import GapCause, ManifestGap, Window
from hub.app import create_app
from hub.domain.records import EvidenceItem
from hub.settings import HubSettings
from hub.storage.engine import AnyDatabase, open_database
from tests.support.hub_kit import (
    RecordingLink,
    auth,
    insert_evidence,
    insert_job,
    make_settings,
    report_status,
)

pytestmark = pytest.mark.usefixtures("hub_engine")  # SQLite, then PostgreSQL


@dataclass
class Hub:
    client: TestClient
    database: AnyDatabase
    settings: HubSettings
    key: Ed25519PrivateKey

    def evidence(self, **manifest: Any) -> EvidenceItem:
        return insert_evidence(
            self.settings,
            self.database,
            self.key,
            secrets.token_bytes(50_000),
            requested_by="pc-one",
            **manifest,
        )

    def get(self, path: str, user: str = "operator") -> Any:
        response = self.client.get(path, auth=auth(user))
        assert response.status_code == 200, response.text
        return response.json()


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[Hub]:
    key = Ed25519PrivateKey.generate()
    settings = make_settings(tmp_path, site_key=key)
    database = open_database(settings)
    try:
        with TestClient(create_app(settings, database, RecordingLink())) as client:
            report_status(database)
            yield Hub(client, database, settings, key)
    finally:
        database.close()


START = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)
WINDOW = (START, START + timedelta(seconds=60))


def _gapped(hub: Hub) -> EvidenceItem:
    """A 60 s request whose clip misses the first 8 s (before the buffer) and 12 s mid-way."""
    start = START
    gaps = (
        ManifestGap(
            start=start,
            end=start + timedelta(seconds=8),
            reason="before the first recorded footage",
            cause=GapCause.BEFORE_BUFFER,
        ),
        ManifestGap(
            start=start + timedelta(seconds=30),
            end=start + timedelta(seconds=42),
            reason="camera not recording",
            cause=GapCause.CAMERA_UNREACHABLE,
        ),
    )
    delivered = Window(start=start + timedelta(seconds=8), end=start + timedelta(seconds=61))
    return hub.evidence(window=WINDOW, delivered=delivered, gaps=gaps, frames=1000)


def _check_gapped(delivery: dict[str, Any]) -> None:
    assert delivery["complete"] is False
    assert delivery["requested_seconds"] == 60
    assert delivery["covered_seconds"] == 40
    assert delivery["summary"] == "40 s of 1 min; 2 gaps"
    assert delivery["frames"] == 1000
    first, second = delivery["gaps"]
    assert (first["seconds"], first["cause"], first["missing"]) == (8, "before_buffer", True)
    assert first["cause_text"] == "before the oldest footage the site held"
    assert first["length_text"] == "8 s"
    assert (second["seconds"], second["cause"]) == (12, "camera_unreachable")
    assert second["cause_text"] == "camera unreachable"


def test_a_job_with_gaps_says_how_much_it_holds(hub: Hub) -> None:
    item = _gapped(hub)
    job = hub.get(f"/api/jobs/{item.job_id}")
    assert job["state"] == "stored" and job["clip_id"] == item.clip_id
    _check_gapped(job["delivery"])
    listed = {job["job_id"]: job for job in hub.get("/api/jobs")}
    _check_gapped(listed[item.job_id]["delivery"])


def test_a_clip_with_gaps_says_how_much_it_holds(hub: Hub) -> None:
    item = _gapped(hub)
    _check_gapped(hub.get(f"/api/clips/{item.clip_id}")["delivery"])
    listed = {clip["clip_id"]: clip for clip in hub.get("/api/clips")}
    _check_gapped(listed[item.clip_id]["delivery"])
    # The police officer who asked sees the same, on their own job and clip.
    _check_gapped(hub.get(f"/api/jobs/{item.job_id}", "pc-one")["delivery"])
    _check_gapped(hub.get(f"/api/clips/{item.clip_id}", "pc-one")["delivery"])


def test_a_complete_clip(hub: Hub) -> None:
    item = hub.evidence(frames=1500)
    delivery = hub.get(f"/api/jobs/{item.job_id}")["delivery"]
    assert delivery["complete"] is True
    assert delivery["covered_seconds"] == delivery["requested_seconds"] == 60
    assert delivery["gaps"] == []
    assert delivery["summary"] == "all 1 min"
    assert delivery["frames"] == 1500


def test_an_older_manifest_without_causes_or_frames(hub: Hub) -> None:
    start = START
    gap = ManifestGap(
        start=start + timedelta(seconds=50),
        end=start + timedelta(seconds=60),
        reason="after the last recorded footage",
    )
    delivered = Window(start=start, end=start + timedelta(seconds=50))
    item = hub.evidence(window=WINDOW, delivered=delivered, gaps=(gap,))
    delivery = hub.get(f"/api/clips/{item.clip_id}")["delivery"]
    assert delivery["frames"] is None
    (shown,) = delivery["gaps"]
    assert shown["cause"] is None
    assert shown["cause_text"] == "after the last recorded footage"
    assert delivery["summary"] == "50 s of 1 min; 1 gap"


def test_a_job_not_stored_yet_has_no_delivery(hub: Hub) -> None:
    job = insert_job(hub.database, requested_by="operator", state="uploading")
    assert hub.get(f"/api/jobs/{job.id}")["delivery"] is None
    listed = {job["job_id"]: job for job in hub.get("/api/jobs")}
    assert listed[job.id]["delivery"] is None


def test_the_delivery_is_in_the_openapi_schema(hub: Hub) -> None:
    schema = hub.client.get("/openapi.json").json()["components"]["schemas"]
    assert "delivery" in schema["JobOut"]["properties"]
    assert "delivery" in schema["ClipOut"]["properties"]
    assert set(schema["DeliveryOut"]["required"]) >= {"complete", "covered_seconds", "gaps"}
