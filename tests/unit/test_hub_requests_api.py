"""Footage requests through the API (TestClient, a real SQLite file, the hub's real services):
file -> decide -> holds published signed and retained -> clip jobs -> stored -> ready ->
release (disclosure log) -> the requester watches -> outcome closes and lifts holds -> deletion
with a reason; every step in the custody log and the chain verifies. And each role's boundary on
every new route."""

from __future__ import annotations

import asyncio
import itertools
import secrets
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from cctv_common.wire.hub_signing import HubVerifier
from cctv_common.wire.payloads import (
    CameraStatus,
    HoldOrder,
    Job,
    NvrChannelCoverage,
)
from cctv_common.wire.topics import HoldTopic, JobTopic
from hub.domain.requests.decision import ControllerDecision, DecisionKind
from hub.settings_requests import RequestSettings
from hub.storage.sqlite import repository as repo
from tests.support.hub_kit import (
    CAMERA,
    SITE,
    auth,
    insert_evidence,
    online_status,
    report_status,
)
from tests.support.request_api_hub import (
    Hub,
    confirm_holds_at_edge,
    request_body,
    request_hub,
    store_clips,
)

pytestmark = pytest.mark.usefixtures("hub_engine")  # SQLite, then PostgreSQL


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[Hub]:
    yield from request_hub(tmp_path, RequestSettings(sweep_seconds=300))


def test_the_whole_path_from_request_to_deletion(hub: Hub) -> None:
    filed = hub.post("/api/requests", request_body(), "pc-one", 201)
    reference = filed["id"]
    assert reference.startswith(f"R-{datetime.now(UTC).year}-") and filed["state"] == "submitted"
    # Nobody decides their own request; police may not decide at all.
    hub.post(f"/api/requests/{reference}/decision", {"outcome": "approve"}, "pc-one", 403)
    approved = hub.post(f"/api/requests/{reference}/decision", {"outcome": "approve"}, "supervisor")
    assert approved["state"] == "fulfilling"
    assert len(approved["holds"]) == 2 and len(approved["jobs"]) == 2
    # A second decision is refused: the request is no longer awaiting one.
    again = hub.client.post(
        f"/api/requests/{reference}/decision",
        json={"outcome": "decline", "reason": "x" * 12},
        auth=auth("supervisor"),
    )
    assert again.status_code == 409 and "not awaiting a decision" in again.json()["detail"]
    # The holds went out signed by the hub, retained, one per camera, and the jobs too.
    verifier = HubVerifier(hub.context.service.hub_key.public_key())
    holds = hub.published(HoldTopic)
    assert {topic.hold for topic, _, _ in holds} == {h["id"] for h in approved["holds"]}
    for topic, payload, retain in holds:
        order = verifier.open(str(topic), payload, HoldOrder)
        assert retain and order.reason_ref == reference and not order.lifted
    jobs = hub.published(JobTopic)
    assert len(jobs) == 2
    for topic, payload, _ in jobs:
        assert verifier.open(str(topic), payload, Job).requested_by == reference
    # The agent pins, cuts and uploads.
    confirm_holds_at_edge(hub, reference)
    clips = store_clips(hub, reference)
    # Police cannot watch before release.
    assert hub.client.get(f"/api/clips/{clips[0]}/video", auth=auth("pc-one")).status_code == 404
    hub.sweep()
    ready = hub.get(f"/api/requests/{reference}")
    assert ready["state"] == "ready"
    assert all(h["edge_confirmed_at"] for h in ready["holds"])
    assert all(item["legal_hold"] for item in ready["items"])
    assert hub.client.get(f"/api/clips/{clips[0]}/video", auth=auth("pc-one")).status_code == 404
    # Release: one disclosure entry per recipient, numbered.
    released = hub.post(
        f"/api/requests/{reference}/release",
        {
            "recipients": [{"name": "DC Jane Smith", "organisation": "Cleveland Police"}],
            "purpose": "Investigation of assault CR/012345/26",
        },
        "supervisor",
    )
    assert released["state"] == "released"
    assert [r["disclosure_number"] for r in released["releases"]] == [1]
    # Each released item got an exhibit reference: the releaser's initials and their sequence.
    assert sorted(i["exhibit_reference"] for i in released["items"]) == ["S/1", "S/2"]
    log = hub.get("/api/disclosures", "auditor")["entries"]
    assert {i["clip_id"] for i in log[0]["items"]} == set(clips)
    csv = hub.client.get("/api/disclosures.csv", auth=auth("auditor"))
    assert csv.status_code == 200 and reference in csv.text
    # The requester and the named colleague may now watch; nobody else among police.
    for user in ("pc-one", "pc-two"):
        video = hub.client.get(f"/api/clips/{clips[0]}/video", auth=auth(user))
        assert video.status_code == 200
    assert {c["clip_id"] for c in hub.get("/api/clips", "pc-two")} >= set(clips)
    # Deleting an item is refused while the hold stands.
    refused = hub.client.request(
        "DELETE",
        f"/api/requests/{reference}/items/{clips[0]}",
        json={"reason": "no further action: retention period ended"},
        auth=auth("supervisor"),
    )
    assert refused.status_code == 409 and "hold" in refused.json()["detail"]
    # The requester records the outcome: closed, holds lifted at the hub and the edge.
    closed = hub.post(
        f"/api/requests/{reference}/outcome", {"outcome": "nfa", "note": "no suspect"}, "pc-one"
    )
    assert closed["state"] == "closed" and all(h["lifted_at"] for h in closed["holds"])
    lifted = [verifier.open(str(t), p, HoldOrder) for t, p, _ in hub.published(HoldTopic)]
    assert sum(order.lifted for order in lifted) == 2
    deleted = hub.client.request(
        "DELETE",
        f"/api/requests/{reference}/items/{clips[0]}",
        json={"reason": "no further action: retention period ended"},
        auth=auth("supervisor"),
    )
    assert deleted.status_code == 200, deleted.text
    # Every step is in the custody log, and the chain verifies.
    actions = [row["what"] for row in deleted.json()["timeline"]]
    for step in (
        "request filed",
        "decision",
        "hold placed",
        "hold in force at the site",
        "released",
        "outcome recorded",
        "hold lifted",
    ):
        assert step in actions, step
    assert hub.get("/api/audit/verify", "auditor")["ok"] is True
    # The requester's mail was logged at each step (no SMTP configured here).
    mails = hub.client.portal.call(  # type: ignore[union-attr]
        hub.context.service.storage.aread, lambda uow: uow.disclosures.mails(reference)
    )
    assert [m.step for m in mails] == ["received", "approved", "secured", "ready", "released"]


