"""``cctv-hub users`` and ``cctv-hub retention due`` through the real entry point: the password
comes from a file or a prompt, never argv, and never appears in output or the custody log."""

from __future__ import annotations

from pathlib import Path

import pytest

from hub.cli import main
from hub.services.passwords import verify_password
from hub.settings import load_settings
from hub.storage.engine import open_database
from hub.storage.sqlite import repository as repo
from tests.support.hub_config import write_bare_config

pytestmark = pytest.mark.usefixtures("hub_engine")  # SQLite, then PostgreSQL

PASSWORD = "a long enough passphrase"


@pytest.fixture
def config(tmp_path: Path) -> Path:
    return write_bare_config(tmp_path / "hub.toml")


def test_add_list_disable_reset(
    tmp_path: Path, config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    secret = tmp_path / "pw"
    secret.write_text(PASSWORD + "\n", encoding="utf-8")
    base = ["users", "--config", str(config)]
    assert (
        main(
            [
                *base,
                "add",
                "dc-smith",
                "--role",
                "police",
                "--name",
                "DC Jane Smith",
                "--email",
                "jane@cleveland.police.uk",
                "--password-file",
                str(secret),
            ]
        )
        == 0
    )
    assert main([*base, "list"]) == 0
    out = capsys.readouterr().out
    assert "dc-smith\tpolice\tactive" in out and PASSWORD not in out
    assert main([*base, "add", "dc-smith", "--role", "police", "--password-file", str(secret)]) == 1
    assert "already a user" in capsys.readouterr().err
    short = tmp_path / "short"
    short.write_text("short\n", encoding="utf-8")
    assert main([*base, "reset-password", "dc-smith", "--password-file", str(short)]) == 1
    assert main([*base, "disable", "dc-smith"]) == 0
    database = open_database(load_settings(config))
    try:
        user = database.read(lambda d: repo.get_user(d, "dc-smith"))
        assert user is not None and user.disabled and verify_password(PASSWORD, user.password_hash)
        rows = database.read(lambda d: [dict(r) for r in d.query("SELECT * FROM audit")])
    finally:
        database.close()
    assert [r["action"] for r in rows] == ["user_added", "user_changed"]
    assert PASSWORD not in str(rows)


def test_retention_due_lists_nothing_on_a_new_hub(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["retention", "--config", str(config), "due"]) == 0
    out = capsys.readouterr().out
    assert "due for deletion: 0" in out and "held past their date" in out


def test_config_after_the_action_like_sites(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["users", "list", "--config", str(config)]) == 0  # as `cctv-hub sites list`
    assert main(["users", "--config", str(config), "list"]) == 0  # the older place still works
    assert main(["retention", "due", "--config", str(config)]) == 0
    capsys.readouterr()
    with pytest.raises(SystemExit) as usage:
        main(["users", "list"])
    assert usage.value.code == 2
    assert "required: --config" in capsys.readouterr().err
