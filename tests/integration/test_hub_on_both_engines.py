"""One end-to-end request path of the hub through its HTTP API on both engines (SQLite file,
PostgreSQL schema): log in by the form (a session row), dispatch a clip job (a job row, its
custody row, the signed job published), read it back, log out, with the engine named in the
settings as an operator names it. The hub's other suites run on both engines too (``hub_engine``
in tests/support/hub_engines.py); the storage contract tests cover every port on both."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi.testclient import TestClient

from cctv_common.wire.payloads import Job
from cctv_common.wire.topics import job_topic
from hub.app import create_app
from hub.services.custody import CustodyLog
from hub.settings_database import DatabaseSettings
from hub.storage.engine import AnyDatabase, open_database, storage_for
from tests.support.hub_kit import (
    CAMERA,
    SITE,
    RecordingLink,
    auth,
    make_settings,
    report_status,
    unsealed,
)
from tests.support.storage_engines import ENGINES, new_schema
from tests.unit.test_hub_api import job_body


@pytest.fixture(params=ENGINES)
def hub_engine(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[tuple[TestClient, RecordingLink, AnyDatabase]]:
    settings = make_settings(tmp_path, site_key=Ed25519PrivateKey.generate())
    schema = None
    if request.param == "postgresql":
        schema = new_schema()
        settings = settings.model_copy(update={"database": DatabaseSettings(url=schema.url)})
    database = open_database(settings)
    link = RecordingLink()
    try:
        with TestClient(create_app(settings, database, link)) as client:
            report_status(database)
            yield client, link, database
    finally:
        database.close()
        if schema is not None:
            schema.drop()


def test_login_dispatch_read_back_and_logout(
    hub_engine: tuple[TestClient, RecordingLink, AnyDatabase],
) -> None:
    client, link, database = hub_engine
    response = client.post(
        "/login", data={"username": "operator", "password": "pw-operator"}, follow_redirects=False
    )
    assert response.status_code == 303, response.text
    assert client.get("/api/me").json()["role"] == "operator"
    body = job_body(source="buffer")
    response = client.post("/api/jobs", json=body, headers={"Origin": "http://testserver"})
    assert response.status_code == 201, response.text
    job = response.json()
    [(topic, payload, retain)] = [p for p in link.published if "/jobs/" in p[0]]
    assert topic == job_topic(SITE, job["job_id"]) and retain
    sent = Job.parse(unsealed(payload))
    assert (sent.camera_id, sent.source) == (CAMERA, "buffer")
    assert client.get(f"/api/jobs/{job['job_id']}").json() == job
    assert job["source"] == "buffer"  # read back from the job row (migration 12)
    rows = client.get("/api/audit", auth=auth("auditor")).json()
    dispatched = [row for row in rows if row["action"] == "dispatch"]
    assert [(row["subject"], row["detail"]["source"]) for row in dispatched] == [
        (f"job:{job['job_id']}", "buffer")
    ]
    assert CustodyLog(storage_for(database)).verify_chain() == (True, None)
    client.post("/logout", follow_redirects=False, headers={"Origin": "http://testserver"})
    assert client.get("/api/me").status_code == 401
