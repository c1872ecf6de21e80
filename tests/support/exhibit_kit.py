"""Export packages made the way an officer makes them: real clips (ffmpeg H.264) stored by the
hub's own code with their custody rows, exported by ``cctv-hub exhibit export``, unzipped into a
fresh folder, and damaged one byte at a time."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

from cctv_common.clock import utc_now
from cctv_common.evidence.signing import public_key_pem
from hub.cli import main as hub_main
from hub.domain.records import EvidenceItem
from hub.services.sites import register_in
from hub.storage.engine import open_database, storage_for
from tests.support.hub_config import HubFiles, write_hub_config
from tests.support.hub_kit import SITE, insert_evidence, make_h264_mp4


@dataclass
class ExportedPackage:
    zip_path: Path
    files: HubFiles
    items: list[EvidenceItem]
    clips: list[bytes]


def hub_with_clips(
    folder: Path, seconds: tuple[int, ...] = (3, 4)
) -> tuple[HubFiles, list[EvidenceItem], list[bytes]]:
    """A hub settings file and one stored evidence item per entry of ``seconds``."""
    files = write_hub_config(folder / "hub")
    database = open_database(files.settings)
    items, clips = [], []
    pem = public_key_pem(files.site_key)
    try:
        storage_for(database).write(
            lambda uow: register_in(uow, SITE, "Site A", pem, "config", utc_now())
        )
        for n, length in enumerate(seconds):
            data = make_h264_mp4(folder / f"source-{n}.mp4", seconds=length)
            items.append(
                insert_evidence(
                    files.settings, database, files.site_key, data, requested_by="pc-one"
                )
            )
            clips.append(data)
    finally:
        database.close()
    return files, items, clips


def export(files: HubFiles, items: list[EvidenceItem], out: Path, *extra: str) -> int:
    return hub_main(
        [
            "exhibit",
            "export",
            "--config",
            str(files.config),
            "--out",
            str(out),
            "--item",
            *[item.clip_id for item in items],
            "--prefix",
            "AB",
            "--as-user",
            "pc-one",
            *extra,
        ]
    )


def unzip_fresh(zip_path: Path, folder: Path) -> Path:
    """Unzip into ``folder`` (made new); the package's own folder inside it."""
    folder.mkdir(parents=True)
    with zipfile.ZipFile(zip_path) as archive:
        archive.extractall(folder)
    (inner,) = [p for p in folder.iterdir() if p.is_dir()]
    return inner


def copy_package(folder: Path, to: Path) -> Path:
    shutil.copytree(folder, to)
    return to


def flip_byte(path: Path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset % len(data)] ^= 0x01
    path.write_bytes(bytes(data))


def edit_custody_row(path: Path, line: int = 0) -> int:
    """Change one custody row's actor (a one-character edit); the row's seq."""
    rows = path.read_bytes().split(b"\n")
    row = json.loads(rows[line])
    rows[line] = rows[line].replace(b'"actor":"', b'"actor":"X', 1)
    path.write_bytes(b"\n".join(rows))
    return int(row["seq"])


def run_packaged_verifier(
    package_folder: Path, target: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """The package's own verify.py, under ``python3 -I -S``: no site-packages, so it can only
    use the standard library (as on a reviewer's machine with nothing installed)."""
    return subprocess.run(
        [
            sys.executable,
            "-I",
            "-S",
            str(package_folder / "verify.py"),
            str(target or package_folder),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
