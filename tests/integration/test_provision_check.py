"""``cctv-provision check`` against real parts: the GStreamer test camera, a real Mosquitto, the
fake ONVIF camera with a wrong password; then the broker stopped. Lines and exit codes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from devkit.local_broker import MosquittoBroker
from devkit.testcam import TestCamera
from provisioning.cli import main
from tests.support.agent_process import write_config
from tests.support.onvif_device import FakeOnvifDevice

pytestmark = pytest.mark.slow


def run_check(capsys: pytest.CaptureFixture[str], config: Path, *skip: str) -> tuple[int, str]:
    argv = ["check", "--config", str(config)]
    for name in skip:
        argv += ["--skip", name]
    code = main(argv)
    return code, capsys.readouterr().out


def lines_of(out: str, check: str, subject: str) -> list[str]:
    return [line for line in out.splitlines() if f" {check} {subject}:" in line]


def test_check_a_site_camera_ok_wrong_password_and_stopped_broker(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    rtsp_camera: TestCamera,
    mosquitto_broker: MosquittoBroker,
    onvif_device: FakeOnvifDevice,
) -> None:
    good: dict[str, Any] = {"id": "cam-1", "rtsp_url": rtsp_camera.url}
    config = write_config(
        tmp_path / "agent.toml", mosquitto_broker, tmp_path / "data", cameras=[good]
    )

    # The test camera and the broker: every line OK, exit 0 (disk and clock sync depend on the
    # test machine: they are checked below).
    code, out = run_check(capsys, config, "disk", "time-sync")
    assert code == 0, out
    assert lines_of(out, "camera", "cam-1") == [
        "OK   camera cam-1: reachable with its credentials (RTSP)"
    ]
    (stream,) = lines_of(out, "stream", "cam-1")
    assert stream.startswith("OK   stream cam-1: h264 640x360 ")
    assert " fps " in stream and "Mbit/s" in stream
    (clock,) = lines_of(out, "clock", "cam-1")
    assert clock.startswith("OK   clock cam-1: not measured")
    (broker,) = lines_of(out, "broker", f"{mosquitto_broker.host}:{mosquitto_broker.port}")
    assert broker.startswith("OK   ") and "accepted 'site-a'" in broker
    assert out.splitlines()[-1].startswith("site site-a: OK")

    # An ONVIF camera whose password is wrong: FAIL on its line, exit 1.
    onvif = {
        "id": "cam-2",
        "onvif": {
            "host": onvif_device.host,
            "port": onvif_device.port,
            "user": onvif_device.user,
            "password": "not-the-password",
        },
    }
    write_config(config, mosquitto_broker, tmp_path / "data", cameras=[good, onvif])
    code, out = run_check(capsys, config)
    assert code == 1, out
    (refused,) = lines_of(out, "camera", "cam-2")
    assert refused.startswith("FAIL camera cam-2: ONVIF credentials refused"), refused
    assert "not-the-password" not in out
    assert lines_of(out, "camera", "cam-1")[0].startswith("OK")
    (disk,) = lines_of(out, "disk", "box")
    assert "GB free; holds " in disk and "(target 31)" in disk
    (sync,) = lines_of(out, "time-sync", "box")
    assert sync.split()[0] in ("OK", "WARN", "FAIL")

    # A wrong broker password: refused by the broker.
    wrong = tmp_path / "wrong.toml"
    text = config.read_text(encoding="utf-8")
    wrong.write_text(
        text.replace(mosquitto_broker.password("site-a"), "wrong-password"), encoding="utf-8"
    )
    code, out = run_check(capsys, wrong, "camera", "disk", "time-sync")
    assert code == 1
    # Mosquitto answers a wrong password with "not authorised" (MQTT 5 reason 0x87).
    assert "FAIL broker" in out and "refused 'site-a': not authorised" in out

    # The broker stopped: FAIL, unreachable.
    mosquitto_broker.stop()
    code, out = run_check(capsys, config, "camera", "disk", "time-sync")
    assert code == 1
    (down,) = lines_of(out, "broker", f"{mosquitto_broker.host}:{mosquitto_broker.port}")
    assert down.startswith("FAIL broker") and "unreachable: " in down, down


def test_check_refuses_a_config_it_cannot_use(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "agent.toml"
    config.write_text('site_id = "bad id!"\n', encoding="utf-8")
    assert main(["check", "--config", str(config)]) == 2
    assert "site_id" in capsys.readouterr().err
