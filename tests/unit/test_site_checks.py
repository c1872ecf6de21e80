"""The site checks' rules (edge_agent/health/checks.py), the agent's judgement from its own
figures (monitor.judge), the MQTT CONNECT the broker check sends, and the status's health fields."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from cctv_common.wire.payloads import CameraStatus, SiteStatus
from edge_agent.config import AgentConfig
from edge_agent.health import checks
from edge_agent.health.broker_login import connect_packet, parse_connack
from edge_agent.health.checks import StreamFigures, TimeSync, Verdict
from edge_agent.health.monitor import HealthReport, judge
from edge_agent.health.report import with_health
from edge_agent.recording.recorder import RecorderHealth, RecorderState
from edge_agent.store.recording_stats import RecordingStats

GB = 10**9


def test_camera_clock_warns_over_the_bound_and_says_when_not_measured() -> None:
    assert checks.camera_clock("cam-1", 0.4, 2.0).verdict is Verdict.OK
    over = checks.camera_clock("cam-1", -7.25, 2.0)
    assert over.verdict is Verdict.WARN
    assert over.line() == "WARN clock cam-1: -7.2 s against the box (over 2 s)"
    assert "not measured" in checks.camera_clock("cam-1", None, 2.0).figure


def test_stream_codec_and_rate() -> None:
    ok = checks.camera_stream("c", StreamFigures("h264", 25.0, 2_000_000, 1920, 1080))
    assert ok.line() == "OK   stream c: h264 1920x1080 25.0 fps 2.00 Mbit/s"
    assert checks.camera_stream("c", StreamFigures("mjpeg", 25.0)).verdict is Verdict.FAIL
    assert checks.camera_stream("c", StreamFigures(None, None)).verdict is Verdict.FAIL
    assert checks.camera_stream("c", StreamFigures("hevc", 2.0)).verdict is Verdict.WARN
    assert checks.camera_stream("c", StreamFigures("h265", None)).verdict is Verdict.WARN


def test_buffer_days_at_the_measured_bitrate() -> None:
    per_day = 4e6 / 8 * 86400  # 4 Mbit/s: 43.2 GB a day
    days = checks.buffer_days(
        free_bytes=1000 * GB,
        used_bytes=400 * GB,
        bytes_per_day=per_day,
        min_free_bytes=GB,
        max_disk_bytes=2000 * GB,
        max_days=31,
    )
    assert days == 31  # capped by retention
    short = checks.buffer_days(
        free_bytes=500 * GB,
        used_bytes=100 * GB,
        bytes_per_day=per_day,
        min_free_bytes=GB,
        max_disk_bytes=2000 * GB,
        max_days=31,
    )
    assert short is not None and round(short, 2) == round(599 * GB / per_day, 2)
    capped = checks.buffer_days(
        free_bytes=5000 * GB,
        used_bytes=0,
        bytes_per_day=per_day,
        min_free_bytes=GB,
        max_disk_bytes=430 * GB,
        max_days=31,
    )
    assert capped is not None and capped < 10  # max_disk_bytes bounds it
    assert (
        checks.buffer_days(
            free_bytes=GB,
            used_bytes=0,
            bytes_per_day=None,
            min_free_bytes=0,
            max_disk_bytes=GB,
            max_days=31,
        )
        is None
    )


def test_disk_verdict_against_the_31_day_target() -> None:
    assert (
        checks.disk_buffer(free_bytes=GB, days=31, max_days=31, bitrate_bps=1e6).verdict
        is Verdict.OK
    )
    short = checks.disk_buffer(free_bytes=GB, days=13.9, max_days=31, bitrate_bps=4e6)
    assert short.verdict is Verdict.FAIL
    assert short.figure == "1.0 GB free; holds 13.9 days at 4.00 Mbit/s (target 31)"
    assert (
        checks.disk_buffer(free_bytes=GB, days=None, max_days=31, bitrate_bps=None).verdict
        is Verdict.WARN
    )
    fortnight = checks.disk_buffer(free_bytes=GB, days=14, max_days=14, bitrate_bps=1e6)
    assert fortnight.verdict is Verdict.WARN and "under the 31-day target" in fortnight.figure


def test_time_sync_is_honest_about_unknown() -> None:
    assert checks.box_time_sync(
        TimeSync("synchronised", "chronyc", "leap status Normal")
    ).line() == ("OK   time-sync box: synchronised (chronyc: leap status Normal)")
    assert checks.box_time_sync(TimeSync("unsynchronised", "adjtimex")).verdict is Verdict.FAIL
    unknown = checks.box_time_sync(TimeSync("unknown", ""))
    assert unknown.verdict is Verdict.WARN and unknown.figure.startswith("unknown (")


def test_worst_verdict() -> None:
    ok = checks.camera_reached("a", None, "RTSP")
    fail = checks.camera_reached("b", "refused", "RTSP")
    assert checks.worst([]) is Verdict.OK
    assert checks.worst([ok, fail]) is Verdict.FAIL


def test_connect_packet_and_connack() -> None:
    packet = connect_packet("agent-s1", "s1", "pw")
    assert packet[0] == 0x10 and packet[1] == len(packet) - 2
    assert b"\x00\x04MQTT\x05" in packet
    flags = packet[packet.index(b"MQTT") + 5]
    assert flags == 0xC0  # user name and password, clean start off: the session is kept
    assert parse_connack(b"\x20\x03\x00\x00\x00") == 0
    assert parse_connack(b"\x20\x03\x00\x87\x00") == 0x87
    assert parse_connack(b"\x30\x00") is None


def agent_config(tmp_path: Path) -> AgentConfig:
    return AgentConfig.model_validate(
        {
            "site_id": "s1",
            "data_dir": str(tmp_path),
            "cameras": [
                {"id": "cam-1", "rtsp_url": "rtsp://127.0.0.1/a"},
                {"id": "cam-2", "rtsp_url": "rtsp://127.0.0.1/b"},
            ],
        }
    )


def test_the_agent_judges_from_its_own_figures(tmp_path: Path) -> None:
    recorders = [
        RecorderHealth("cam-1", RecorderState.RECORDING, codec="h264", width=640, height=360),
        RecorderHealth("cam-2", RecorderState.RECONNECTING, last_error="connection refused"),
    ]
    stats = {
        "cam-1": RecordingStats(1_000_000, 25.0, 0, 0.0),
        "cam-2": RecordingStats(None, None, 250, 10.0),
    }
    results, days = judge(
        agent_config(tmp_path),
        recorders=recorders,
        stats=stats,
        clock_offsets={"cam-1": 3.5, "cam-2": None},
        uplink_connected=False,
        free_bytes=500 * GB,
        used_bytes=0,
        time_sync=TimeSync("synchronised", "timedatectl"),
    )
    lines = [r.line() for r in results]
    assert "OK   camera cam-1: reachable with its credentials (ONVIF and RTSP)" in lines
    assert "WARN clock cam-1: +3.5 s against the box (over 2 s)" in lines
    assert "OK   stream cam-1: h264 640x360 25.0 fps 1.00 Mbit/s" in lines
    assert "FAIL camera cam-2: connection refused" in lines
    assert not any("stream cam-2" in line for line in lines)
    assert any(line.startswith("FAIL broker 127.0.0.1:8883: unreachable") for line in lines)
    assert days == 31  # 1 Mbit/s on 499 usable GB: 46 days, capped by retention


def test_status_carries_the_health_report_and_old_status_still_parses(tmp_path: Path) -> None:
    now = datetime(2026, 1, 5, 12, tzinfo=UTC)
    status = SiteStatus(
        state="online", cameras=(CameraStatus(camera_id="cam-1", state="recording"),)
    )
    report = HealthReport(
        now,
        (checks.camera_reached("cam-1", None, "RTSP"),),
        TimeSync("unknown", ""),
        42.123,
        2000 * GB,
        {"cam-1": RecordingStats(1_000_000, 25.0, 7, 0.3)},
    )
    full = with_health(status, report, upload_queue=2, clock_offsets={"cam-1": -1.5})
    parsed = SiteStatus.parse(full.to_bytes())
    assert parsed.checks[0].verdict == "OK" and parsed.checked_at == now
    assert parsed.time_sync == "unknown" and parsed.buffer_days_forecast == 42.12
    assert parsed.upload_queue == 2
    camera = parsed.cameras[0]
    assert (camera.frames_lost_24h, camera.bitrate_bps, camera.clock_offset_seconds) == (
        7,
        1_000_000,
        -1.5,
    )
    old = b'{"v":1,"state":"online","cameras":[{"camera_id":"c","state":"recording"}]}'
    assert SiteStatus.parse(old).checks == ()


def test_agent_metrics_are_scraped_and_parsed() -> None:
    from prometheus_client import generate_latest
    from prometheus_client.parser import text_string_to_metric_families

    from cctv_common.wire.payloads import HealthCheck
    from edge_agent.health.metrics import agent_registry

    now = datetime(2026, 1, 5, 12, tzinfo=UTC)
    status = SiteStatus(
        state="online",
        cameras=(
            CameraStatus(
                camera_id="cam-1",
                state="recording",
                buffer_start=datetime(2026, 1, 1, 12, tzinfo=UTC),
                buffer_end=now,
                frames_lost_24h=4,
                clock_offset_seconds=0.5,
            ),
            CameraStatus(camera_id="cam-2", state="error"),
        ),
        buffer_days_forecast=40.0,
        upload_queue=2,
        checks=(HealthCheck(check="camera", subject="cam-2", verdict="FAIL", figure="down"),),
    )
    text = generate_latest(agent_registry("s1", lambda: status)).decode()
    families = {f.name: f for f in text_string_to_metric_families(text)}
    recording = {
        s.labels["camera"]: s.value for s in families["cctv_agent_camera_recording"].samples
    }
    assert recording == {"cam-1": 1.0, "cam-2": 0.0}
    (days,) = families["cctv_agent_buffer_days"].samples
    assert days.value == 4.0
    assert families["cctv_agent_upload_queue"].samples[0].value == 2.0
    assert families["cctv_agent_checks_failing"].samples[0].value == 1.0
    (lost,) = families["cctv_agent_frames_lost_24h"].samples
    assert lost.labels == {"site": "s1", "camera": "cam-1"} and lost.value == 4.0