def test_a_bad_request_lists_every_problem(hub: Hub) -> None:
    future = datetime.now(UTC) + timedelta(hours=1)
    body = request_body(
        crime_reference="",
        window_start=future.isoformat(),
        window_end=(future + timedelta(minutes=5)).isoformat(),
        cameras=[{"site_id": SITE, "camera_id": "cam-9"}],
    )
    response = hub.client.post("/api/requests", json=body, auth=auth("pc-one"))
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert "crime reference or an incident log number" in detail
    assert "in the future" in detail and "cam-9" in detail


def test_coverage_flags_what_a_camera_no_longer_holds(hub: Hub) -> None:
    now = datetime.now(UTC)
    report_status(hub.database, cameras=(CAMERA,), buffer_start=now - timedelta(minutes=10))
    body = request_body(
        window_start=(now - timedelta(minutes=30)).isoformat(),
        window_end=(now - timedelta(minutes=1)).isoformat(),
        cameras=[{"site_id": SITE, "camera_id": CAMERA}],
    )
    cameras = hub.post("/api/requests/preview-coverage", body, "pc-one")["cameras"]
    assert "holds footage from" in cameras[0]["warning"] and "gone" in cameras[0]["warning"]


def test_nvr_spans_from_the_status_count_as_retrievable_and_nvr_only_cameras_are_requestable(
    hub: Hub,
) -> None:
    now = datetime.now(UTC)
    status = online_status((CAMERA,), now - timedelta(minutes=10), now)
    span = {"start": now - timedelta(hours=3), "end": now - timedelta(minutes=1)}
    nvr = NvrChannelCoverage.model_validate(
        {"nvr_id": "nvr-1", "nvr_name": "Control room", "channel": 1,
         "method": "onvif-replay", "spans": [span]}
    )  # fmt: skip
    cameras = (
        status.cameras[0].model_copy(update={"nvr": (nvr,)}),
        CameraStatus(camera_id="cam-nvr", state="nvr_only", nvr=(nvr,)),
    )
    status = status.model_copy(update={"cameras": cameras})
    hub.database.write(lambda d: repo.apply_site_status(d, SITE, status, now))
    listed = {c["camera_id"]: c for s in hub.get("/api/sites") for c in s["cameras"]}
    assert listed["cam-nvr"]["state"] == "nvr_only" and listed["cam-nvr"]["nvr"][0]["spans"]
    body = request_body(
        window_start=(now - timedelta(minutes=30)).isoformat(),
        window_end=(now - timedelta(minutes=20)).isoformat(),
        cameras=[{"site_id": SITE, "camera_id": c} for c in (CAMERA, "cam-nvr")],
    )
    covered = hub.post("/api/requests/preview-coverage", body, "pc-one")["cameras"]
    # Before the agent's buffer, but the NVR holds it: nothing is flagged, the bar says NVR.
    assert [c["warning"] for c in covered] == [None, None]
    assert [p["source"] for p in covered[0]["spans"]] == ["NVR Control room", "buffer"]
    assert hub.post("/api/requests", body, "pc-one", 201)["id"]


