"""``cctv-hub`` commands through their real entry point."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from cctv_common.evidence.signing import key_id, public_key_pem
from hub.cli import main
from hub.services.passwords import verify_password
from hub.settings import load_settings
from hub.storage.engine import open_database
from hub.storage.sql_session import SqlSession
from tests.support.hub_config import write_bare_config
from tests.support.hub_kit import drop_append_only_guards


@pytest.fixture
def config(tmp_path: Path) -> Path:
    return write_bare_config(tmp_path / "hub.toml")


def test_hash_password_from_stdin(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("correct horse\n"))
    assert main(["hash-password", "--stdin"]) == 0
    encoded = capsys.readouterr().out.strip()
    assert verify_password("correct horse", encoded)
    assert "correct horse" not in encoded


def test_check_config_reports_each_error_with_its_path(
    tmp_path: Path, config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["check-config", "--config", str(config)]) == 0
    bad = tmp_path / "bad.toml"
    bad.write_text(
        'hub_id = "hub-1"\ndata_dir = "d"\n[[sites]]\nsite_id = "a"\npublic_key_file = "no.pem"\n',
        encoding="utf-8",
    )
    assert main(["check-config", "--config", str(bad)]) == 2
    assert "sites.a.public_key_file: cannot use" in capsys.readouterr().err


@pytest.mark.usefixtures("hub_engine")  # SQLite, then PostgreSQL
def test_add_site_then_verify_audit_then_detect_tampering(
    tmp_path: Path, config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    key = Ed25519PrivateKey.generate()
    pem = tmp_path / "site.pem"
    pem.write_text(public_key_pem(key), encoding="ascii")
    args = ["add-site", "--config", str(config), "--site", "high-st", "--public-key", str(pem)]
    assert main([*args, "--name", "High Street"]) == 0
    assert key_id(key) in capsys.readouterr().out
    assert (
        main(["add-site", "--config", str(config), "--site", "../x", "--public-key", str(pem)]) == 2
    )
    assert main(["verify-audit", "--config", str(config)]) == 0
    assert "1 row(s) is intact" in capsys.readouterr().out

    database = open_database(load_settings(config))

    def tamper(db: SqlSession) -> None:
        drop_append_only_guards(db)
        db.execute("UPDATE audit SET actor = 'someone-else'")

    database.write(tamper)
    database.close()
    assert main(["verify-audit", "--config", str(config)]) == 1
    assert "breaks at row 1" in capsys.readouterr().err


def test_public_key_creates_the_hub_key_once_0600_and_prints_its_public_half(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["public-key", "--config", str(config)]) == 0
    first = capsys.readouterr().out
    assert first.startswith("-----BEGIN PUBLIC KEY-----")
    key_file = config.parent / "data" / "hub_key.pem"
    assert key_file.stat().st_mode & 0o777 == 0o600
    assert main(["public-key", "--config", str(config)]) == 0
    assert capsys.readouterr().out == first
