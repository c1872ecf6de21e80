"""The systemd units (issue 9, defect 9): the hub wants the project's broker unit, every unit
is sandboxed and private by default, and ``systemd-analyze security`` rates each at most 2.5.

``systemd-analyze security --offline=true FILE`` (systemd 250 and later; Debian 12 has 252)
rates a unit file without a running systemd. Where it is missing or too old, that test is
skipped with the reason; the file checks run everywhere.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from functools import cache
from pathlib import Path
from typing import Final

import pytest

from hub.settings import load_settings
from tests.support.paths import REPO

UNITS_DIR: Final = REPO / "systemd"
UNITS: Final = sorted(UNITS_DIR.glob("*.service"))
MAX_EXPOSURE: Final = 2.5
_OVERALL = re.compile(r"Overall exposure level for \S+: (\d+(?:\.\d+)?)")


def directives(unit: Path) -> dict[str, list[str]]:
    """Every ``Key=value`` of the file (keys may repeat), without comments."""
    found: dict[str, list[str]] = {}
    for line in unit.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";", "[")):
            continue
        key, _, value = line.partition("=")
        found.setdefault(key.strip(), []).append(value.strip())
    return found


def test_there_are_three_units() -> None:
    assert [unit.name for unit in UNITS] == [
        "cctv-agent.service",
        "cctv-hub.service",
        "cctv-mosquitto.service",
    ]


def test_the_hub_wants_the_projects_broker_unit_not_debians() -> None:
    hub = directives(UNITS_DIR / "cctv-hub.service")
    for key in ("Wants", "After"):
        words = " ".join(hub[key]).split()
        assert "cctv-mosquitto.service" in words, key
        assert "mosquitto.service" not in words, key


@pytest.mark.parametrize("unit", UNITS, ids=lambda unit: unit.name)
def test_every_unit_writes_private_files_and_filters_system_calls(unit: Path) -> None:
    found = directives(unit)
    assert found["UMask"] == ["0077"]
    assert found["SystemCallFilter"][0] == "@system-service"
    assert found["NoNewPrivileges"] == ["yes"] and found["ProtectSystem"] == ["strict"]
    assert found["CapabilityBoundingSet"] == [""]


def test_the_broker_has_a_watchdog_or_says_why_not() -> None:
    unit = UNITS_DIR / "cctv-mosquitto.service"
    if "WatchdogSec" in directives(unit):
        return
    text = unit.read_text(encoding="utf-8")
    assert "Watchdog: none, on purpose" in text and "never" in text and "WATCHDOG=1" in text


@cache
def _analyze_offline_reason() -> str | None:
    """Why ``systemd-analyze security --offline`` cannot run here, or None when it can."""
    tool = shutil.which("systemd-analyze")
    if tool is None:
        return "systemd-analyze is not installed (Debian: apt-get install systemd)"
    probe = subprocess.run(
        [tool, "security", "--offline=true", str(UNITS[0])],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    if _OVERALL.search(probe.stdout) is None:
        first = (probe.stderr.strip().splitlines() or ["no output"])[0]
        return (
            f"systemd-analyze cannot rate unit files offline here (needs systemd >= 250): {first}"
        )
    return None


@pytest.mark.parametrize("unit", UNITS, ids=lambda unit: unit.name)
def test_systemd_analyze_rates_every_unit_at_most_2_5(unit: Path, tmp_path: Path) -> None:
    reason = _analyze_offline_reason()
    if reason is not None:
        pytest.skip(reason)
    done = subprocess.run(
        ["systemd-analyze", "security", "--offline=true", "--no-pager", str(unit)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
        cwd=tmp_path,
    )
    match = _OVERALL.search(done.stdout)
    assert match is not None, done.stdout[-2000:] + done.stderr[-2000:]
    exposure = float(match.group(1))
    assert exposure <= MAX_EXPOSURE, done.stdout


def test_the_broker_runs_the_config_cctv_hub_init_writes_as_the_hubs_user() -> None:
    """So the hub can send it SIGHUP when a site is enrolled or revoked (no reload_command)."""
    settings = load_settings(REPO / "deploy" / "hub.example.toml")
    assert settings.enrollment is not None
    broker_dir = settings.enrollment.broker_dir
    broker = directives(UNITS_DIR / "cctv-mosquitto.service")
    hub = directives(UNITS_DIR / "cctv-hub.service")
    assert broker["User"] == hub["User"] and broker["Group"] == hub["Group"]
    assert broker["ExecStart"] == [f"/usr/sbin/mosquitto -c {broker_dir / 'mosquitto.conf'}"]
    assert broker["ReadWritePaths"] == [str(broker_dir)]
    assert broker["AssertPathExists"] == [str(broker_dir / "mosquitto.conf")]
    assert str(broker_dir).startswith("/var/lib/" + hub["StateDirectory"][0] + "/")
    assert not settings.enrollment.reload_command


def test_the_agent_unit_shows_camera_passwords_as_credentials() -> None:
    text = (UNITS_DIR / "cctv-agent.service").read_text(encoding="utf-8")
    assert "#   LoadCredential=cam-1.password:/etc/cctv/credentials/cam-1.password" in text
    assert "LoadCredentialEncrypted=" in text
