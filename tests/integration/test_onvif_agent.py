"""The full path for ONVIF cameras: discover -> add-cameras -> the agent records the stream the
device names -> ``cctv-agent cut`` makes a clip whose manifest carries the device's identity and
clock offset; motion events reach the index; broken cameras show a clear error in their own status
while the agent keeps recording the camera that works.

Real parts: fake ONVIF cameras over real HTTP and unicast WS-Discovery, the real RTSP test camera,
PyAV recording into a temp folder, SQLite, and the real CLIs.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote

import pytest

from cctv_common.evidence.manifest import Manifest
from cctv_onvif import EventSettings, OnvifSettings
from devkit.testcam import TestCamera
from edge_agent.cameras.onvif_cameras import OnvifCameras
from edge_agent.cli import main as agent_main
from edge_agent.config import AgentConfig, load_config
from edge_agent.recording.recorder import CameraUnreachable, RecorderState
from edge_agent.recording.recorder_supervisor import Recorders
from edge_agent.store.segment_index import SegmentIndex
from provisioning.cli import main as provision_main
from tests.support.onvif_device import FakeOnvifDevice

Factory = Callable[..., FakeOnvifDevice]

SKEW = 75.0  # the good camera's clock is this far ahead of the agent's
# Generous guards so that a broken test fails instead of hanging; not measures of anything.
GUARD = 90.0
# Short ONVIF timeouts so that the fault cases are quick; the fake cameras answer in milliseconds.
FAST = OnvifSettings(timeout=2.0, max_response_bytes=1024 * 1024)
QUICK_EVENTS = EventSettings(pull_timeout=0.5, backoff_initial=0.2, backoff_max=1.0)

AGENT_TOML = """\
# A site box provisioned in the test
site_id = "test-site"
data_dir = "{data_dir}"
max_clock_offset_seconds = 5

