"""Fleet health through the hub: an agent's status with its health figures becomes the
engineers' fleet (worst first), alerts are mailed once per episode through a real SMTP server,
and /metrics is scraped and parsed with prometheus_client's parser."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from cctv_common.wire.payloads import CameraStatus, HealthCheck, SiteStatus
from hub.app import create_app
from hub.settings_fleet import AlertSettings, MetricsSettings
from hub.settings_requests import SmtpSection
from hub.storage.engine import AnyDatabase, open_database
from hub.storage.sqlite import repository as repo
from tests.support.hub_kit import SITE, RecordingLink, auth, make_settings
from tests.support.smtp_server import SMTP_USER, TestSmtpServer

pytestmark = pytest.mark.usefixtures("hub_engine")  # SQLite, then PostgreSQL

ENGINEERS = ("field.team@council.example.gov.uk",)


def health_status(now: datetime, *, cam2_recording: bool) -> SiteStatus:
    return SiteStatus(
        state="online",
        version="9.9.9",
        sent_at=now,
        cameras=(
            CameraStatus(
                camera_id="cam-1",
                state="recording",
                buffer_start=now - timedelta(days=12),
                buffer_end=now,
                codec="h264",
                clock_offset_seconds=5.5,
                frames_lost_24h=3,
                fps=25.0,
                bitrate_bps=4_000_000,
            ),
            CameraStatus(
                camera_id="cam-2",
                state="recording" if cam2_recording else "reconnecting",
                buffer_start=now - timedelta(days=12),
                buffer_end=now if cam2_recording else now - timedelta(minutes=30),
                last_error=None if cam2_recording else "cannot connect: Connection refused",
                frames_lost_24h=45_000,
            ),
        ),
        disk_free_bytes=400 * 10**9,
        disk_used_bytes=100 * 10**9,
        disk_total_bytes=500 * 10**9,
        buffer_days_forecast=12.4,
        time_sync="synchronised",
        upload_queue=0,
        checked_at=now,
        checks=(
            HealthCheck(check="disk", subject="box", verdict="FAIL", figure="holds 12.4 days"),
        ),
    )


@pytest.fixture
def fleet_hub(
    tmp_path: Path, smtp_server: TestSmtpServer, smtp_password_file: Path
) -> Iterator[tuple[TestClient, AnyDatabase]]:
    settings = make_settings(tmp_path, site_key=Ed25519PrivateKey.generate())
    token = tmp_path / "metrics.token"
    token.write_text("a-scrape-token-of-some-length\n", encoding="utf-8")
    settings = settings.model_copy(
        update={
            "alerts": AlertSettings(engineer_emails=ENGINEERS, sweep_seconds=3600),
            "smtp": SmtpSection(
                host="127.0.0.1",
                port=smtp_server.port,
                from_address="cctv-hub@council.example.gov.uk",
                username=SMTP_USER,
                password_file=smtp_password_file,
                ca_file=smtp_server.ca_file,
                timeout_seconds=5.0,
            ),
        }
    )
    database = open_database(settings)
    try:
        with TestClient(create_app(settings, database, RecordingLink())) as client:
            yield client, database
    finally:
        database.close()


def report(database: AnyDatabase, status: SiteStatus) -> None:
    now = datetime.now(UTC)
    database.write(lambda d: repo.apply_site_status(d, SITE, status, now))


def test_fleet_alerts_mail_once_per_episode_and_metrics(
    fleet_hub: tuple[TestClient, AnyDatabase], smtp_server: TestSmtpServer
) -> None:
    client, database = fleet_hub
    now = datetime.now(UTC)
    report(database, health_status(now, cam2_recording=False))

    fleet = client.get("/api/fleet", auth=auth("engineer"))
    assert fleet.status_code == 200, fleet.text
    body = fleet.json()
    (site,) = body["sites"]
    assert site["site_id"] == SITE and site["agent_version"] == "9.9.9"
    assert [c["camera_id"] for c in site["cameras"]] == ["cam-2", "cam-1"]  # worst first
    down, ok = site["cameras"]
    assert down["state"] == "reconnecting" and down["needs_attention"]
    assert [a["kind"] for a in down["alerts"]] == ["camera_down"]
    assert down["frames_lost_24h"] == 45_000
    assert [a["kind"] for a in ok["alerts"]] == ["clock_drift"]
    assert round(ok["days_now"]) == 12 and ok["days_forecast"] == 12.4
    assert [a["kind"] for a in site["alerts"]] == ["buffer_short"]
    assert site["checks_failing"] == ["disk box: holds 12.4 days"]
    assert body["alerts"] == 3

    # Mailed once per episode, however often the sweep runs.
    fleet_service = client.app.state.hub.service.fleet  # type: ignore[attr-defined]
    assert client.portal is not None
    client.portal.call(fleet_service.sweep)
    client.portal.call(fleet_service.sweep)
    mails = smtp_server.wait_for(3)
    assert fleet_service.mails_sent == 3
    subjects = sorted(m.message["Subject"] for m in mails)
    assert subjects == [
        "[CCTV] buffer short: site site-a",
        "[CCTV] camera down: site site-a camera cam-2",
        "[CCTV] clock drift: site site-a camera cam-1",
    ]
    assert all(m.rcpt_tos == ENGINEERS for m in mails)
    # cam-2 recovers (its episode ends), then drops again: a new episode, a new mail.
    report(database, health_status(now, cam2_recording=True))
    client.portal.call(fleet_service.sweep)
    report(database, health_status(datetime.now(UTC), cam2_recording=False))
    client.portal.call(fleet_service.sweep)
    assert fleet_service.mails_sent == 4

    # /metrics: the bearer token is required when configured... (set below) and parses.
    scraped = client.get("/metrics")
    assert scraped.status_code == 200, scraped.text
    families = {f.name: f for f in text_string_to_metric_families(scraped.text)}
    recording = {s.labels["camera"]: s.value for s in families["cctv_hub_camera_recording"].samples}
    assert recording == {"cam-1": 1.0, "cam-2": 0.0}
    lost = {
        s.labels["camera"]: s.value for s in families["cctv_hub_camera_frames_lost_24h"].samples
    }
    assert lost == {"cam-1": 3.0, "cam-2": 45000.0}
    alerts = {s.labels["kind"]: s.value for s in families["cctv_hub_alerts"].samples}
    assert alerts == {
        "camera_down": 1.0,
        "clock_drift": 1.0,
        "buffer_short": 1.0,
        "disk_filling": 0.0,
    }
    (forecast,) = families["cctv_hub_site_buffer_days_forecast"].samples
    assert forecast.value == 12.4
    drift = {
        s.labels["camera"]: s.value
        for s in families["cctv_hub_camera_clock_offset_seconds"].samples
    }
    assert drift == {"cam-1": 5.5}


def test_metrics_needs_the_bearer_token_when_one_is_set(tmp_path: Path) -> None:
    token = tmp_path / "metrics.token"
    token.write_text("a-scrape-token-of-some-length\n", encoding="utf-8")
    settings = make_settings(tmp_path).model_copy(
        update={"metrics": MetricsSettings(token_file=token)}
    )
    database = open_database(settings)
    try:
        with TestClient(create_app(settings, database, RecordingLink())) as client:
            assert client.get("/metrics").status_code == 403
            wrong = client.get("/metrics", headers={"Authorization": "Bearer nope"})
            assert wrong.status_code == 403
            good = client.get(
                "/metrics", headers={"Authorization": "Bearer a-scrape-token-of-some-length"}
            )
            assert good.status_code == 200
            names = {f.name for f in text_string_to_metric_families(good.text)}
            assert {"cctv_hub_site_up", "cctv_hub_alerts"} <= names
    finally:
        database.close()
