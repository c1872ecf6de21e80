"""A fresh hub from `cctv-hub init`, the real Mosquitto with the config init generated (TLS on a
free port, logins from the password file the hub rewrites), and a site box that enrolls with a
token, records the test camera and does a clip job; revoking the site cuts it off the broker.
Refused tokens (reused, expired, another site's, altered) write nothing on either side.

One module-scope stack: broker, hub and agent processes, one camera.
"""

from __future__ import annotations

import io
import socket
import sys
import time
from collections.abc import Iterator
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from cctv_common.clock import parse_iso
from devkit.configs import hub_toml, hub_users, write_toml
from devkit.local_broker import free_loopback_port, mosquitto_executable
from devkit.site_stack import PASSWORD, USERS, HubApi, ManagedProcess
from devkit.testcam import TestCamera
from devkit.waiting import wait_until
from hub.cli import main as hub_main
from provisioning.cli import main as provision_main
from tests.support.hub_engines import database_section

pytestmark = pytest.mark.slow

SITE = "high-street"
WAIT = 60.0


def _run(main: Any, argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = main(argv)
    return int(code), out.getvalue(), err.getvalue()


def _listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


@dataclass
class Stack:
    root: Path
    hub_config: Path
    broker_dir: Path
    api: HubApi
    broker: ManagedProcess
    hub: ManagedProcess

    def token(self, site_id: str, name: str = "High Street") -> str:
        answer = httpx.post(
            f"{self.api.base}/api/sites/enrollments",
            auth=self.api.supervisor,
            json={"site_id": site_id, "name": name},
            timeout=30,
        )
        assert answer.status_code == 201, answer.text
        assert answer.json()["command"].startswith("cctv-provision enroll --hub ")
        return str(answer.json()["token"])

    def enroll(self, token: str, folder: Path) -> tuple[int, str, str]:
        folder.mkdir(parents=True, exist_ok=True)
        return _run(
            provision_main,
            [
                "enroll",
                "--hub",
                self.api.base,
                "--token",
                token,
                "--config",
                str(folder / "agent.toml"),
                "--data-dir",
                str(folder / "data"),
            ],
        )

    def broker_log(self) -> str:
        return (self.broker_dir / "mosquitto.log").read_text(encoding="utf-8", errors="replace")

    def access(self) -> dict[str, str]:
        rows = self.api.get("/api/sites/enrollments", self.api.supervisor).json()
        return {row["site_id"]: row["state"] for row in rows}


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, hub_engine_per_module: str) -> Iterator[Stack]:
    mosquitto_executable()
    root = tmp_path_factory.mktemp("enrollment")
    broker_port, http_port = free_loopback_port(), free_loopback_port()
    data = hub_toml(
        hub_id="hub-1",
        data_dir="data",
        users=hub_users(USERS, PASSWORD),
        http_port=http_port,
        enrollment={
            "broker_names": ["localhost", "127.0.0.1"],
            "listen_address": "127.0.0.1",
            "listen_port": broker_port,
        },
        requests={"base_url": f"http://127.0.0.1:{http_port}"},
        **database_section(),
    )
    data["broker"] = {
        "host": "127.0.0.1",
        "port": broker_port,
        "password_file": "broker/hub.password",
        "ca_file": "broker/ca.crt",
        "reconnect_max_seconds": 2,
    }
    config = write_toml(root / "hub" / "hub.toml", data)
    code, out, err = _run(hub_main, ["init", "--config", str(config)])
    assert code == 0, err
    broker_dir = root / "hub" / "broker"
    assert f"mosquitto -c {broker_dir / 'mosquitto.conf'}" in out
    broker = ManagedProcess(
        "broker",
        [mosquitto_executable(), "-c", str(broker_dir / "mosquitto.conf")],
        root / "broker.log",
    )
    hub = ManagedProcess(
        "hub", [sys.executable, "-m", "hub.cli", "run", "--config", str(config)], root / "hub.log"
    )
    api = HubApi(f"http://127.0.0.1:{http_port}")
    try:
        broker.start()
        wait_until(lambda: _listening(broker_port), "the broker", WAIT, check=broker.check_alive)
        hub.start()
        wait_until(api.healthy, "the hub", WAIT, check=hub.check_alive)
        yield Stack(root, config, broker_dir, api, broker, hub)
    finally:
        api.close()
        hub.stop()
        broker.stop()