[recorder]
segment_seconds = 2
reconnect_initial_seconds = 0.2
reconnect_max_seconds = 1
"""


async def eventually(check: Callable[[], bool], what: str, limit: float = GUARD) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit
    while not check():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.1)


def provision(
    devices: list[FakeOnvifDevice], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> AgentConfig:
    """What the field engineer runs: discover to JSON, then add-cameras into agent.toml."""
    device = devices[0]
    # The five devices are healthy here and are described at once, each parsing the ONVIF WSDLs in
    # one process: 20 s bounds that on a busy machine (6 s was missed once in a full run).
    args = ["discover", "--timeout", "1", "--device-timeout", "20", "--json"]
    for each in devices:
        args += ["--target", f"127.0.0.1:{each.discovery_port}"]
    args += ["--user", device.user, "--password", device.password]
    assert provision_main(args) == 0
    found = tmp_path / "found.json"
    found.write_text(capsys.readouterr().out)
    config_path = tmp_path / "agent.toml"
    config_path.write_text(AGENT_TOML.format(data_dir=tmp_path / "data"))
    add = ["add-cameras", "--config", str(config_path), "--from-json", str(found)]
    add += ["--user", device.user, "--password", device.password, "--device-timeout", "20"]
    assert provision_main(add) == 0, capsys.readouterr().err
    capsys.readouterr()
    return load_config(config_path)


def camera_for(config: AgentConfig, device: FakeOnvifDevice) -> str:
    for camera in config.cameras:
        if camera.onvif is not None and camera.onvif.port == device.port:
            return camera.id
    raise AssertionError(f"no camera for the device on port {device.port}")


@pytest.mark.slow
def test_discover_add_record_cut_with_identity_clock_offset_and_events(
    onvif_device_factory: Factory,
    rtsp_camera: TestCamera,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    good = onvif_device_factory()
    broken = {
        "wrong password": onvif_device_factory(),
        "stops answering": onvif_device_factory(),
        "garbage": onvif_device_factory(),
        "huge": onvif_device_factory(),
    }
    devices = [good, *broken.values()]
    for device in devices:
        # Every device names the real RTSP test camera as its main stream.
        device.set_stream_uri("Profile_1", rtsp_camera.url)
    good.set_clock_skew(SKEW)
    config = provision(devices, tmp_path, capsys)
    assert len(config.cameras) == 5
    good_id = camera_for(config, good)
    broken_ids = {fault: camera_for(config, device) for fault, device in broken.items()}

    # After provisioning, four cameras break in the ways cameras do.
    broken["wrong password"].password = "changed-by-the-installer"
    broken["stops answering"].set_fault_mode("hang")
    broken["garbage"].set_fault_mode("garbage")
    broken["huge"].set_fault_mode("huge")

    index = SegmentIndex(config.index_path)
    cameras = OnvifCameras(config, index, settings=FAST, event_settings=QUICK_EVENTS)
    recorders = Recorders(config, index, url_providers=cameras.url_providers())

    async def run_agent() -> tuple[datetime, datetime]:
        stop = asyncio.Event()
        events = asyncio.create_task(cameras.run_events(stop))
        recorders.start()
        try:
            await eventually(
                lambda: len(index.all_segments(good_id)) >= 2, "two segments of the good camera"
            )
            for fault, camera_id in broken_ids.items():
                await eventually(
                    lambda c=camera_id: recorders.status(c).last_error is not None,  # type: ignore[misc]
                    f"an error for the camera that has {fault}",
                )
            await eventually(
                lambda: cameras.status(good_id).events == "pulling", "the event subscription"
            )
            camera_time = good.now().replace(microsecond=0) - timedelta(seconds=1)
            good.push_event(
                "tns1:RuleEngine/CellMotionDetector/Motion",
                {"IsMotion": "true"},
                {"Rule": "MyMotionDetectorRule"},
                utc_time=camera_time,
            )
            good.push_tamper(True)
            window = (camera_time - timedelta(hours=1), camera_time + timedelta(hours=1))
            await eventually(
                lambda: len(index.events_between(good_id, *window)) >= 2, "motion and tamper"
            )
            # The camera that works kept recording all along.
            assert recorders.status(good_id).state is RecorderState.RECORDING
            extent = index.buffer_extent(good_id)
            assert extent is not None
            return camera_time, extent[1]
        finally:
            stop.set()
            await asyncio.wait_for(events, GUARD)
            assert not await asyncio.to_thread(recorders.stop_all)

    camera_time, _ = asyncio.run(asyncio.wait_for(run_agent(), GUARD * 2))
    cameras.close()

    # -- each broken camera says what is wrong, in its own status -----------------------------
    errors = {fault: recorders.status(c).last_error or "" for fault, c in broken_ids.items()}
    port = {fault: device.port for fault, device in broken.items()}
    assert errors["wrong password"].startswith(
        f"no stream URL: wrong user or password for camera {broken_ids['wrong password']}"
        f" at 127.0.0.1:{port['wrong password']}"
    )
    assert f"camera {broken_ids['stops answering']} at 127.0.0.1:" in errors["stops answering"]
    assert "does not answer" in errors["stops answering"]
    assert "sent malformed XML" in errors["garbage"]
    assert "larger than 1048576 bytes" in errors["huge"]
    for fault, camera_id in broken_ids.items():
        assert not index.all_segments(camera_id), fault
        assert cameras.status(camera_id).connected is False

    # -- motion and tamper events, at agent time ---------------------------------------------------
    status = cameras.status(good_id)
    assert status.clock_offset_seconds is not None
    assert abs(status.clock_offset_seconds - SKEW) < 1.5
    stored = index.events_between(good_id, datetime(2000, 1, 1, tzinfo=UTC), datetime.now(UTC))
    motion = next(e for e in stored if e.kind == "motion")
    assert motion.active and motion.topic == "tns1:RuleEngine/CellMotionDetector/Motion"
    assert motion.data["IsMotion"] == "true"
    assert motion.data["source.Rule"] == "MyMotionDetectorRule"
    assert motion.data["camera_utc"] == camera_time.isoformat()
    # The camera's time minus its clock offset (measured to about a second).
    assert abs((camera_time - motion.at).total_seconds() - SKEW) < 1.5
    assert any(e.kind == "tamper" and e.active for e in stored)
    assert not any(e.kind == "motion" and not e.active for e in stored)  # Initialized: nothing
    index.close()

    # -- the engineer cuts a clip: the manifest names the device and its clock -----------------
    check = SegmentIndex(config.index_path)
    segments = check.all_segments(good_id)
    check.close()
    start, end = segments[0].start, segments[-1].end
    out = tmp_path / "export"
    code = agent_main(
        [
            "cut",
            "--config",
            str(tmp_path / "agent.toml"),
            "--camera",
            good_id,
            "--start",
            start.isoformat(),
            "--end",
            end.isoformat(),
            "--out",
            str(out),
        ]
    )
    assert code == 0
    manifest_path = next(out.rglob("manifest.json"))
    text = manifest_path.read_text()
    manifest = Manifest.model_validate(json.loads(text))
    identity = manifest.camera
    assert identity.id == good_id and identity.name == "Fake Camera"
    assert (identity.manufacturer, identity.model) == ("Acme Security Ltd.", "AC-4KB-IR")
    assert identity.serial == "AC4KB0120220315AAWRJ12345678"
    assert identity.firmware == "V5.7.3 build 220112"
    assert identity.stream_uri == rtsp_camera.url  # as the device named it, no credentials
    assert manifest.clock_offset_seconds is not None
    assert abs(manifest.clock_offset_seconds - SKEW) < 1.5
    assert manifest.codec == "h264" and (manifest.width, manifest.height) == (640, 360)

    # -- no secret anywhere ------------------------------------------------------------------------
    secrets = [good.password, quote(good.password, safe=""), "changed-by-the-installer"]
    for secret in secrets:
        assert secret not in text
        assert secret not in caplog.text
    assert f"camera {good_id}: camera clock is +" in caplog.text  # the clock warning


def test_url_provider_turns_onvif_errors_into_camera_unavailable(
    onvif_device: FakeOnvifDevice, tmp_path: Path
) -> None:
    config = AgentConfig.model_validate(
        {
            "site_id": "s",
            "data_dir": str(tmp_path),
            "cameras": [
                {
                    "id": "dome",
                    "onvif": {
                        "host": onvif_device.host,
                        "port": onvif_device.port,
                        "user": onvif_device.user,
                        "password": "wrong",
                        "profile": "sub",
                    },
                },
                {"id": "plain", "rtsp_url": "rtsp://10.0.0.5/x"},
            ],
        }
    )
    index = SegmentIndex(None)
    cameras = OnvifCameras(config, index, settings=FAST)
    assert cameras.camera_ids == ["dome"]
    provide = cameras.url_provider("dome")
    with pytest.raises(CameraUnreachable, match="wrong user or password for camera dome"):
        provide()
    status = cameras.status("dome")
    assert status.connected is False and status.last_error is not None
    assert "wrong" not in status.last_error.split("(")[1]  # the message quotes no password
    assert index.camera_facts("dome") is None
    with pytest.raises(KeyError, match="not an enabled ONVIF camera"):
        cameras.url_provider("plain")
    cameras.close()
    index.close()


def test_url_provider_adds_credentials_and_saves_facts(
    onvif_device: FakeOnvifDevice, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    onvif_device.set_clock_skew(-30)
    # A camera that puts (unencoded) credentials into its stream URI.
    given = f"rtsp://{onvif_device.user}:{onvif_device.password}@127.0.0.1:8554/sub"
    onvif_device.set_stream_uri("Profile_2", given)
    camera = {
        "id": "dome",
        "onvif": {
            "host": onvif_device.host,
            "port": onvif_device.port,
            "user": onvif_device.user,
            "password": onvif_device.password,
            "profile": "sub",
            "live_profile": "Profile_1",
        },
    }
    config = AgentConfig.model_validate(
        {"site_id": "s", "data_dir": str(tmp_path), "cameras": [camera]}
    )
    index = SegmentIndex(None)
    cameras = OnvifCameras(config, index, settings=FAST)
    url = cameras.url_providers()["dome"]()
    assert url == "rtsp://admin:Pa55%3Aw%2Frd%40%231@127.0.0.1:8554/sub"
    facts = index.camera_facts("dome")
    assert facts is not None
    identity, offset = facts
    assert identity["stream_uri"] == "rtsp://127.0.0.1:8554/sub"
    assert identity["profile_token"] == "Profile_2"
    assert offset is not None and abs(offset + 30) < 1.5
    assert "camera dome: camera clock is -" in caplog.text
    live = asyncio.run(cameras.live_url(config.camera("dome")))
    assert live.endswith("@127.0.0.1:554/Streaming/Channels/101")
    for secret in (onvif_device.password, quote(onvif_device.password, safe="")):
        assert secret not in caplog.text
        assert secret not in json.dumps(identity)
    cameras.close()
    index.close()
