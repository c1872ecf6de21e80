"""``cctv-provision add-cameras --name-from`` against fake ONVIF devices over real HTTP: names
from GetHostname, the location scope or --names, in address order, ids slugged and unique;
passwords in a file per camera or a systemd credential, never in agent.toml."""

from __future__ import annotations

import os
import pwd
import stat
from collections.abc import Callable
from pathlib import Path

import pytest

from edge_agent.config import AgentConfig, load_config
from provisioning.cli import main
from tests.support.onvif_device import FakeOnvifDevice

Factory = Callable[..., FakeOnvifDevice]

CONFIG = 'site_id = "high-street"\ndata_dir = "/var/lib/cctv-agent"\n'


@pytest.fixture
def devices(onvif_device_factory: Factory) -> list[FakeOnvifDevice]:
    """Three cameras in address (port) order; two share the factory host name."""
    found = sorted((onvif_device_factory() for _ in range(3)), key=lambda d: d.port)
    for device, hostname, place in zip(
        found, ("Gate-North", "IPC", "IPC"), ("High St/North", "High St/South", ""), strict=True
    ):
        device.hostname = hostname
        device.locations = [place] if place else []
    return found


def add(
    tmp_path: Path, devices: list[FakeOnvifDevice], capsys: pytest.CaptureFixture[str], *extra: str
) -> tuple[int, str, str, Path]:
    config = tmp_path / "agent.toml"
    if not config.exists():
        config.write_text(CONFIG)
        config.chmod(0o644)
    args = ["add-cameras", "--config", str(config), "--device-timeout", "20"]
    for device in reversed(devices):  # given in the wrong order on purpose
        args += ["--xaddr", device.xaddr]
    args += ["--user", devices[0].user, "--password", devices[0].password, *extra]
    code = main(args)
    captured = capsys.readouterr()
    return code, captured.out, captured.err, config


def by_port(config: AgentConfig) -> list[tuple[int, str, str]]:
    return sorted((c.onvif.port, c.id, c.name) for c in config.cameras if c.onvif is not None)


def test_names_from_host_names_in_address_order(
    devices: list[FakeOnvifDevice], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err, config_path = add(tmp_path, devices, capsys, "--name-from", "hostname")
    assert code == 0, err
    config = load_config(config_path)
    assert by_port(config) == [
        (devices[0].port, "gate-north", "Gate-North"),
        (devices[1].port, "ipc", "IPC"),
        (devices[2].port, "ipc-2", "IPC"),
    ]
    assert [c.id for c in config.cameras] == ["gate-north", "ipc", "ipc-2"]  # address order
    text = config_path.read_text()
    assert devices[0].password not in text and devices[0].password not in out + err
    assert stat.S_IMODE(config_path.stat().st_mode) == 0o600  # was 0644: it names secrets now
    for camera in config.cameras:
        assert camera.onvif is not None and camera.onvif.password == devices[0].password
        secret = tmp_path / "cameras" / f"{camera.id}.password"
        assert stat.S_IMODE(secret.stat().st_mode) == 0o600


def test_names_from_location_scopes_and_numbered_fallback(
    devices: list[FakeOnvifDevice], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err, config_path = add(tmp_path, devices, capsys, "--name-from", "location")
    assert code == 0, err
    assert [c.id for c in load_config(config_path).cameras] == [
        "high-st-north",
        "high-st-south",
        "cam-1",
    ]
    assert "cam-1: numbered, the device gives no location" in out


def test_given_names_and_systemd_credentials(
    devices: list[FakeOnvifDevice], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _out, err, config_path = add(tmp_path, devices, capsys, "--names", "North gate,South")
    assert code == 2 and "--names gives 2 name(s) for 3 device(s)" in err
    assert config_path.read_text() == CONFIG  # nothing written
    names = "North gate, South gate, Car park"
    code, out, err, _ = add(
        tmp_path, devices, capsys, "--names", names, "--password-store", "credential"
    )
    assert code == 0, err
    folder = tmp_path / "credentials"
    assert f"LoadCredential=north-gate.password:{folder}/north-gate.password" in out
    text = config_path.read_text()
    assert 'password_credential = "car-park.password"' in text
    assert devices[0].password not in text
    with pytest.raises(Exception, match="CREDENTIALS_DIRECTORY"):
        load_config(config_path, environ={})
    config = load_config(config_path, environ={"CREDENTIALS_DIRECTORY": str(folder)})
    assert by_port(config) == [
        (devices[0].port, "north-gate", "North gate"),
        (devices[1].port, "south-gate", "South gate"),
        (devices[2].port, "car-park", "Car park"),
    ]


@pytest.mark.skipif(os.geteuid() != 0, reason="giving files to another user needs root")
def test_password_files_given_to_the_agents_user(
    devices: list[FakeOnvifDevice], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    agent_user = pwd.getpwnam("nobody")
    code, _out, err, _ = add(tmp_path, devices[:1], capsys, "--owner", "nobody")
    assert code == 0, err
    folder = tmp_path / "cameras"
    for path in (folder, *folder.iterdir()):
        assert (path.stat().st_uid, path.stat().st_gid) == (agent_user.pw_uid, agent_user.pw_gid)
    code, _out, err, _ = add(tmp_path, devices[1:2], capsys, "--owner", "no-such-user-here")
    assert code == 2 and "--owner no-such-user-here: no such user" in err
    assert len(list(folder.iterdir())) == 1  # refused before anything was written
