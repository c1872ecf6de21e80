"""The fleet's alert rules (hub/domain/fleet_rules.py): camera down for more than N minutes,
clock drift over the bound, buffer under 31 days, disk filling; the order of attention; and
alert episodes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from hub.domain.fleet_rules import (
    AlertBounds,
    AlertKind,
    fleet_health,
    new_and_cleared,
    site_health,
)
from hub.domain.records import CameraRecord, SiteRecord

NOW = datetime(2026, 3, 1, 12, tzinfo=UTC)
BOUNDS = AlertBounds(camera_down_minutes=10, clock_drift_seconds=2)


def site(
    status: dict[str, Any] | None = None, *, state: str = "online", seen: timedelta = timedelta()
) -> SiteRecord:
    return SiteRecord(
        id="s1",
        name="High St",
        public_key_pem="",
        key_id="k",
        state=state,
        status={"state": state, "version": "1.2", **(status or {})},
        last_seen=NOW - seen,
        registered_at=NOW - timedelta(days=90),
        registered_by="test",
    )


def camera(
    camera_id: str, state: str = "recording", *, end: timedelta = timedelta(), **status: Any
) -> CameraRecord:
    return CameraRecord(
        site_id="s1",
        camera_id=camera_id,
        state=state,
        status={"camera_id": camera_id, "state": state, **status},
        buffer_start=NOW - timedelta(days=20),
        buffer_end=NOW - end,
        codec="h264",
        width=None,
        height=None,
        updated_at=NOW,
    )


def health(record: SiteRecord, cameras: list[CameraRecord]) -> Any:
    return site_health(record, cameras, now=NOW, bounds=BOUNDS, last_retrievals={}, last_events={})


def kinds(alerts: Any) -> list[str]:
    return [alert.kind.value for alert in alerts]


def test_camera_down_only_after_n_minutes_since_its_footage_stopped() -> None:
    fresh = health(site(), [camera("c1", "reconnecting", end=timedelta(minutes=9))])
    assert fresh.cameras[0].needs_attention and not fresh.cameras[0].alerts
    stale = health(site(), [camera("c1", "error", end=timedelta(minutes=11), last_error="refused")])
    (alert,) = stale.cameras[0].alerts
    assert alert.kind is AlertKind.CAMERA_DOWN and alert.since == NOW - timedelta(minutes=11)
    assert alert.message == "not recording for 11 min (refused)"


def test_an_offline_or_silent_site_has_every_camera_down() -> None:
    offline = health(
        site(state="offline", seen=timedelta(minutes=30)), [camera("c1", end=timedelta(minutes=30))]
    )
    assert offline.state == "offline"
    assert offline.cameras[0].state == "offline"
    assert kinds(offline.cameras[0].alerts) == ["camera_down"]
    assert "the site is offline" in offline.cameras[0].alerts[0].message
    silent = health(site(seen=timedelta(minutes=20)), [camera("c1", end=timedelta(minutes=20))])
    assert silent.state == "silent" and kinds(silent.cameras[0].alerts) == ["camera_down"]


def test_clock_drift_buffer_and_disk() -> None:
    record = site(
        {
            "buffer_days_forecast": 20.0,
            "disk_free_bytes": 4 * 10**9,
            "disk_total_bytes": 100 * 10**9,
            "time_sync": "unsynchronised",
        }
    )
    result = health(
        record, [camera("c1", clock_offset_seconds=-2.5), camera("c2", clock_offset_seconds=1.9)]
    )
    assert kinds(result.alerts) == ["buffer_short", "disk_filling", "clock_drift"]
    by_id = {c.camera_id: c for c in result.cameras}
    assert kinds(by_id["c1"].alerts) == ["clock_drift"]
    assert by_id["c2"].alerts == ()
    fine = health(
        site(
            {
                "buffer_days_forecast": 31.0,
                "disk_free_bytes": 6 * 10**9,
                "disk_total_bytes": 100 * 10**9,
            }
        ),
        [],
    )
    assert fine.alerts == ()


def test_an_old_agents_status_gives_no_alerts_and_no_errors() -> None:
    result = health(site(), [camera("c1")])
    assert result.alerts == () and result.cameras[0].alerts == ()
    assert result.cameras[0].frames_lost_24h is None and result.checks_failing == ()


def test_sorted_by_what_needs_attention() -> None:
    quiet = site()
    loud = SiteRecord(**{**quiet.__dict__, "id": "a-loud"})
    sites = fleet_health(
        [
            (quiet, [camera("c1")]),
            (loud, [camera("c1"), camera("c2", "stopped", end=timedelta(hours=1))]),
        ],
        now=NOW,
        bounds=BOUNDS,
        last_retrievals={},
        last_events={},
    )
    assert [s.site_id for s in sites] == ["a-loud", "s1"]
    assert [c.camera_id for c in sites[0].cameras] == ["c2", "c1"]


def test_alert_episodes() -> None:
    first = health(site(), [camera("c1", "error", end=timedelta(hours=1))]).cameras[0].alerts
    started, ended = new_and_cleared(list(first), set())
    assert len(started) == 1 and ended == set()
    again, ended = new_and_cleared(list(first), {first[0].key})
    assert again == [] and ended == set()
    none, ended = new_and_cleared([], {first[0].key})
    assert none == [] and ended == {first[0].key}
