"""Camera passwords from a file per camera or a systemd credential, as the agent loads them."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge_agent.config import ConfigError, load_config

CONFIG = """\
site_id = "s1"
data_dir = "{data}"

[uplink]
host = "127.0.0.1"
tls = false

[[cameras]]
id = "gate"
[cameras.onvif]
host = "10.0.0.9"
user = "cctv"
{secret}
"""


def write(tmp_path: Path, secret: str) -> Path:
    path = tmp_path / "agent.toml"
    path.write_text(CONFIG.format(data=tmp_path / "data", secret=secret))
    return path


def onvif_password(path: Path, environ: dict[str, str] | None = None) -> str:
    camera = load_config(path, environ=environ).camera("gate")
    assert camera.onvif is not None
    return camera.onvif.password


def test_password_file(tmp_path: Path) -> None:
    secret = tmp_path / "gate.password"
    secret.write_text("s3cret:/@\n")
    secret.chmod(0o600)
    config = write(tmp_path, f'password_file = "{secret}"')
    assert onvif_password(config) == "s3cret:/@"
    assert "s3cret" not in repr(load_config(config))


def test_world_readable_or_empty_password_file_is_refused(tmp_path: Path) -> None:
    secret = tmp_path / "gate.password"
    secret.write_text("s3cret\n")
    secret.chmod(0o644)
    config = write(tmp_path, f'password_file = "{secret}"')
    with pytest.raises(ConfigError) as refused:
        load_config(config)
    assert "readable by every user" in str(refused.value)
    assert f"chmod 600 {secret}" in str(refused.value)
    assert "s3cret" not in str(refused.value)
    secret.write_text("\n")
    secret.chmod(0o600)
    with pytest.raises(ConfigError, match="is empty"):
        load_config(config)
    secret.unlink()
    with pytest.raises(ConfigError, match="cannot read password file"):
        load_config(config)


def test_systemd_credential(tmp_path: Path) -> None:
    folder = tmp_path / "creds"
    folder.mkdir()
    (folder / "gate.password").write_text("from-systemd")
    (folder / "gate.password").chmod(0o400)
    config = write(tmp_path, 'password_credential = "gate.password"')
    env = {"CREDENTIALS_DIRECTORY": str(folder)}
    assert onvif_password(config, environ=env) == "from-systemd"
    with pytest.raises(ConfigError, match="needs \\$CREDENTIALS_DIRECTORY"):
        load_config(config, environ={})


def test_one_password_source_only(tmp_path: Path) -> None:
    config = write(tmp_path, 'password = "x"\npassword_file = "/etc/x"')
    with pytest.raises(ConfigError, match="at most one of password"):
        load_config(config)
    config = write(tmp_path, 'password_credential = "../etc/shadow"')
    with pytest.raises(ConfigError, match="password_credential"):
        load_config(config)
