"""``cctv-provision`` through its real entry point, against fake ONVIF cameras over real HTTP and
unicast WS-Discovery; and the pure config edit behind ``add-cameras``."""

from __future__ import annotations

import argparse
import json
import os
import re
import stat
import tomllib
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import quote

import pytest

from edge_agent.config import load_config
from provisioning.agent_config_edit import (
    ConfigEditRefused,
    NewCamera,
    PasswordStore,
    edit_config,
    new_ids,
)
from provisioning.cli import build_parser, main
from tests.support.onvif_device import FakeOnvifDevice
from tests.support.paths import REPO

Factory = Callable[..., FakeOnvifDevice]

CONFIG = """\
# Site agent for High Street (kept by the field engineer's comments)
site_id = "high-street"
data_dir = "/var/lib/cctv-agent"

[[cameras]]
id = "cam-1"
name = "Car park"  # existing plain RTSP camera
rtsp_url = "rtsp://10.0.0.5:554/stream1"

[retention]
max_days = 14
"""


@pytest.fixture
def two_devices(onvif_device_factory: Factory) -> Iterator[tuple[FakeOnvifDevice, FakeOnvifDevice]]:
    yield onvif_device_factory(), onvif_device_factory()


# Safety limits, not measures: a unicast probe returns at its device's first answer, and a device
# answers in milliseconds when the machine is idle (6 s was missed in a full run under load).
# Only the hung device of test_hung_and_garbage_devices_are_each_reported waits the whole limit.
PROBE_TIMEOUT = "10"
DEVICE_TIMEOUT = "20"


def discover_args(*devices: FakeOnvifDevice, password: str | None = None) -> list[str]:
    args = ["discover", "--timeout", PROBE_TIMEOUT, "--device-timeout", DEVICE_TIMEOUT]
    for device in devices:
        args += ["--target", f"127.0.0.1:{device.discovery_port}"]
    if password is not None:
        args += ["--user", devices[0].user, "--password", password]
    return args


def run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(args)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def offset_in(row: str) -> float:
    match = re.search(r"([+-]\d+\.\d) s", row)
    assert match, row
    return float(match.group(1))


def assert_no_secret(device: FakeOnvifDevice, *texts: str) -> None:
    for text in texts:
        assert device.password not in text
        assert quote(device.password, safe="") not in text


# -- discover ------------------------------------------------------------------------------------


def test_discover_lists_devices_without_credentials(
    two_devices: tuple[FakeOnvifDevice, FakeOnvifDevice], capsys: pytest.CaptureFixture[str]
) -> None:
    a, b = two_devices
    code, out, err = run(discover_args(a, b), capsys)
    assert code == 0, err
    assert out.splitlines()[0].split() == [
        "ADDRESS",
        "NAME",
        "HARDWARE",
        "LOCATION",
        "DEVICE",
        "SERVICE",
    ]
    for device in (a, b):
        assert f"127.0.0.1:{device.port}  Fake Camera  AC-4KB-IR  country/uk  {device.xaddr}" in out
    assert "2 device(s); add --user" in out
    assert a.count("GetSystemDateAndTime") == 0  # nothing but WS-Discovery without --user


def test_discover_table_with_credentials(
    two_devices: tuple[FakeOnvifDevice, FakeOnvifDevice], capsys: pytest.CaptureFixture[str]
) -> None:
    a, b = two_devices
    a.set_clock_skew(3600)
    # Some cameras put credentials into the stream URIs they give out.
    a.set_stream_uri("Profile_1", f"rtsp://{a.user}:{a.password}@127.0.0.1:8554/main")
    code, out, err = run(discover_args(a, b, password=a.password), capsys)
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].split() == [
        "ADDRESS", "MANUFACTURER", "MODEL", "SERIAL", "FIRMWARE", "CLOCK", "OFFSET",
    ]  # fmt: skip
    row_a = next(line for line in lines if line.startswith(f"127.0.0.1:{a.port} "))
    assert "Acme Security Ltd." in row_a and "AC4KB0120220315AAWRJ12345678" in row_a
    assert "V5.7.3 build 220112" in row_a and row_a.endswith(" s (!)")
    # The camera reports whole seconds: the offset is good to about a second.
    assert abs(offset_in(row_a) - 3600) < 1.5
    row_b = next(line for line in lines if line.startswith(f"127.0.0.1:{b.port} "))
    assert abs(offset_in(row_b)) < 1.5 and not row_b.endswith("(!)")
    assert "    Profile_1 [main] H264 1920x1080 25 fps  rtsp://127.0.0.1:8554/main" in lines
    assert any(line.startswith("    Profile_2 [sub] H264 640x360") for line in lines)
    assert "    Profile_Audio  no video" in lines
    assert lines[-1] == "2 device(s), 2 described, 0 failed"
    assert_no_secret(a, out, err)