def test_a_site_enrolls_records_does_a_job_and_is_cut_off_when_revoked(
    stack: Stack, tmp_path: Path
) -> None:
    camera = TestCamera(width=320, height=180, fps=10, gop_seconds=1.0).start()
    agent: ManagedProcess | None = None
    try:
        code, out, err = stack.enroll(stack.token(SITE), tmp_path / "box")
        assert code == 0, err
        config = tmp_path / "box" / "agent.toml"
        assert config.stat().st_mode & 0o777 == 0o600
        text = config.read_text(encoding="utf-8")
        assert "tls = true" in text and "# " in text  # commented, TLS
        password = text.split('password = "', 1)[1].split('"', 1)[0]
        assert password not in out and password not in err
        assert stack.access()[SITE] == "enrolled"
        config.write_text(
            text + f'\n[[cameras]]\nid = "cam-1"\nname = "North"\nrtsp_url = "{camera.url}"\n',
            encoding="utf-8",
        )
        agent = ManagedProcess(
            "agent",
            [sys.executable, "-m", "edge_agent.cli", "run", "--config", str(config)],
            tmp_path / "agent.log",
        )
        agent.start()

        def footage() -> bool:
            found = stack.api.camera(SITE, "cam-1")
            if not found or not found["buffer_start"] or not found["buffer_end"]:
                return False
            span = parse_iso(found["buffer_end"]) - parse_iso(found["buffer_start"])
            return span.total_seconds() >= 4

        wait_until(
            footage, "4 s of footage reported over TLS", 90, poll=0.3, check=agent.check_alive
        )
        assert f"as {SITE} (p5" in stack.broker_log()  # the site logged in as itself

        found = stack.api.camera(SITE, "cam-1")
        assert found is not None
        end = parse_iso(found["buffer_end"])
        job = stack.api.dispatch(SITE, "cam-1", end - timedelta(seconds=3), end, "enrollment test")
        wait_until(
            lambda: stack.api.job(job["job_id"])["state"] == "stored",
            "the job stored",
            120,
            poll=0.3,
            check=agent.check_alive,
        )

        before = len(stack.broker_log())
        revoked = httpx.post(
            f"{stack.api.base}/api/sites/{SITE}/revoke", auth=stack.api.supervisor, timeout=30
        )
        assert revoked.status_code == 200, revoked.text
        assert revoked.json()["state"] == "revoked"
        # Within seconds the broker drops the site and refuses its login from then on.
        wait_until(
            lambda: f"Client {SITE} disconnected" in stack.broker_log()[before:],
            "the broker to drop the revoked site",
            10,
        )
        wait_until(
            lambda: "not authorised" in stack.broker_log()[before:],
            "the revoked site's reconnect refused",
            30,
        )
        assert stack.access()[SITE] == "revoked"
        assert f"{SITE}:" not in (stack.broker_dir / "passwd").read_text(encoding="utf-8")
    finally:
        if agent is not None:
            agent.stop()
        camera.stop()


def _nothing_written(folder: Path) -> None:
    assert not (folder / "agent.toml").exists()
    assert not (folder / "data" / "agent_key.pem").exists()
    assert not (folder / "broker-ca.pem").exists()


def test_refused_tokens_write_nothing_on_either_side(stack: Stack, tmp_path: Path) -> None:
    passwd = stack.broker_dir / "passwd"
    token = stack.token("market-sq", "Market Square")
    logins_before = passwd.read_text(encoding="utf-8")

    # Altered: one character of the secret changed.
    altered = token[:-1] + ("A" if token[-1] != "A" else "B")
    code, _, err = stack.enroll(altered, tmp_path / "altered")
    assert code == 2 and "knows no such token" in err and "nothing was written" in err
    _nothing_written(tmp_path / "altered")

    # Another site's: the box claims a site the token was not issued for.
    answer = httpx.post(
        f"{stack.api.base}/api/enroll",
        json={"token": token, "site_id": "other-site", "public_key_pem": "x" * 60},
        timeout=30,
    )
    assert answer.status_code == 403 and "is for site 'market-sq'" in answer.json()["detail"]

    # Expired.
    code, out, err = _run(
        hub_main,
        [
            "sites",
            "create",
            "--config",
            str(stack.hub_config),
            "--site",
            "old-town",
            "--name",
            "Old Town",
            "--hours",
            "0.0002",
        ],
    )
    assert code == 0, err
    expired = out.split("\n")[2].strip()
    time.sleep(1.0)  # the token's whole life is 0.72 s
    code, _, err = stack.enroll(expired, tmp_path / "expired")
    assert code == 2 and "expired" in err
    _nothing_written(tmp_path / "expired")

    assert passwd.read_text(encoding="utf-8") == logins_before
    assert "market-sq" not in [s["site_id"] for s in stack.api.json("/api/sites")]

    # Used twice: the second box is refused and the first keeps its login.
    code, _, err = stack.enroll(token, tmp_path / "first")
    assert code == 0, err
    code, _, err = stack.enroll(token, tmp_path / "second")
    assert code == 2 and "already used" in err
    _nothing_written(tmp_path / "second")
    assert "market-sq:" in passwd.read_text(encoding="utf-8")