def test_police_see_their_requests_and_those_naming_them_only(hub: Hub) -> None:
    mine = hub.post("/api/requests", request_body(colleagues=[]), "pc-one", 201)["id"]
    named = hub.post("/api/requests", request_body(colleagues=["pc-one"]), "pc-two", 201)["id"]
    theirs = hub.post("/api/requests", request_body(colleagues=[]), "pc-two", 201)["id"]
    listed = {r["id"] for r in hub.get("/api/requests", "pc-one")["requests"]}
    assert listed == {mine, named}
    hub.get(f"/api/requests/{theirs}", "pc-one", 404)
    assert len(hub.get("/api/requests", "operator")["requests"]) == 3
    # An operator files on an officer's behalf.
    body = request_body(on_behalf_of="pc-one", colleagues=[])
    filed = hub.post("/api/requests", body, "operator", 201)
    assert (filed["requested_by"], filed["filed_by"]) == ("pc-one", "operator")


def test_a_matching_rule_approves_at_once(tmp_path: Path) -> None:
    rule = {"name": "routine-short", "forces": ["Cleveland Police"], "max_window_minutes": 120}
    for hub in request_hub(tmp_path, RequestSettings(sweep_seconds=300, auto_approval=(rule,))):
        filed = hub.post("/api/requests", request_body(), "pc-one", 201)
        assert filed["state"] == "fulfilling"
        assert filed["decision"]["rule"] == "routine-short"
        ripa = hub.post("/api/requests", request_body(ripa=True), "pc-one", 201)
        assert ripa["state"] == "submitted"


def test_decline_needs_a_reason_and_is_kept(hub: Hub) -> None:
    reference = hub.post("/api/requests", request_body(), "pc-one", 201)["id"]
    short = hub.client.post(
        f"/api/requests/{reference}/decision",
        json={"outcome": "decline", "reason": "no"},
        auth=auth("supervisor"),
    )
    assert short.status_code == 422 and "reason" in short.json()["detail"]
    reason = "the camera faces a private garden"
    declined = hub.post(
        f"/api/requests/{reference}/decision",
        {"outcome": "decline", "reason": reason},
        "supervisor",
    )
    assert declined["state"] == "declined" and declined["decision"]["reason"] == reason
    figures = hub.get("/api/dashboard", "auditor")
    assert figures["declined"][0]["reason"] == reason and figures["total"] == 1
    assert hub.get("/api/retention/due")["due_for_deletion"] == []


def test_release_is_refused_until_every_item_is_stored(hub: Hub) -> None:
    reference = hub.post("/api/requests", request_body(), "pc-one", 201)["id"]
    hub.post(f"/api/requests/{reference}/decision", {"outcome": "approve"}, "supervisor")
    body = {
        "recipients": [{"name": "DC Smith", "organisation": "Cleveland Police"}],
        "purpose": "investigation",
    }
    refused = hub.client.post(
        f"/api/requests/{reference}/release", json=body, auth=auth("supervisor")
    )
    assert refused.status_code == 409
    assert f"{SITE}/{CAMERA}" in refused.json()["detail"]