def test_discover_json(
    two_devices: tuple[FakeOnvifDevice, FakeOnvifDevice], capsys: pytest.CaptureFixture[str]
) -> None:
    a, b = two_devices
    b.set_clock_skew(-90)
    code, out, err = run([*discover_args(a, b, password=a.password), "--json"], capsys)
    assert code == 0, err
    document = json.loads(out)
    assert document["format"] == "cctv-provision-discover/1"
    assert document["failures"] == []
    devices = {d["xaddr"]: d for d in document["devices"]}
    assert set(devices) == {a.xaddr, b.xaddr}
    device = devices[b.xaddr]
    assert device["connected"] is True and device["error"] is None
    assert (device["manufacturer"], device["model"], device["firmware"]) == (
        "Acme Security Ltd.",
        "AC-4KB-IR",
        "V5.7.3 build 220112",
    )
    assert device["serial"] == "AC4KB0120220315AAWRJ12345678"
    assert device["name"] == "Fake Camera"
    assert abs(device["clock_offset_seconds"] + 90) < 1.5
    profiles = {p["token"]: p for p in device["profiles"]}
    assert profiles["Profile_1"]["choice"] == "main"
    assert profiles["Profile_1"]["stream_uri"] == "rtsp://127.0.0.1:554/Streaming/Channels/101"
    assert profiles["Profile_2"]["choice"] == "sub"
    assert profiles["Profile_Audio"]["stream_uri"] == ""
    assert_no_secret(a, out, err)


def test_wrong_password_is_one_line_and_the_run_goes_on(
    two_devices: tuple[FakeOnvifDevice, FakeOnvifDevice], capsys: pytest.CaptureFixture[str]
) -> None:
    a, b = two_devices
    b.password = "another-Pa55/word"  # this camera was set up with a different password
    code, out, err = run(discover_args(a, b, password=a.password), capsys)
    assert code == 1
    failed = [line for line in err.splitlines() if line.startswith("FAILED")]
    assert failed == [
        f"FAILED wrong user or password for device at 127.0.0.1:{b.port} (GetServices refused:"
        " env:Sender/ter:NotAuthorized: Sender not Authorized)"
    ]
    assert f"127.0.0.1:{a.port}  Acme Security Ltd." in out
    assert "2 device(s), 1 described, 1 failed" in out
    assert_no_secret(a, out, err)
    assert_no_secret(b, out, err)


