from pathlib import Path

import pytest

from edge_agent.cli import main
from edge_agent.config import ConfigError, load_config, parse_config
from tests.support.paths import REPO

GOOD = """
site_id = "high-street"
data_dir = "/var/lib/cctv-agent"

[[cameras]]
id = "cam-1"
name = "High St north"
rtsp_url = "rtsp://user:secret@10.0.0.5:554/stream1"

[[cameras]]
id = "cam-2"
[cameras.onvif]
host = "10.0.0.6"
user = "admin"
password = "pw"
profile = "sub"

[retention]
max_days = 14
"""


def test_good_config_parses_with_defaults() -> None:
    config = parse_config(GOOD)
    assert config.site_id == "high-street"
    assert config.recorder.segment_seconds == 10.0
    assert config.retention.max_days == 14
    assert config.cameras[1].onvif is not None and config.cameras[1].onvif.profile == "sub"
    assert config.resolved_key_file == Path("/var/lib/cctv-agent/agent_key.pem")
    assert config.camera("cam-2").id == "cam-2"


@pytest.mark.parametrize(
    ("snippet", "path"),
    [
        ('site_id = "a/b"\ndata_dir = "/x"', "site_id"),
        ('site_id = "s"\ndata_dir = "/x"\nbogus = 1', "bogus"),
        (
            'site_id = "s"\ndata_dir = "/x"\n[recorder]\nsegment_seconds = 0.5',
            "recorder.segment_seconds",
        ),
        ('site_id = "s"\ndata_dir = "/x"\n[[cameras]]\nid = "c"', "cameras.0"),
        (
            'site_id = "s"\ndata_dir = "/x"\n[[cameras]]\nid = "c"\nrtsp_url = "http://x"',
            "cameras.0.rtsp_url",
        ),
        (
            'site_id = "s"\ndata_dir = "/x"\n[[cameras]]\nid = "../etc"\nrtsp_url = "rtsp://x"',
            "cameras.0.id",
        ),
    ],
)
def test_bad_config_errors_name_their_path(snippet: str, path: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(snippet)
    assert any(line.startswith(path + ":") for line in info.value.errors), info.value.errors


def test_duplicate_camera_ids_refused() -> None:
    text = 'site_id = "s"\ndata_dir = "/x"\n' + '[[cameras]]\nid = "c"\nrtsp_url = "rtsp://x"\n' * 2
    with pytest.raises(ConfigError, match="given twice"):
        parse_config(text)


def test_not_toml_is_one_clear_error() -> None:
    with pytest.raises(ConfigError, match="not valid TOML"):
        parse_config("site_id = ")


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "nope.toml")


def test_validate_config_cli_prints_each_error_with_path(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "agent.toml"
    path.write_text('site_id = "s"\ndata_dir = "/x"\n[recorder]\nsegment_seconds = 1\nfoo = 2\n')
    assert main(["validate-config", str(path)]) == 2
    err = capsys.readouterr().err
    assert "recorder.segment_seconds:" in err
    assert "recorder.foo:" in err
    path.write_text(GOOD)
    assert main(["validate-config", str(path)]) == 2  # no [uplink]: it would never reach the hub
    assert "uplink: missing" in capsys.readouterr().err
    path.write_text(GOOD + UPLINK)
    assert main(["validate-config", str(path)]) == 0
    assert "OK: site high-street, 2 camera(s)" in capsys.readouterr().out


UPLINK = '\n[uplink]\nhost = "127.0.0.1"\nport = 1883\ntls = false\n'


def test_plain_mqtt_is_refused_off_loopback_and_allowed_on_it() -> None:
    with pytest.raises(ConfigError, match=r"tls = false is refused for mqtt\.example\.org"):
        parse_config(GOOD + '\n[uplink]\nhost = "mqtt.example.org"\ntls = false\n')
    assert parse_config(GOOD + UPLINK).uplink.tls is False
    assert parse_config(GOOD + '\n[uplink]\nhost = "mqtt.example.org"\n').uplink.tls is True


DEPLOY_EXAMPLE = REPO / "deploy" / "agent.example.toml"


def example_credentials(folder: Path) -> dict[str, str]:
    """$CREDENTIALS_DIRECTORY as systemd would fill it for the example's camera password."""
    (folder / "cam-2.password").write_text("camera-password\n")
    (folder / "cam-2.password").chmod(0o600)
    return {"CREDENTIALS_DIRECTORY": str(folder)}


def test_the_deploy_example_is_valid_and_sets_every_section(tmp_path: Path) -> None:
    config = load_config(DEPLOY_EXAMPLE, environ=example_credentials(tmp_path))
    text = DEPLOY_EXAMPLE.read_text(encoding="utf-8")
    for section in (config.uplink, config.health):
        for name, field in type(section).model_fields.items():
            assert f"{name} =" in text, f"{name} is not in the example"
            assert field.description
    assert config.uplink.hub_public_key_file == Path("/etc/cctv/hub-public-key.pem")
    onvif = config.camera("cam-2").onvif
    assert onvif is not None and onvif.password == "camera-password"
    assert '\npassword = "' not in text.split("[uplink]")[0]  # no camera password in the file


def test_validate_config_warns_without_the_hub_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "agent.toml"
    path.write_text(GOOD + UPLINK)
    assert main(["validate-config", str(path)]) == 0
    assert "uplink.hub_public_key_file is not set" in capsys.readouterr().err
    path.write_text(DEPLOY_EXAMPLE.read_text(encoding="utf-8"))
    for name, value in example_credentials(tmp_path).items():
        monkeypatch.setenv(name, value)
    assert main(["validate-config", str(path)]) == 0
    assert "hub_public_key_file" not in capsys.readouterr().err


def test_run_refuses_a_hub_key_file_it_cannot_use(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "hub.pem"
    bad.write_text("not a key", encoding="ascii")
    path = tmp_path / "agent.toml"
    path.write_text(
        f'site_id = "s"\ndata_dir = "{tmp_path / "data"}"\n'
        f'[uplink]\nhub_public_key_file = "{bad}"\n'
    )
    assert main(["run", "--config", str(path)]) == 2
    assert "uplink.hub_public_key_file" in capsys.readouterr().err
