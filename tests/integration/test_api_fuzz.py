"""No input makes the hub answer 500 (issue 9, defect 7): schemathesis against /openapi.json.

The hub runs under a real uvicorn with a registered site, a reported camera and a stored item;
``schemathesis run`` (its own CLI, in a child process) sends generated and mutated requests for
every operation with a logged-in supervisor's session cookie, for a bounded time with a fixed
seed in deterministic mode, and fails on any 5xx. Logging out is left out (it would end the
session the run uses). Bounds: ``FUZZ_SECONDS`` of fuzzing, well inside the 300 s test timeout.
Deterministic mode (Hypothesis derandomized) makes the same cases every run; it needs no seed.

The inputs it found 500s for before are kept below as plain regression tests.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Final

import httpx
import pytest
import uvicorn

from devkit.waiting import wait_until
from hub.app import create_app
from hub.storage.engine import open_database
from tests.support.hub_config import RunningHub, running_hub, write_hub_config
from tests.support.hub_kit import USERS, auth, insert_evidence, report_status
from tests.support.paths import FIXTURES

pytestmark = pytest.mark.usefixtures("hub_engine")  # SQLite, then PostgreSQL

FUZZ_SECONDS: Final = 30
FIXTURE: Final = FIXTURES / "fuzz" / "schemathesis.toml"


@pytest.fixture
def hub_url(tmp_path: Path) -> Iterator[str]:
    files = write_hub_config(tmp_path, live={"answer_timeout_seconds": 1})
    database = open_database(files.settings)
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(files.settings, database),
            host="127.0.0.1",
            port=0,
            log_level="warning",
            lifespan="on",
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        wait_until(lambda: server.started, "uvicorn to start")
        port = server.servers[0].sockets[0].getsockname()[1]
        report_status(database)
        insert_evidence(
            files.settings, database, files.site_key, os.urandom(50_000), requested_by="pc-one"
        )
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        database.close()


@pytest.mark.slow
def test_no_generated_request_gets_a_server_error(hub_url: str, tmp_path: Path) -> None:
    schemathesis = shutil.which("schemathesis", path=str(Path(sys.executable).parent))
    if schemathesis is None:
        pytest.fail("schemathesis is not installed: pip install -e '.[dev]'")
    login = httpx.post(
        f"{hub_url}/api/session",
        json={"username": "supervisor", "password": USERS["supervisor"][1]},
    )
    login.raise_for_status()
    cookie = login.cookies["cctv_session"]
    command = [
        schemathesis,
        "--config-file",
        str(FIXTURE),
        "run",
        f"{hub_url}/openapi.json",
        "--checks",
        "not_a_server_error",
        "--max-time",
        str(FUZZ_SECONDS),
        "--generation-deterministic",
        "--workers",
        "1",
        "--header",
        f"Cookie: cctv_session={cookie}",
        "--exclude-path",
        "/api/session",
        "--request-timeout",
        "10",
        "--no-color",
        "--report-dir",
        str(tmp_path / "report"),
    ]
    done = subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=FUZZ_SECONDS + 120,
        cwd=tmp_path,
        check=False,
    )
    output = done.stdout[-12_000:] + done.stderr[-3_000:]
    assert done.returncode == 0, output


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[RunningHub]:
    with running_hub(write_hub_config(tmp_path)) as running:
        yield running


@pytest.mark.parametrize(
    ("method", "path", "body", "says"),
    [
        (
            "post",
            "/api/sites",
            {"site_id": "s-1", "public_key_pem": "-----BEGIN PUBLIC KEY-----\nnépe" + "x" * 40},
            "PEM is ASCII",
        ),
        ("get", "/api/audit?after_seq=99999999999999999999999", None, "less than or equal"),
        (
            "post",
            "/api/jobs",
            {
                "site_id": "site-a",
                "camera_id": "cam-1",
                "start": "0001-01-01T00:00:00+05:17",
                "end": "0001-01-01T00:10:00+05:17",
                "reason": "crime ref 1",
            },
            "out of range in UTC",
        ),
    ],
)
def test_inputs_that_caused_500s_get_a_4xx_that_says_why(
    hub: RunningHub, method: str, path: str, body: dict[str, Any] | None, says: str
) -> None:
    response = hub.client.request(method, path, json=body, auth=auth("supervisor"))
    assert 400 <= response.status_code < 500, response.text
    assert says in response.text