@pytest.mark.slow
def test_hung_and_garbage_devices_are_each_reported(
    onvif_device_factory: Factory,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    good, hung, garbage, mute = (onvif_device_factory() for _ in range(4))
    # The web servers of two cameras break while their discovery daemons still answer; the last
    # camera's discovery daemon answers with garbage.
    hung.set_fault_mode("hang", discovery=False)
    garbage.set_fault_mode("garbage", discovery=False)
    mute.set_fault_mode("garbage")
    code, out, err = run(
        [*discover_args(good, hung, garbage, mute, password=good.password), "--json"], capsys
    )
    assert code == 1
    document = json.loads(out)
    by_xaddr = {d["xaddr"]: d for d in document["devices"]}
    assert by_xaddr[good.xaddr]["error"] is None
    assert by_xaddr[hung.xaddr]["error_kind"] == "unreachable"
    assert by_xaddr[garbage.xaddr]["error_kind"] == "protocol"
    assert mute.xaddr not in by_xaddr
    failed = sorted(line for line in err.splitlines() if line.startswith("FAILED"))
    assert len(failed) == 3
    assert f"FAILED device at 127.0.0.1:{hung.port} does not answer: no answer to" in "\n".join(
        failed
    )
    assert (
        f"FAILED device at 127.0.0.1:{garbage.port} sent malformed XML in answer to"
        " GetSystemDateAndTime" in failed
    )
    assert any(
        line.startswith(f"FAILED 127.0.0.1:{mute.discovery_port}: no usable answer to the WS-")
        for line in failed
    )
    # The discovery warning (on stderr outside pytest) says what came back.
    assert "skipped a malformed reply from 127.0.0.1: not XML" in caplog.text


def test_snapshots_are_saved(
    onvif_device_factory: Factory, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a = onvif_device_factory()
    b = onvif_device_factory(snapshot_auth="basic")
    b.snapshot = b.snapshot + b"\x00"  # tell the two images apart
    folder = tmp_path / "snaps"
    code, out, err = run(
        [*discover_args(a, b, password=a.password), "--snapshots", str(folder)], capsys
    )
    assert code == 0, err
    for device in (a, b):
        path = folder / f"127.0.0.1_{device.port}.jpg"
        assert path.read_bytes() == device.snapshot
        assert f"    snapshot: {path}" in out
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        f"127.0.0.1_{d.port}.jpg" for d in (a, b)
    )


def test_snapshot_failure_is_reported(
    onvif_device: FakeOnvifDevice, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    onvif_device.snapshot = b"<html>login</html>"
    code, _out, err = run(
        [
            *discover_args(onvif_device, password=onvif_device.password),
            "--snapshots",
            str(tmp_path),
        ],
        capsys,
    )
    assert code == 1
    assert "no snapshot:" in err and "not a JPEG image" in err
    assert list(tmp_path.iterdir()) == []


def test_password_from_the_environment(
    onvif_device: FakeOnvifDevice,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CAM_PASSWORD", onvif_device.password)
    args = [*discover_args(onvif_device), "--user", onvif_device.user]
    code, out, err = run([*args, "--password-env", "CAM_PASSWORD"], capsys)
    assert code == 0, err
    assert "1 device(s), 1 described, 0 failed" in out
    code, out, err = run([*args, "--password-env", "NOT_SET_ANYWHERE"], capsys)
    assert code == 2
    assert "--password-env NOT_SET_ANYWHERE: that variable is not set" in err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["discover", "--target", "nonsense"], "is not HOST:PORT"),
        (["discover", "--target", "127.0.0.1:99999"], "is not HOST:PORT"),
        (["discover", "--timeout", "0"], "--timeout must be more than 0"),
        (["discover", "--interface", "no-such-if0"], "no IPv4 address on network interface"),
        (["discover", "--user", "admin"], "--user needs --password"),
        (["discover", "--bogus"], ""),
    ],
)
def test_bad_input_is_exit_code_2(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _out, err = run(args, capsys)
    assert code == 2
    assert message in err


# -- add-cameras -----------------------------------------------------------------------------


def discover_json(
    devices: tuple[FakeOnvifDevice, ...], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> Path:
    code, out, err = run([*discover_args(*devices, password=devices[0].password), "--json"], capsys)
    assert code == 0, err
    path = tmp_path / "found.json"
    path.write_text(out)
    return path


def write_config(tmp_path: Path, text: str = CONFIG) -> Path:
    path = tmp_path / "agent.toml"
    path.write_text(text)
    path.chmod(0o600)
    return path


def add_args(config: Path, device: FakeOnvifDevice, *source: str) -> list[str]:
    return [
        "add-cameras",
        "--config",
        str(config),
        *source,
        "--user",
        device.user,
        "--password",
        device.password,
        "--device-timeout",
        DEVICE_TIMEOUT,
    ]


def test_add_cameras_from_discovery_json(
    two_devices: tuple[FakeOnvifDevice, FakeOnvifDevice],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    a, b = two_devices
    found = discover_json((a, b), tmp_path, capsys)
    config_path = write_config(tmp_path)
    code, out, err = run(
        [*add_args(config_path, a, "--from-json", str(found)), "--profile", "sub"], capsys
    )
    assert code == 0, err
    config = load_config(config_path)
    assert [c.id for c in config.cameras] == ["cam-1", "cam-2", "cam-3"]
    added = {(c.onvif.host, c.onvif.port): c for c in config.cameras if c.onvif is not None}
    for device in (a, b):
        camera = added[("127.0.0.1", device.port)]
        assert camera.onvif is not None
        assert (camera.onvif.user, camera.onvif.password) == (device.user, device.password)
        assert camera.onvif.profile == "sub"
        assert camera.name == "Fake Camera"
    text = config_path.read_text()
    assert text.startswith(CONFIG)  # the engineer's file, comments and all, is kept as it was
    assert a.password not in text  # one password file per camera, 0600, named in the config
    for camera_id in ("cam-2", "cam-3"):
        secret = tmp_path / "cameras" / f"{camera_id}.password"
        assert f'password_file = "{secret}"' in text
        assert secret.read_text() == a.password + "\n"
        assert stat.S_IMODE(secret.stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "cameras").stat().st_mode) == 0o700
    assert (tmp_path / "agent.toml.bak").read_text() == CONFIG
    assert stat.S_IMODE(config_path.stat().st_mode) == 0o600
    # Devices are added in address order (the ports are free ones, so either may come first).
    first, second = sorted((a, b), key=lambda device: device.port)
    assert f"added cam-2: ONVIF device at 127.0.0.1:{first.port} (Fake Camera), profile sub" in out
    assert f"added cam-3: ONVIF device at 127.0.0.1:{second.port} (Fake Camera)" in out
    assert "wrote" in out and "3 camera(s)" in out and "agent.toml.bak" in out
    assert_no_secret(a, out, err)
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_add_cameras_refuses_duplicates(
    two_devices: tuple[FakeOnvifDevice, FakeOnvifDevice],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    a, b = two_devices
    config_path = write_config(tmp_path)
    code, _out, err = run(add_args(config_path, a, "--xaddr", a.xaddr), capsys)
    assert code == 0, err
    written = config_path.read_text()
    calls = a.count("GetDeviceInformation")
    code, _out, err = run(add_args(config_path, a, "--xaddr", b.xaddr, "--xaddr", a.xaddr), capsys)
    assert code == 2
    assert f"device at 127.0.0.1:{a.port} is already camera cam-2 in the config" in err
    assert "nothing written" in err
    assert config_path.read_text() == written
    assert a.count("GetDeviceInformation") == calls  # refused before connecting to anything
    code, _out, err = run(add_args(config_path, a, "--xaddr", b.xaddr, "--xaddr", b.xaddr), capsys)
    assert code == 2 and "is given twice" in err
    code, out, err = run(
        [*add_args(config_path, a, "--xaddr", a.xaddr, "--xaddr", b.xaddr), "--skip-existing"],
        capsys,
    )
    assert code == 0, err
    assert f"skipped 127.0.0.1:{a.port}: already camera cam-2" in out
    assert f"added cam-3: ONVIF device at 127.0.0.1:{b.port}" in out
    assert (tmp_path / "agent.toml.bak").read_text() == written


@pytest.mark.parametrize(
    ("config_text", "extra", "message"),
    [
        (CONFIG, ["--id-prefix", "bad/"], "does not make valid camera ids"),
        (CONFIG.replace('data_dir = "/var/lib/cctv-agent"\n', ""), [], "data_dir: Field required"),
        ("site_id = ", [], "not valid TOML"),
    ],
)
def test_add_cameras_refuses_an_invalid_result(
    onvif_device: FakeOnvifDevice,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    config_text: str,
    extra: list[str],
    message: str,
) -> None:
    config_path = write_config(tmp_path, config_text)
    code, _out, err = run(
        [*add_args(config_path, onvif_device, "--xaddr", onvif_device.xaddr), *extra], capsys
    )
    assert code == 2
    assert message in err
    assert config_path.read_text() == config_text
    assert not (tmp_path / "agent.toml.bak").exists()


def test_add_cameras_checks_each_device(
    two_devices: tuple[FakeOnvifDevice, FakeOnvifDevice],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    a, b = two_devices
    b.password = "not-what-the-engineer-typed"
    config_path = write_config(tmp_path)
    code, out, err = run(add_args(config_path, a, "--xaddr", a.xaddr, "--xaddr", b.xaddr), capsys)
    assert code == 1
    assert f"FAILED wrong user or password for device at 127.0.0.1:{b.port}" in err
    assert "(not added)" in err
    assert [c.id for c in load_config(config_path).cameras] == ["cam-1", "cam-2"]
    assert_no_secret(a, out, err)
    # Without the check, the device is written as given (the agent will report the password).
    code, out, err = run(
        [*add_args(config_path, a, "--xaddr", b.xaddr), "--no-check", "--id-prefix", "dome-"],
        capsys,
    )
    assert code == 0, err
    assert [c.id for c in load_config(config_path).cameras] == ["cam-1", "cam-2", "dome-1"]


def test_add_cameras_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    device = FakeOnvifDevice()  # not started: nothing may connect to it
    try:
        config_path = write_config(tmp_path)
        bad_json = tmp_path / "bad.json"
        bad_json.write_text("{not json")
        cases = [
            (add_args(tmp_path / "missing.toml", device, "--xaddr", device.xaddr), "cannot read"),
            (add_args(config_path, device, "--from-json", str(bad_json)), "not JSON"),
            (add_args(config_path, device, "--xaddr", "urn:uuid:1"), "not an ONVIF device"),
            (add_args(config_path, device, "--from-json", str(tmp_path / "x.json")), "cannot read"),
        ]
        for args, message in cases:
            code, _out, err = run(args, capsys)
            assert code == 2, args
            assert message in err
        assert config_path.read_text() == CONFIG
    finally:
        device.stop()


# -- the pure config edit ------------------------------------------------------------------------


STORE = PasswordStore("file", Path("/etc/cctv/cameras"))


def camera(port: int, name: str = "") -> NewCamera:
    return NewCamera("10.0.0.9", port, "admin", "pw/with@odd:chars", "main", None, name)


def test_new_ids_follow_the_highest_number() -> None:
    assert new_ids(set(), "cam-", 2) == ["cam-1", "cam-2"]
    assert new_ids({"cam-1", "cam-7", "front"}, "cam-", 2) == ["cam-8", "cam-9"]
    assert new_ids({"cam-01"}, "cam-", 1) == ["cam-2"]


def test_edit_keeps_text_and_adds_tables() -> None:
    edit = edit_config(CONFIG, [camera(80, "Dome"), camera(8080)], STORE)
    assert edit.text.startswith(CONFIG) and not edit.rewritten
    assert [a.camera_id for a in edit.added] == ["cam-2", "cam-3"]
    data = tomllib.loads(edit.text)
    assert data["cameras"][1] == {
        "id": "cam-2",
        "name": "Dome",
        "onvif": {
            "host": "10.0.0.9",
            "port": 80,
            "user": "admin",
            "password_file": "/etc/cctv/cameras/cam-2.password",
            "profile": "main",
        },
    }
    assert edit.config.camera("cam-3").onvif is not None
    assert "pw/with" not in repr(camera(80)) and "pw/with" not in edit.text
    credential = edit_config(CONFIG, [camera(80)], PasswordStore("credential", Path("/c")))
    assert tomllib.loads(credential.text)["cameras"][1]["onvif"]["password_credential"] == (
        "cam-2.password"
    )


def test_edit_of_a_file_with_inline_cameras_is_a_full_rewrite() -> None:
    inline = 'site_id = "s"\ndata_dir = "/x"\ncameras = [{id = "a", rtsp_url = "rtsp://h/x"}]\n'
    edit = edit_config(inline, [camera(80)], STORE)
    assert edit.rewritten
    assert [c.id for c in edit.config.cameras] == ["a", "cam-1"]


def test_edit_refusals() -> None:
    with pytest.raises(ConfigEditRefused, match="is given twice"):
        edit_config(CONFIG, [camera(80), camera(80)], STORE)
    once = edit_config(CONFIG, [camera(80)], STORE).text
    with pytest.raises(ConfigEditRefused, match="already camera cam-2"):
        edit_config(once, [camera(80)], STORE)
    skipped = edit_config(once, [camera(80)], STORE, skip_existing=True)
    assert skipped.added == () and skipped.skipped[0].existing_id == "cam-2"
    with pytest.raises(ConfigEditRefused, match="would not be a valid agent config"):
        edit_config(CONFIG, [NewCamera("", 80, "u", "p")], STORE)


def test_console_script_is_declared() -> None:
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    assert pyproject["project"]["scripts"]["cctv-provision"] == "provisioning.cli:main"
    assert os.access(REPO / "provisioning" / "cli.py", os.R_OK)


def test_every_option_is_documented() -> None:
    docs = (REPO / "docs" / "onvif.md").read_text()
    parser = build_parser()
    subparsers = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    for name, sub in subparsers.choices.items():
        assert f"cctv-provision {name}" in docs
        for action in sub._actions:
            for option in action.option_strings:
                if option.startswith("--") and option != "--help":
                    assert f"`{option}" in docs, f"{name} {option} is not in docs/onvif.md"
