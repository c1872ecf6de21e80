"""A released footage request exported for court over HTTP (issue 12 phase 2): two real clips
(ffmpeg H.264) stored for the request's jobs, released (exhibit references S/1, S/2), a court
copy of one made at the hub, then GET /api/requests/{ref}/export as the requesting officer. In a
fresh folder with no hub the package's own verify.py (``python3 -I -S``) passes; one flipped byte
in a clip, a manifest or a custody row fails and is named. Who may export, and a failed export
leaving nothing."""

from __future__ import annotations

import argparse
import json
import os
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from cctv_common.evidence import verify as cctv_verify
from hub.domain.requests.retention import RetainedKind
from hub.exhibits.cli import _export_request
from hub.settings_requests import RequestSettings
from hub.storage.evidence.store import FilesystemEvidenceStore
from hub.storage.sqlite import repository as repo
from tests.support.exhibit_kit import (
    copy_package,
    edit_custody_row,
    flip_byte,
    run_packaged_verifier,
    unzip_fresh,
)
from tests.support.hub_kit import auth, insert_evidence, make_h264_mp4
from tests.support.request_api_hub import Hub, confirm_holds_at_edge, request_body, request_hub
from tests.support.upload_kit import create, patch, token_of

pytestmark = pytest.mark.slow


@dataclass
class Exported:
    hub: Hub
    reference: str
    clips: list[str]
    derived_id: str
    outside_id: str
    zip_path: Path
    folder: Path


def _upload_from_outside(hub: Hub, reference: str, folder: Path) -> str:
    """A business uploads its own footage through a supervisor's upload link (tus)."""
    link = hub.post(f"/api/requests/{reference}/upload-links", OUTSIDE_LINK, "supervisor", 201)
    token = token_of(link)
    data = make_h264_mp4(folder / "shop-door.mp4", seconds=1)
    made = create(hub.client, token, len(data), "shop-door.mp4")
    assert made.status_code == 201, made.text
    location = made.headers["Location"]
    assert patch(hub.client, location, token, 0, data).status_code == 204
    receipt = hub.client.get(f"{location}/receipt", headers={"Upload-Token": token})
    assert receipt.status_code == 200, receipt.text
    return str(receipt.json()["id"])


OUTSIDE_LINK = {
    "recipient_name": "Sam Patel",
    "recipient_organisation": "Patel's Newsagents",
    "recipient_email": "sam@example.org",
    "purpose": "Footage of the assault outside 12 High Street",
}


def _released(hub: Hub, folder: Path) -> tuple[str, list[str], str]:
    reference = hub.post("/api/requests", request_body(colleagues=[]), "pc-one", 201)["id"]
    hub.post(f"/api/requests/{reference}/decision", {"outcome": "approve"}, "supervisor")
    confirm_holds_at_edge(hub, reference)
    clips = []
    for n, job_out in enumerate(hub.get(f"/api/requests/{reference}")["jobs"]):
        job = hub.database.read(partial(repo.get_job, job_id=job_out["job_id"]))
        assert job is not None
        data = make_h264_mp4(folder / f"clip-{n}.mp4", seconds=2 + n)
        item = insert_evidence(
            hub.settings, hub.database, hub.key, data, requested_by=job.requested_by, job=job
        )
        clips.append(item.clip_id)
    hub.sweep()
    outside_id = _upload_from_outside(hub, reference, folder)
    hub.post(
        f"/api/requests/{reference}/release",
        {
            "recipients": [{"name": "DC Jane Smith", "organisation": "Cleveland Police"}],
            "purpose": "Investigation of assault CR/012345/26",
        },
        "supervisor",
    )
    return reference, clips, outside_id


