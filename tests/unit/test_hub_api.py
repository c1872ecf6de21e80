"""The REST API through TestClient on each engine: validation, roles, ranges, audit."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi.testclient import TestClient

from cctv_common.evidence.signing import key_id, public_key_pem
from cctv_common.wire.payloads import Job, NvrChannelCoverage
from cctv_common.wire.topics import job_topic
from hub.app import create_app
from hub.domain.records import EvidenceItem
from hub.settings import HubSettings
from hub.storage.engine import AnyDatabase, open_database, storage_for
from tests.support.hub_kit import (
    CAMERA,
    SITE,
    RecordingLink,
    auth,
    insert_evidence,
    insert_job,
    make_settings,
    online_status,
    report_status,
    unsealed,
)

pytestmark = pytest.mark.usefixtures("hub_engine")  # SQLite, then PostgreSQL


@dataclass
class Hub:
    client: TestClient
    database: AnyDatabase
    settings: HubSettings
    link: RecordingLink
    key: Ed25519PrivateKey

    def evidence(self, requested_by: str, size: int = 100_000) -> tuple[EvidenceItem, bytes]:
        data = secrets.token_bytes(size)
        item = insert_evidence(
            self.settings, self.database, self.key, data, requested_by=requested_by
        )
        return item, data

    def audit(self, action: str) -> list[dict[str, Any]]:
        rows = self.client.get("/api/audit", auth=auth("auditor")).json()
        return [row for row in rows if row["action"] == action]


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[Hub]:
    key = Ed25519PrivateKey.generate()
    settings = make_settings(tmp_path, site_key=key)
    database = open_database(settings)
    link = RecordingLink()
    try:
        with TestClient(create_app(settings, database, link)) as client:
            report_status(database)
            yield Hub(client, database, settings, link, key)
    finally:
        database.close()


def job_body(**changes: Any) -> dict[str, Any]:
    end = datetime.now(UTC) - timedelta(seconds=5)
    body = {
        "site_id": SITE,
        "camera_id": CAMERA,
        "start": (end - timedelta(minutes=1)).isoformat(),
        "end": end.isoformat(),
        "reason": "crime ref 42/1234, s.19 PACE",
    }
    body.update(changes)
    return body


def message(response: Any) -> str:
    detail = response.json()["detail"]
    return detail if isinstance(detail, str) else "; ".join(item["msg"] for item in detail)


# Jobs.


def test_a_job_is_created_stored_audited_and_published_retained(hub: Hub) -> None:
    response = hub.client.post("/api/jobs", json=job_body(), auth=auth("operator"))
    assert response.status_code == 201, response.text
    job = response.json()
    assert (job["state"], job["requested_by"], job["percent"]) == ("dispatched", "operator", 0)
    assert job["start"].endswith("Z")
    [(topic, payload, retain)] = [p for p in hub.link.published if "/jobs/" in p[0]]
    assert topic == job_topic(SITE, job["job_id"]) and retain
    assert Job.parse(unsealed(payload)).camera_id == CAMERA
    assert hub.client.get(f"/api/jobs/{job['job_id']}", auth=auth("operator")).json() == job
    [row] = hub.audit("dispatch")
    assert (row["actor"], row["subject"]) == ("operator", f"job:{job['job_id']}")


def report_nvr_channel(database: AnyDatabase) -> None:
    """A site status in which an NVR records the camera (a span over the last hour)."""
    now = datetime.now(UTC)
    status = online_status((CAMERA,), now - timedelta(hours=1), now)
    span = {"start": now - timedelta(hours=1), "end": now}
    nvr = NvrChannelCoverage.model_validate(
        {"nvr_id": "nvr-1", "channel": 1, "method": "onvif-replay", "spans": [span]}
    )
    cameras = (status.cameras[0].model_copy(update={"nvr": (nvr,)}),)
    status = status.model_copy(update={"cameras": cameras})
    storage_for(database).write(lambda uow: uow.sites.apply_status(SITE, status, now))


@pytest.mark.parametrize("source", ["auto", "buffer", "nvr", None])
def test_a_job_says_where_its_footage_is_taken_from(hub: Hub, source: str | None) -> None:
    """``source`` goes to the site in the signed job, back in the API, and into the dispatch's
    custody row; left out it is ``auto``, which the wire job leaves out too (agents that predate
    the field refuse unknown fields, and read its absence as auto)."""
    report_nvr_channel(hub.database)
    body = job_body() if source is None else job_body(source=source)
    response = hub.client.post("/api/jobs", json=body, auth=auth("operator"))
    assert response.status_code == 201, response.text
    job = response.json()
    asked = source or "auto"
    assert job["source"] == asked
    assert hub.client.get(f"/api/jobs/{job['job_id']}", auth=auth("operator")).json() == job
    [(_, payload, _)] = [p for p in hub.link.published if "/jobs/" in p[0]]
    assert Job.parse(unsealed(payload)).source == (None if asked == "auto" else asked)
    assert (b'"source"' in unsealed(payload)) == (asked != "auto")
    [row] = hub.audit("dispatch")
    assert row["detail"]["source"] == asked


@pytest.mark.parametrize(
    ("changes", "status", "says"),
    [
        ({"site_id": "nowhere"}, 404, "site nowhere is not registered"),
        ({"camera_id": "cam-9"}, 422, "has not reported a camera cam-9; its cameras: cam-1"),
        ({"site_id": "../etc"}, 422, "site id"),
        ({"end": "2024-01-01T00:00:00Z", "start": "2024-01-01T00:00:10Z"}, 422, "after start"),
        ({"start": "2024-01-01T00:00:00Z", "end": "2024-01-02T00:00:01Z"}, 422, "over 24 h"),
        ({"start": "2024-01-01T00:00:00"}, 422, "no time zone"),
        ({"start": "yesterday"}, 422, "datetime"),
        ({"reason": "  "}, 422, "at least 3"),
        ({"priority": 10}, 422, "less than or equal to 9"),
        ({"extra": 1}, 422, "Extra inputs"),
        ({"source": "camera"}, 422, "'auto', 'buffer' or 'nvr'"),
        ({"source": "nvr"}, 422, "recorded by no NVR the site reported: ask for source auto"),
    ],
)
def test_bad_job_requests_say_what_is_wrong(
    hub: Hub, changes: dict[str, Any], status: int, says: str
) -> None:
    response = hub.client.post("/api/jobs", json=job_body(**changes), auth=auth("operator"))
    assert response.status_code == status
    assert says in message(response)
    assert [p for p in hub.link.published if "/jobs/" in p[0]] == []


def test_windows_in_the_future_or_before_the_buffer_are_refused(hub: Hub) -> None:
    now = datetime.now(UTC)
    future = job_body(start=now.isoformat(), end=(now + timedelta(hours=1)).isoformat())
    response = hub.client.post("/api/jobs", json=future, auth=auth("operator"))
    assert response.status_code == 422 and "in the future" in message(response)
    old = job_body(
        start=(now - timedelta(days=3)).isoformat(),
        end=(now - timedelta(days=3) + timedelta(minutes=1)).isoformat(),
    )
    response = hub.client.post("/api/jobs", json=old, auth=auth("operator"))
    assert response.status_code == 422 and "holds footage from" in message(response)


def test_police_see_only_their_own_jobs(hub: Hub) -> None:
    mine = {"job_id": insert_job(hub.database, requested_by="pc-one").id}
    theirs = {"job_id": insert_job(hub.database, requested_by="pc-two").id}
    listed = hub.client.get("/api/jobs", auth=auth("pc-one")).json()
    assert [job["job_id"] for job in listed] == [mine["job_id"]]
    assert hub.client.get(f"/api/jobs/{theirs['job_id']}", auth=auth("pc-one")).status_code == 404
    all_jobs = hub.client.get("/api/jobs", auth=auth("operator")).json()
    assert {job["job_id"] for job in all_jobs} == {mine["job_id"], theirs["job_id"]}


@pytest.mark.parametrize(
    ("user", "method", "path", "status"),
    [
        ("engineer", "post", "/api/jobs", 403),
        ("auditor", "post", "/api/jobs", 403),
        ("engineer", "get", "/api/jobs", 403),
        ("auditor", "get", "/api/sites", 403),
        ("operator", "get", "/api/audit", 403),
        ("pc-one", "get", "/api/audit/verify", 403),
        ("engineer", "get", "/api/clips", 403),
        ("engineer", "get", "/api/sites", 200),
        ("auditor", "get", "/api/audit", 200),
        ("supervisor", "get", "/api/audit/verify", 200),
    ],
)
def test_roles(hub: Hub, user: str, method: str, path: str, status: int) -> None:
    kwargs: dict[str, Any] = {"auth": auth(user)}
    if method == "post":
        kwargs["json"] = job_body()
    response = getattr(hub.client, method)(path, **kwargs)
    assert response.status_code == status, response.text
    if status == 403:
        assert "role may not use" in message(response)


# Sites.


def test_sites_list_their_reported_cameras(hub: Hub) -> None:
    [site] = hub.client.get("/api/sites", auth=auth("engineer")).json()
    assert (site["site_id"], site["state"], site["key_id"]) == (SITE, "online", key_id(hub.key))
    [camera] = site["cameras"]
    assert camera["camera_id"] == CAMERA and camera["buffer_start"].endswith("Z")
    assert hub.client.get("/api/sites/nowhere", auth=auth("engineer")).status_code == 404
    assert hub.client.get("/api/sites/bad.id", auth=auth("engineer")).status_code == 400


def test_only_supervisors_register_sites_and_keys_must_be_ed25519(hub: Hub) -> None:
    pem = public_key_pem(Ed25519PrivateKey.generate())
    body = {"site_id": "market-sq", "name": "Market Square", "public_key_pem": pem}
    assert hub.client.post("/api/sites", json=body, auth=auth("operator")).status_code == 403
    response = hub.client.post("/api/sites", json=body, auth=auth("supervisor"))
    assert response.status_code == 201
    assert response.json()["state"] == "unknown" and response.json()["cameras"] == []
    bad = dict(body, public_key_pem="-----BEGIN PUBLIC KEY-----\nnope\n-----END PUBLIC KEY-----")
    response = hub.client.post("/api/sites", json=bad, auth=auth("supervisor"))
    assert response.status_code == 422 and "market-sq" in message(response)
    [row] = [r for r in hub.audit("register_site") if r["subject"] == "site:market-sq"]
    assert row["actor"] == "supervisor"


# Authentication.


def test_no_or_wrong_credentials_get_401(hub: Hub) -> None:
    response = hub.client.get("/api/jobs")
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Basic")
    response = hub.client.get("/api/jobs", auth=("operator", "wrong"))
    assert response.status_code == 401 and "wrong user name or password" in message(response)
    assert hub.client.get("/api/jobs", auth=("nobody", "x")).status_code == 401
    # The page's own requests do not trigger the browser's Basic login pop-up.
    response = hub.client.get("/api/jobs", headers={"X-Requested-With": "cctv-ui"})
    assert response.status_code == 401 and "www-authenticate" not in response.headers


def test_login_form_cookie_session_and_logout(hub: Hub) -> None:
    assert hub.client.get("/", follow_redirects=False).headers["location"] == "/login"
    refused = hub.client.post("/login", data={"username": "pc-one", "password": "nope"})
    assert refused.status_code == 401 and "wrong user name or password" in refused.text
    response = hub.client.post(
        "/login", data={"username": "pc-one", "password": "pw-police-one"}, follow_redirects=False
    )
    assert response.status_code == 303 and response.headers["location"] == "/"
    cookie = response.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie
    assert hub.client.get("/").status_code == 200
    me = hub.client.get("/api/me").json()
    assert me["role"] == "police" and me["permissions"]["jobs.read"] == "own"
    # A cookie riding along on a cross-site request cannot change anything.
    cross = hub.client.post("/api/requests", json={}, headers={"Origin": "https://evil.test"})
    assert cross.status_code == 403
    # Police file footage requests; they no longer dispatch clip jobs themselves.
    assert hub.client.post("/api/jobs", json=job_body()).status_code == 403
    hub.client.post("/logout", follow_redirects=False)
    assert hub.client.get("/api/me").status_code == 401


def test_the_login_form_goes_on_to_the_page_the_link_asked_for(hub: Hub) -> None:
    # A mail's link (/#request/R-2026-0001) reaches /login with its "#..." carried in "next".
    form = {"username": "pc-one", "password": "pw-police-one", "next": "#request/R-2026-0001"}
    response = hub.client.post("/login", data=form, follow_redirects=False)
    assert response.headers["location"] == "/#request/R-2026-0001"
    for elsewhere in ("https://evil.test/", "//evil.test", "#a b", "/#x", "#" + "x" * 101):
        form["next"] = elsewhere
        response = hub.client.post("/login", data=form, follow_redirects=False)
        assert response.headers["location"] == "/", elsewhere


def test_a_forged_or_stale_cookie_is_refused(hub: Hub) -> None:
    hub.client.cookies.set("cctv_session", "token.0000")
    assert hub.client.get("/api/me").status_code == 401
    response = hub.client.post(
        "/api/session", json={"username": "auditor", "password": "pw-auditor"}
    )
    assert response.status_code == 200 and response.json()["role"] == "auditor"
    assert hub.client.get("/api/audit").status_code == 200
    assert hub.client.delete("/api/session").status_code == 204
    assert hub.client.get("/api/audit").status_code == 401


# Clips: listing, detail, manifest, video with ranges, custody rows.


def test_police_see_only_clips_they_requested(hub: Hub) -> None:
    mine, _ = hub.evidence("pc-one")
    theirs, _ = hub.evidence("pc-two")
    listed = hub.client.get("/api/clips", auth=auth("pc-one")).json()
    assert [clip["clip_id"] for clip in listed] == [mine.clip_id]
    for path in ("", "/video", "/manifest.json"):
        response = hub.client.get(f"/api/clips/{theirs.clip_id}{path}", auth=auth("pc-one"))
        assert response.status_code == 404, path
    assert (
        hub.client.get(f"/api/clips/{mine.clip_id}/video", auth=auth("pc-one")).status_code == 200
    )
    assert len(hub.client.get("/api/clips", auth=auth("supervisor")).json()) == 2


def test_engineers_and_auditors_never_get_footage(hub: Hub) -> None:
    item, _ = hub.evidence("pc-one")
    for user in ("engineer", "auditor"):
        for path in ("", "/video", "/manifest.json"):
            response = hub.client.get(f"/api/clips/{item.clip_id}{path}", auth=auth(user))
            assert response.status_code == 403, (user, path)
    assert hub.audit("view") == [] and hub.audit("download") == []


def test_operators_play_but_do_not_download(hub: Hub) -> None:
    item, _ = hub.evidence("pc-one")
    assert (
        hub.client.get(f"/api/clips/{item.clip_id}/video", auth=auth("operator")).status_code == 200
    )
    response = hub.client.get(
        f"/api/clips/{item.clip_id}/video", params={"download": 1}, auth=auth("operator")
    )
    assert response.status_code == 403


def test_clip_detail_has_the_manifest_signature_and_custody_rows(hub: Hub) -> None:
    item, _ = hub.evidence("pc-one")
    detail = hub.client.get(f"/api/clips/{item.clip_id}", auth=auth("pc-one")).json()
    assert detail["sha256"] == item.sha256 == detail["manifest"]["sha256"]
    assert detail["signature"] == item.signature and detail["key_id"] == key_id(hub.key)
    assert detail["delivered_start"].endswith("Z")
    assert [row["action"] for row in detail["custody"]] == ["dispatch", "stored"]
    manifest = hub.client.get(f"/api/clips/{item.clip_id}/manifest.json", auth=auth("pc-one"))
    assert manifest.content == item.manifest.encode("utf-8")  # the exact signed bytes
    assert manifest.headers["content-type"] == "application/json"
    [row] = hub.audit("download")
    assert (row["actor"], row["detail"]) == ("pc-one", {"what": "manifest"})


def test_video_ranges(hub: Hub) -> None:
    item, data = hub.evidence("pc-one", size=300_000)
    url = f"/api/clips/{item.clip_id}/video"
    whole = hub.client.get(url, auth=auth("pc-one"))
    assert whole.status_code == 200 and whole.content == data
    assert whole.headers["accept-ranges"] == "bytes"
    assert whole.headers["content-type"] == "video/mp4"
    assert whole.headers["content-length"] == str(len(data))
    for header, start, end in [
        ("bytes=0-99", 0, 99),
        ("bytes=1000-", 1000, len(data) - 1),
        ("bytes=-500", len(data) - 500, len(data) - 1),
        ("bytes=299990-400000", 299_990, len(data) - 1),
    ]:
        part = hub.client.get(url, headers={"Range": header}, auth=auth("pc-one"))
        assert part.status_code == 206, header
        assert part.headers["content-range"] == f"bytes {start}-{end}/{len(data)}"
        assert part.content == data[start : end + 1]
    for header in ("bytes=300000-", "bytes=500-100", "bytes=x-y"):
        refused = hub.client.get(url, headers={"Range": header}, auth=auth("pc-one"))
        assert refused.status_code == 416, header
        assert refused.headers["content-range"] == f"bytes */{len(data)}"


def test_one_view_row_per_playback_session_and_a_row_per_download(hub: Hub) -> None:
    item, _ = hub.evidence("pc-one", size=200_000)
    url = f"/api/clips/{item.clip_id}/video"
    for header in ("bytes=0-", "bytes=65536-", "bytes=0-1000", "bytes=150000-"):
        hub.client.get(url, headers={"Range": header}, auth=auth("pc-one"))
    [view] = hub.audit("view")
    assert (view["actor"], view["subject"]) == ("pc-one", f"clip:{item.clip_id}")
    # Another login session of another user is another viewing.
    hub.client.get(url, headers={"Range": "bytes=0-"}, auth=auth("supervisor"))
    assert [row["actor"] for row in hub.audit("view")] == ["pc-one", "supervisor"]
    hub.client.get(url, params={"download": 1}, auth=auth("pc-one"))
    [download] = hub.audit("download")
    assert download["detail"] == {"what": "video", "first_byte": 0, "bytes": 200_000, "whole": True}
    assert hub.client.get("/api/audit/verify", auth=auth("auditor")).json() == {
        "ok": True,
        "first_bad_seq": None,
        "problems": [],
    }


@pytest.mark.parametrize(
    ("path", "statuses"),
    [
        ("/api/clips/..%2F..%2Fetc%2Fpasswd/video", {400, 404}),
        ("/api/clips/../../etc/passwd", {404}),
        ("/api/clips/a.b/video", {400}),
        ("/api/clips/" + "a" * 65 + "/video", {400}),
        ("/api/clips/%00/video", {400}),
        ("/api/clips/clip-unknown/video", {404}),
        ("/api/jobs/..%2Fx", {400, 404}),
    ],
)
def test_path_tricks_never_reach_a_file(hub: Hub, path: str, statuses: set[int]) -> None:
    response = hub.client.get(path, auth=auth("supervisor"))
    assert response.status_code in statuses, (path, response.status_code)


def test_a_missing_store_file_is_not_served(hub: Hub) -> None:
    item, _ = hub.evidence("pc-one")
    stored = hub.settings.evidence_dir / item.sha256[:2] / item.sha256[2:4] / f"{item.sha256}.mp4"
    stored.unlink()
    response = hub.client.get(f"/api/clips/{item.clip_id}/video", auth=auth("pc-one"))
    assert response.status_code == 409 and "the stored file is missing" in message(response)


# Pages and documentation.


def test_openapi_docs_and_page_headers(hub: Hub) -> None:
    assert hub.client.get("/docs").status_code == 200
    paths = hub.client.get("/openapi.json").json()["paths"]
    assert {"/api/jobs", "/api/clips/{clip_id}/video", "/api/audit/verify", "/api/sites"} <= set(
        paths
    )
    page = hub.client.get("/login")
    assert "default-src 'self'" in page.headers["content-security-policy"]
    assert "content-security-policy" not in hub.client.get("/docs").headers
    for asset in ("app.js", "style.css", "index.html"):
        text = hub.client.get(f"/static/{asset}").text
        assert "http://" not in text and "https://" not in text, asset  # no CDN


def test_health_needs_no_login(hub: Hub) -> None:
    health = hub.client.get("/api/health").json()
    assert (health["status"], health["mqtt"]) == ("ok", "connected")


def test_a_job_insert_helper_matches_the_api_shape(hub: Hub) -> None:
    job = insert_job(hub.database, requested_by="operator")
    got = hub.client.get(f"/api/jobs/{job.id}", auth=auth("operator")).json()
    assert got["job_id"] == job.id and got["state"] == "dispatched"