def test_users_are_managed_by_supervisors_and_never_echo_a_password(hub: Hub) -> None:
    password = "a long enough passphrase"
    body = {
        "username": "pc-three",
        "role": "police",
        "display_name": "PC Three",
        "email": "three@cleveland.police.uk",
        "force": "Cleveland Police",
        "collar_number": "777",
        "password": password,
    }
    added = hub.post("/api/users", body, "supervisor", 201)
    assert password not in str(added)
    assert hub.client.get("/api/me", auth=("pc-three", password)).status_code == 200
    hub.post("/api/users/pc-three/disable", {}, "supervisor")
    assert hub.client.get("/api/me", auth=("pc-three", password)).status_code == 401
    refused = hub.client.post("/api/users/pc-one/disable", auth=auth("supervisor"))
    assert refused.status_code == 409  # a user from the settings file is changed there
    rows = hub.get("/api/custody?item=pc-three", "auditor")["rows"]
    actions = [r["action"] for r in rows]
    assert actions.index("user_added") < actions.index("user_changed")
    assert password not in str(rows)


def test_session_says_where_each_role_lands(hub: Hub) -> None:
    for user, landing in (
        ("pc-one", "#requests"),
        ("supervisor", "#decisions"),
        ("operator", "#fulfil"),
        ("engineer", "#fleet"),
        ("auditor", "#custody"),
    ):
        assert hub.get("/api/session", user)["landing"] == landing


def test_session_carries_the_users_own_details_for_the_request_form(hub: Hub) -> None:
    password = "a long enough passphrase"
    profile = {
        "display_name": "Jane Smith",
        "email": "jane.smith@cleveland.police.uk",
        "force": "Cleveland Police",
        "collar_number": "4521",
    }
    body = {"username": "dc-smith", "role": "police", "password": password, **profile}
    hub.post("/api/users", body, "supervisor", 201)
    found = hub.client.get("/api/session", auth=("dc-smith", password)).json()
    assert {key: found[key] for key in profile} == profile
    assert hub.get("/api/session", "pc-one")["force"] == ""  # settings users have no details