@pytest.fixture(scope="module")
def exported(
    tmp_path_factory: pytest.TempPathFactory, hub_engine_per_module: str
) -> Iterator[Exported]:
    folder = tmp_path_factory.mktemp("request-export")
    for hub in request_hub(folder / "hub", RequestSettings(sweep_seconds=300)):
        reference, clips, outside_id = _released(hub, folder)
        ordered = hub.post(f"/api/clips/{clips[0]}/derived", {"operation": "h264"}, "pc-one", 202)
        hub.client.portal.call(hub.context.service.derived.idle)  # type: ignore[union-attr]
        response = hub.client.get(f"/api/requests/{reference}/export", auth=auth("pc-one"))
        assert response.status_code == 200, response.text
        assert response.headers["content-type"] == "application/zip"
        assert reference in response.headers["content-disposition"]
        zip_path = folder / "out" / "package.zip"
        zip_path.parent.mkdir()
        zip_path.write_bytes(response.content)
        fresh = unzip_fresh(zip_path, folder / "fresh")
        yield Exported(hub, reference, clips, ordered["derived_id"], outside_id, zip_path, fresh)


def test_the_package_holds_each_released_item_under_its_exhibit_reference(
    exported: Exported,
) -> None:
    info = json.loads((exported.folder / "package.json").read_bytes())
    assert info["request"] == exported.reference and info["created_by"] == "pc-one"
    refs = {e["reference"]: e for e in info["exhibits"]}
    assert set(refs) == {"S/1", "S/2", "S/3", "S/1/W1"}
    outside = refs["S/3"]
    assert outside["kind"] == "outside" and outside["source"] == "not from a site agent"
    assert outside["clip"] == "exhibits/S-3/file.mp4" and outside["filename"] == "shop-door.mp4"
    listed = {f["path"]: f for f in info["files"]}
    assert listed["exhibits/S-3/file.mp4"]["sha256"] == outside["sha256"]
    statement = json.loads((exported.folder / "exhibits/S-3/statement.json").read_bytes())
    assert statement["name"] == "Sam Patel"
    custody_rows = (exported.folder / "exhibits/S-3/custody.jsonl").read_text().splitlines()
    assert next(json.loads(row)["action"] for row in custody_rows) == "upload"
    assert refs["S/1/W1"]["kind"] == "derived" and refs["S/1/W1"]["derived_from"] == "S/1"
    derived = json.loads((exported.folder / "exhibits/S-1-W1/manifest.json").read_bytes())
    assert derived["item_id"] == exported.derived_id
    custody = (exported.folder / "exhibits/S-1-W1/custody.jsonl").read_text().splitlines()
    assert [json.loads(row)["action"] for row in custody] == ["derive"]
    disclosure = json.loads((exported.folder / "disclosure.json").read_bytes())
    assert disclosure["entries"][0]["number"] == 1
    assert {i["clip_id"] for i in disclosure["entries"][0]["items"]} == set(exported.clips)
    # The request's page shows the references; nothing is left in the hub's export folder.
    items = exported.hub.get(f"/api/requests/{exported.reference}", "pc-one")["items"]
    assert sorted(i["exhibit_reference"] for i in items) == ["S/1", "S/2"]
    assert not [p for p in (exported.hub.settings.data_dir / "exports").iterdir()]


def test_each_item_has_its_export_custody_row(exported: Exported) -> None:
    for clip_id in exported.clips:
        rows = exported.hub.get(f"/api/clips/{clip_id}")["custody"]
        export_rows = [r for r in rows if r["action"] == "export"]
        assert len(export_rows) == 1 and export_rows[0]["actor"] == "pc-one"
        assert export_rows[0]["detail"]["request"] == exported.reference


def test_the_packaged_verifier_passes_with_no_hub(exported: Exported) -> None:
    result = run_packaged_verifier(exported.folder)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "RESULT: VERIFIED" in result.stdout and "FAIL" not in result.stdout
    for ref in ("S/1", "S/2", "S/1/W1"):
        assert f"exhibit {ref}" in result.stdout
    assert "exhibit S/3: not from a site agent, shop-door.mp4 from Sam Patel" in result.stdout
    # cctv-verify checks the same, on the zip itself.
    assert cctv_verify.main([str(exported.zip_path)]) == 0


