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
from functools import partial
from pathlib import Path
from typing import Any

import pytest

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
from tests.unit.test_hub_requests_api import Hub, _hub, confirm_holds_at_edge, request_body

pytestmark = pytest.mark.slow


@dataclass
class Exported:
    hub: Hub
    reference: str
    clips: list[str]
    derived_id: str
    zip_path: Path
    folder: Path


def _released(hub: Hub, folder: Path) -> tuple[str, list[str]]:
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
    hub.post(
        f"/api/requests/{reference}/release",
        {
            "recipients": [{"name": "DC Jane Smith", "organisation": "Cleveland Police"}],
            "purpose": "Investigation of assault CR/012345/26",
        },
        "supervisor",
    )
    return reference, clips


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Exported]:
    folder = tmp_path_factory.mktemp("request-export")
    for hub in _hub(folder / "hub", RequestSettings(sweep_seconds=300)):
        reference, clips = _released(hub, folder)
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
        yield Exported(hub, reference, clips, ordered["derived_id"], zip_path, fresh)


def test_the_package_holds_each_released_item_under_its_exhibit_reference(
    exported: Exported,
) -> None:
    info = json.loads((exported.folder / "package.json").read_bytes())
    assert info["request"] == exported.reference and info["created_by"] == "pc-one"
    refs = {e["reference"]: e for e in info["exhibits"]}
    assert set(refs) == {"S/1", "S/2", "S/1/W1"}
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