def test_the_link_in_a_mail_opens_the_requests_page(hub: Hub) -> None:
    answer = hub.client.get("/requests/R-2026-0001", follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"] == "/#request/R-2026-0001"
    odd = hub.client.get("/requests/..%2Fapi", follow_redirects=False)
    assert odd.status_code in (303, 404) and "api" not in odd.headers.get("location", "")


# Every new route and what each role gets: 403 for a role that may never use it; anything
# else (2xx, 404 or 4xx about the body) for a role that may.
ROUTES = [
    ("get", "/api/requests"),
    ("post", "/api/requests"),
    ("post", "/api/requests/preview-coverage"),
    ("get", "/api/requests/R-2026-0001"),
    ("post", "/api/requests/R-2026-0001/decision"),
    ("post", "/api/requests/R-2026-0001/release"),
    ("post", "/api/requests/R-2026-0001/retention"),
    ("get", "/api/retention/due"),
    ("get", "/api/disclosures"),
    ("get", "/api/disclosures.csv"),
    ("get", "/api/dashboard"),
    ("get", "/api/dashboard.csv"),
    ("get", "/api/users"),
    ("post", "/api/users"),
    ("get", "/api/custody"),
    ("get", "/api/custody.csv"),
]
ALLOWED = {
    "police": {"/api/requests", "/api/requests/preview-coverage", "/api/requests/R-2026-0001"},
    "operator": {"/api/requests", "/api/requests/preview-coverage", "/api/requests/R-2026-0001"},
    "engineer": set(),
    "auditor": {
        "/api/disclosures",
        "/api/disclosures.csv",
        "/api/dashboard",
        "/api/dashboard.csv",
        "/api/custody",
        "/api/custody.csv",
    },
}


@pytest.mark.parametrize("role", ["police", "operator", "engineer", "auditor", "supervisor"])
def test_role_boundaries_on_every_new_route(hub: Hub, role: str) -> None:
    user = {"police": "pc-one"}.get(role, role)
    for method, path in ROUTES:
        kwargs: dict[str, Any] = {"json": {}} if method == "post" else {}
        status = hub.client.request(method.upper(), path, auth=auth(user), **kwargs).status_code
        allowed = role == "supervisor" or path in ALLOWED[role]
        if allowed:
            assert status != 403, (role, method, path)
        else:
            assert status == 403, (role, method, path, status)
    # Each refusal is a custody row naming the user and what they tried.
    refused = hub.get(f"/api/custody?action=forbidden&user={user}", "auditor")["rows"]
    assert bool(refused) == (role != "supervisor")


def test_a_long_window_is_cut_in_parts_and_progress_counts_them(hub: Hub) -> None:
    """A 2 h window on one camera at the default 30 min parts: 4 clip jobs in time order, each
    stored on its own; the request shows 1/4 ... 4/4 and is ready (and releasable) only at 4/4."""
    end = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)
    start = end - timedelta(hours=2)
    hub.database.write(
        lambda d: repo.apply_site_status(
            d, SITE, online_status((CAMERA,), start - timedelta(hours=1), end), end
        )
    )
    body = request_body(
        window_start=start.isoformat(),
        window_end=end.isoformat(),
        cameras=[{"site_id": SITE, "camera_id": CAMERA}],
    )
    reference = hub.post("/api/requests", body, "pc-one", 201)["id"]
    approved = hub.post(f"/api/requests/{reference}/decision", {"outcome": "approve"}, "supervisor")
    jobs = approved["jobs"]
    assert len(jobs) == 4 and len(hub.published(JobTopic)) == 4
    assert [job["priority"] for job in jobs] == [jobs[0]["priority"]] * 4
    windows = sorted(
        (datetime.fromisoformat(job["start"]), datetime.fromisoformat(job["end"])) for job in jobs
    )
    assert windows[0][0] == start and windows[-1][1] == end
    for (_, previous_end), (next_start, _) in itertools.pairwise(windows):
        assert previous_end == next_start  # consecutive: nothing missed, nothing twice
    [progress] = approved["camera_progress"]
    assert (progress["parts_stored"], progress["parts_total"]) == (0, 4)
    assert not progress["complete"]
    confirm_holds_at_edge(hub, reference)
    release = {
        "recipients": [{"name": "DC Smith", "organisation": "Cleveland Police"}],
        "purpose": "investigation",
    }
    by_start = sorted(jobs, key=lambda job: job["start"])
    for stored, job_out in enumerate(by_start, start=1):
        job = hub.database.read(partial(repo.get_job, job_id=job_out["job_id"]))
        assert job is not None
        insert_evidence(
            hub.settings,
            hub.database,
            hub.key,
            secrets.token_bytes(20_000),
            requested_by=job.requested_by,
            job=job,
        )
        hub.sweep()
        detail = hub.get(f"/api/requests/{reference}")
        [progress] = detail["camera_progress"]
        assert (progress["parts_stored"], progress["parts_total"]) == (stored, 4)
        assert progress["percent"] == (100 if stored == 4 else stored * 25)
        if stored < 4:
            assert detail["state"] == "fulfilling"
            refused = hub.client.post(
                f"/api/requests/{reference}/release", json=release, auth=auth("supervisor")
            )
            assert refused.status_code == 409 and f"{SITE}/{CAMERA}" in refused.json()["detail"]
    assert detail["state"] == "ready" and progress["complete"]
    assert progress["estimate_seconds_left"] is None
    released = hub.post(f"/api/requests/{reference}/release", release, "supervisor")
    assert released["state"] == "released"
    entries = hub.get("/api/disclosures", "auditor")["entries"]
    assert len(entries[0]["items"]) == 4


def test_a_decision_and_the_sweep_at_once_make_one_job_per_camera(hub: Hub) -> None:
    """The decision dispatches while the sweep dispatches what an approved request lacks: run
    together, each once saw no job for a camera and made one (two items for one camera)."""
    reference = hub.post("/api/requests", request_body(), "pc-one", 201)["id"]
    requests = hub.context.service.requests
    decision = ControllerDecision(
        DecisionKind.APPROVE, decided_by="supervisor", decided_at=datetime.now(UTC)
    )

    async def sweeping() -> None:
        for _ in range(40):
            await requests.fulfilment.sweep()
            await asyncio.sleep(0)

    async def both() -> None:
        await asyncio.gather(requests.deciding.decide(reference, decision), sweeping())

    assert hub.client.portal is not None
    hub.client.portal.call(both)
    jobs = hub.get(f"/api/requests/{reference}")["jobs"]
    assert sorted(job["camera_id"] for job in jobs) == sorted([CAMERA, "cam-2"]), jobs