def test_a_flipped_byte_in_the_outside_file_fails_and_is_named(
    exported: Exported, tmp_path: Path
) -> None:
    folder = copy_package(exported.folder, tmp_path / "copy")
    flip_byte(folder / "exhibits" / "S-3" / "file.mp4", 500)
    result = run_packaged_verifier(folder)
    assert result.returncode == 1
    failures = [line for line in result.stdout.splitlines() if line.startswith("FAIL")]
    assert any("file exhibits/S-3/file.mp4: SHA-256" in line for line in failures), failures
    assert any("exhibit S/3: exhibits/S-3/file.mp4 did not pass" in line for line in failures)
    assert cctv_verify.main([str(folder)]) == 1
    assert not any("S-1" in line or "S/2" in line for line in failures)


def test_the_outside_item_has_its_export_custody_row(exported: Exported) -> None:
    storage = exported.hub.context.service.storage
    subject = f"outside:{exported.outside_id}"
    rows = storage.read(lambda uow: uow.custody.after([subject], 0, 100))
    assert [str(r.action) for r in rows] == ["upload", "export"]
    assert rows[1].actor == "pc-one" and rows[1].detail["exhibit"] == "S/3"
    # The release named it, with its exhibit reference, in the request's disclose row.
    request_rows = storage.read(
        lambda uow: uow.custody.after([f"request:{exported.reference}"], 0, 100)
    )
    disclose = next(r for r in request_rows if str(r.action) == "disclose")
    assert disclose.detail["outside_items"][0]["exhibit"] == "S/3"


@pytest.mark.parametrize("damage", ["clip", "manifest", "custody"])
def test_one_flipped_byte_fails_and_is_named(
    exported: Exported, tmp_path: Path, damage: str
) -> None:
    folder = copy_package(exported.folder, tmp_path / "copy")
    exhibit = folder / "exhibits" / "S-2"
    if damage == "clip":
        flip_byte(exhibit / "clip.mp4", 3000)
        expected = "file exhibits/S-2/clip.mp4: SHA-256"
    elif damage == "manifest":
        flip_byte(exhibit / "manifest.json", 40)
        expected = "exhibit S/2: exhibits/S-2/manifest.json: signature does not match"
    else:
        seq = edit_custody_row(exhibit / "custody.jsonl", 0)
        expected = f"exhibit S/2 custody: exhibits/S-2/custody.jsonl row seq {seq}"
    result = run_packaged_verifier(folder)
    assert result.returncode == 1
    failures = [line for line in result.stdout.splitlines() if line.startswith("FAIL")]
    assert any(expected in line for line in failures), (expected, failures)
    assert not any("S-1" in line or "S/1" in line for line in failures)


def _export(hub: Hub, reference: str, user: str) -> Any:
    return hub.client.get(f"/api/requests/{reference}/export", auth=auth(user))


def test_who_may_export(exported: Exported) -> None:
    hub, reference = exported.hub, exported.reference
    assert _export(hub, reference, "operator").status_code == 403
    assert _export(hub, reference, "auditor").status_code == 403
    assert _export(hub, reference, "pc-two").status_code == 404
    assert _export(hub, "R-2000-0001", "supervisor").status_code == 404


def test_a_failed_export_leaves_nothing(exported: Exported) -> None:
    hub = exported.hub
    unreleased = hub.post("/api/requests", request_body(), "pc-one", 201)["id"]
    refused = _export(hub, unreleased, "supervisor")
    assert refused.status_code == 409 and "not been released" in refused.json()["detail"]
    # A master damaged in the store is not shipped as if it were good.
    item = hub.get(f"/api/clips/{exported.clips[1]}")
    store = hub.context.store
    assert isinstance(store, FilesystemEvidenceStore)
    path = store.path_for(item["sha256"])
    original = path.read_bytes()
    os.chmod(path, 0o640)
    try:
        flip_byte(path, 2000)
        damaged = _export(hub, exported.reference, "supervisor")
        assert damaged.status_code == 409
        assert "S/2" in damaged.json()["detail"] and "Not exported" in damaged.json()["detail"]
    finally:
        path.write_bytes(original)
    assert not list((hub.settings.data_dir / "exports").iterdir())
    rows = hub.get(f"/api/clips/{exported.clips[0]}")["custody"]
    assert len([r for r in rows if r["action"] == "export"]) == 1


