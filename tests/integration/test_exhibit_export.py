"""Export two real stored clips with ``cctv-hub exhibit export`` and check the package with no
hub: the package's own verify.py (standard library only) and ``cctv-verify``, on the zip and on
a fresh unzipped folder; then one flipped byte in a clip, a manifest or a custody row fails and
is named. A damaged master is not exported and nothing is left behind."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest

from cctv_common.evidence import verify as cctv_verify
from hub.services.custody import CustodyLog
from hub.storage.engine import open_database, storage_for
from tests.support.exhibit_kit import (
    ExportedPackage,
    copy_package,
    edit_custody_row,
    export,
    flip_byte,
    hub_with_clips,
    run_packaged_verifier,
    unzip_fresh,
)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def package(
    tmp_path_factory: pytest.TempPathFactory, hub_engine_per_module: str
) -> ExportedPackage:
    folder = tmp_path_factory.mktemp("export")
    files, items, clips = hub_with_clips(folder)
    out = folder / "out" / "package.zip"
    assert export(files, items, out, "--request", "REQ-12") == 0
    return ExportedPackage(out, files, items, clips)


def test_package_holds_the_masters_byte_for_byte_and_every_part(package: ExportedPackage) -> None:
    with zipfile.ZipFile(package.zip_path) as archive:
        names = archive.namelist()
        root = names[0].split("/")[0]
        assert all(n.startswith(root + "/") for n in names)
        for ref, data in (("AB-1", package.clips[0]), ("AB-2", package.clips[1])):
            assert archive.read(f"{root}/exhibits/{ref}/clip.mp4") == data
            for part in ("manifest.json", "manifest.sig", "site_key.pem", "custody.jsonl"):
                assert archive.read(f"{root}/exhibits/{ref}/{part}")
            assert archive.read(f"{root}/exhibits/{ref}/audit_trail.pdf").startswith(b"%PDF")
        for part in ("VERIFY.txt", "verify.py", "verify.html", "hub_key.pem", "disclosure.json"):
            assert f"{root}/{part}" in names
        assert archive.read(f"{root}/continuity_statement.pdf").startswith(b"%PDF")
        info = json.loads(archive.read(f"{root}/package.json"))
    assert info["request"] == "REQ-12"
    assert [e["reference"] for e in info["exhibits"]] == ["AB/1", "AB/2"]
    assert {f["path"] for f in info["files"]} == {
        n[len(root) + 1 :] for n in names if not n.endswith(("package.json", "package.sig"))
    }
    custody = info["exhibits"][0]["custody"]
    with zipfile.ZipFile(package.zip_path) as archive:
        actions = [json.loads(r)["action"] for r in archive.read(f"{root}/{custody}").splitlines()]
    assert actions == ["dispatch", "stored"]


def test_each_export_is_a_custody_row_of_each_item(package: ExportedPackage) -> None:
    database = open_database(package.files.settings)
    try:
        for n, item in enumerate(package.items, start=1):
            rows = CustodyLog(storage_for(database)).rows(subjects=[f"clip:{item.clip_id}"])
            export_rows = [r for r in rows if r.action == "export"]
            assert len(export_rows) == 1
            assert export_rows[0].actor == "pc-one"
            assert export_rows[0].detail["exhibit"] == f"AB/{n}"
    finally:
        database.close()


def test_packaged_verifier_passes_on_a_fresh_folder_and_on_the_zip(
    package: ExportedPackage, tmp_path: Path
) -> None:
    folder = unzip_fresh(package.zip_path, tmp_path / "fresh")
    result = run_packaged_verifier(folder)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "RESULT: VERIFIED" in result.stdout
    assert "exhibit AB/1: clip" in result.stdout and "exhibit AB/2: clip" in result.stdout
    assert "FAIL" not in result.stdout
    on_zip = run_packaged_verifier(folder, package.zip_path)
    assert on_zip.returncode == 0, on_zip.stdout + on_zip.stderr
    assert cctv_verify.main([str(package.zip_path)]) == 0
    assert cctv_verify.main([str(folder)]) == 0
    assert cctv_verify.main([str(folder.parent)]) == 0  # the folder holding the package's folder


@pytest.mark.parametrize("damage", ["clip", "manifest", "custody"])
def test_one_flipped_byte_fails_and_is_named(
    package: ExportedPackage, tmp_path: Path, damage: str, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = copy_package(unzip_fresh(package.zip_path, tmp_path / "fresh"), tmp_path / "copy")
    exhibit = folder / "exhibits" / "AB-2"
    if damage == "clip":
        flip_byte(exhibit / "clip.mp4", 5000)
        expected = ["file exhibits/AB-2/clip.mp4: SHA-256", "exhibit AB/2: exhibits/AB-2/clip.mp4"]
    elif damage == "manifest":
        flip_byte(exhibit / "manifest.json", 40)
        expected = [
            "file exhibits/AB-2/manifest.json: SHA-256",
            "exhibit AB/2: exhibits/AB-2/manifest.json: signature does not match",
        ]
    else:
        seq = edit_custody_row(exhibit / "custody.jsonl", 1)
        expected = [
            "file exhibits/AB-2/custody.jsonl",
            f"exhibit AB/2 custody: exhibits/AB-2/custody.jsonl row seq {seq}",
        ]
    result = run_packaged_verifier(folder)
    assert result.returncode == 1
    assert "RESULT: FAILED" in result.stdout
    failures = [line for line in result.stdout.splitlines() if line.startswith("FAIL")]
    for text in expected:
        assert any(text in line for line in failures), (text, failures)
    assert not any("AB/1" in line or "AB-1" in line for line in failures)
    assert cctv_verify.main([str(folder)]) == 1
    assert expected[0] in capsys.readouterr().out


def test_a_flipped_byte_inside_the_zip_is_named(package: ExportedPackage, tmp_path: Path) -> None:
    damaged = tmp_path / "damaged.zip"
    data = bytearray(package.zip_path.read_bytes())
    with zipfile.ZipFile(package.zip_path) as archive:
        info = next(i for i in archive.infolist() if i.filename.endswith("AB-1/clip.mp4"))
    data[info.header_offset + 200] ^= 1  # inside the stored clip
    damaged.write_bytes(bytes(data))
    folder = unzip_fresh(package.zip_path, tmp_path / "fresh")
    result = run_packaged_verifier(folder, damaged)
    assert result.returncode == 1
    assert "FAIL  file exhibits/AB-1/clip.mp4" in result.stdout


@pytest.mark.usefixtures("hub_engine")
def test_a_damaged_master_is_not_exported_and_nothing_is_left(tmp_path: Path) -> None:
    files, items, _ = hub_with_clips(tmp_path, seconds=(2, 3))
    flip_byte(files.stored_file(items[1]), 3000)
    out = tmp_path / "out" / "package.zip"
    assert export(files, items, out) == 1
    assert not out.parent.exists() or list(out.parent.iterdir()) == []
    assert export(files, items[:1], out, "--reference", "AB/1", "AB/2") == 2  # one ref per item


@pytest.mark.usefixtures("hub_engine")
def test_unknown_item_fails_cleanly(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    files, _items, _ = hub_with_clips(tmp_path, seconds=(2,))
    out = tmp_path / "out.zip"
    from hub.cli import main as hub_main

    code = hub_main(
        ["exhibit", "export", "--config", str(files.config), "--out", str(out), "--item", "nope"]
    )
    assert code == 1
    assert "there is no evidence item 'nope'" in capsys.readouterr().err
    assert not out.exists()