def test_the_command_line_uses_the_same_service(exported: Exported, tmp_path: Path) -> None:
    out = tmp_path / "cli.zip"
    args = argparse.Namespace(request=exported.reference, out=out, as_user="cli:clerk")
    assert _export_request(exported.hub.settings, args) == 0
    with zipfile.ZipFile(out) as archive:
        names = archive.namelist()
    assert any(n.endswith("exhibits/S-1-W1/derived.mp4") for n in names)


def test_a_damaged_outside_file_is_refused_with_a_custody_row(exported: Exported) -> None:
    hub = exported.hub
    item = hub.get(f"/api/requests/{exported.reference}/outside-items")["items"][0]
    store = hub.context.store
    assert isinstance(store, FilesystemEvidenceStore)
    path = store.path_for(item["sha256"])
    original = path.read_bytes()
    os.chmod(path, 0o640)
    integrity = hub.context.service.integrity
    portal = hub.client.portal
    assert portal is not None
    try:
        flip_byte(path, 700)
        report = portal.call(integrity.scrub_once)
        assert exported.outside_id in {n for obj, _ in report.damaged for n in obj.clip_ids}
        refused = hub.client.get(item["content_url"], auth=auth("supervisor"))
        assert refused.status_code == 409
        assert f"outside item {exported.outside_id} failed its integrity check" in refused.text
    finally:
        path.write_bytes(original)
    # Put right, it is served again once re-checked.
    portal.call(
        lambda: integrity.check(
            item["sha256"], item["sha256"], item["size"], by="test", clips=[exported.outside_id]
        )
    )
    assert hub.client.get(item["content_url"], auth=auth("supervisor")).status_code == 200
    storage = hub.context.service.storage
    rows = storage.read(lambda uow: uow.custody.after([f"outside:{exported.outside_id}"], 0, 100))
    actions = [str(r.action) for r in rows]
    assert "integrity_failed" in actions and "refused" in actions
    assert actions.index("integrity_restored") > actions.index("refused")


def test_outside_items_are_under_retention_and_deleted_like_clips(
    exported: Exported, tmp_path: Path
) -> None:
    hub = exported.hub
    reference, _, outside_id = _released(hub, tmp_path)
    portal = hub.client.portal
    assert portal is not None
    reports = hub.context.service.requests.reports
    later = datetime.now(UTC) + timedelta(days=40)
    due = portal.call(reports.retention_due, later)
    listed = (*due.due_for_deletion, *due.due_for_review, *due.held_past_date)
    assert (RetainedKind.OUTSIDE_ITEM, outside_id) in {
        (e.item.kind, e.item.item_id) for e in listed
    }
    path = f"/api/requests/{reference}/items/{outside_id}"
    body = {"reason": "no further action: footage not needed"}
    held = hub.client.request("DELETE", path, json=body, auth=auth("supervisor"))
    assert held.status_code == 409, held.text  # the request still holds its footage
    hub.post(f"/api/requests/{reference}/outcome", {"outcome": "nfa", "note": "none"}, "pc-one")
    item = hub.get(f"/api/requests/{reference}/outside-items")["items"][0]
    gone = hub.client.request("DELETE", path, json=body, auth=auth("supervisor"))
    assert gone.status_code == 200, gone.text
    assert hub.client.get(item["content_url"], auth=auth("supervisor")).status_code == 410
    # The same bytes are the first request's outside item, still live: they stay in the store.
    assert hub.context.store.exists(item["sha256"])
    first = f"/api/outside-items/{exported.outside_id}/content"
    assert hub.client.get(first, auth=auth("supervisor")).status_code == 200
    storage = hub.context.service.storage
    rows = storage.read(lambda uow: uow.custody.after([f"outside:{outside_id}"], 0, 100))
    assert str(rows[-1].action) == "delete" and "not needed" in rows[-1].detail["reason"]
