"""Derived items made at the hub from a master: a redacted copy (faces the detector finds come out
blurred, fixed and following boxes too), a court-playable H.264 copy of an H.265 master, and a
copy with the time burnt in. Each names its source's SHA-256 and operation in a manifest signed
by the hub key; the master is never changed. Through the CLI, a derived item joins an export
package that both verifiers accept."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from cctv_common.evidence.signing import key_id, verify
from hub.cli import main as hub_main
from hub.exhibits.derive.operations import DeriveJob, derive
from hub.exhibits.derive.redaction import FixedBox, FollowingBox, RedactionPlan
from hub.exhibits.derive.video_pass import DeriveError
from tests.support.exhibit_kit import (
    export,
    flip_byte,
    hub_with_clips,
    run_packaged_verifier,
    unzip_fresh,
)
from tests.support.face_video import (
    face_frames,
    faces_found,
    read_frames,
    sharpness,
    video_codec,
    write_video,
)
from tests.support.hub_kit import signed_clip

pytestmark = pytest.mark.slow
WIDTH, HEIGHT, FRAMES = 640, 360, 30


def _job(
    tmp_path: Path, codec: str, operation: str, **extra: object
) -> tuple[DeriveJob, bytes, list[Any]]:
    frames = face_frames(WIDTH, HEIGHT, FRAMES)
    master = tmp_path / f"master-{codec}.mp4"
    data = write_video(master, [p for p, _ in frames], codec=codec)
    clip = signed_clip(
        Ed25519PrivateKey.generate(),
        data,
        job_id="job-1",
        codec="h265" if codec == "libx265" else "h264",
        width=WIDTH,
        height=HEIGHT,
    )
    job = DeriveJob(
        operation=operation,
        source=master,
        source_manifest_bytes=clip.offer.manifest_bytes(),
        out_dir=tmp_path / f"out-{operation}",
        hub_id="test-hub",
        hub_key=Ed25519PrivateKey.generate(),
        created_by="supervisor",
        created_at=datetime.now(UTC),
        **extra,  # type: ignore[arg-type]
    )
    return job, data, frames


def _check_manifest(job: DeriveJob, data: bytes, operation: str) -> dict[str, Any]:
    manifest_bytes = (job.out_dir / "manifest.json").read_bytes()
    verify(job.hub_key.public_key(), manifest_bytes, (job.out_dir / "manifest.sig").read_text())
    info = json.loads(manifest_bytes)
    assert info["source"]["sha256"] == hashlib.sha256(data).hexdigest()
    assert info["operation"]["name"] == operation
    assert info["key_id"] == key_id(job.hub_key)
    assert info["sha256"] == hashlib.sha256((job.out_dir / "derived.mp4").read_bytes()).hexdigest()
    assert info["made_at"] == "hub:test-hub"
    return info


def test_redaction_blurs_the_faces_the_detector_finds_and_leaves_the_master(tmp_path: Path) -> None:
    plan = RedactionPlan(fixed=(FixedBox((0, 0, 80, 60), 0.4, 0.8),))
    job, data, frames = _job(tmp_path, "libx264", "redact", redaction=plan)
    source_frames = read_frames(Path(str(job.source)))
    assert all(faces_found(p) == 2 for p in source_frames[::5])  # the detector finds them
    result = derive(job)
    assert Path(str(job.source)).read_bytes() == data  # the master is untouched
    info = _check_manifest(job, data, "redact")
    assert info["operation"]["parameters"]["faces"] is True
    assert result.stats["face_frames"] == FRAMES
    out = read_frames(job.out_dir / "derived.mp4")
    assert len(out) == FRAMES
    for n in range(0, FRAMES, 3):
        assert faces_found(out[n]) == 0, f"a face is still found on frame {n}"
        for box in frames[n][1]:
            before, after = sharpness(source_frames[n], box), sharpness(out[n], box)
            assert after < before * 0.15, (n, box, before, after)
        untouched = (WIDTH // 2 - 30, HEIGHT - 80, 60, 60)  # between and below the faces
        assert sharpness(out[n], untouched) > sharpness(source_frames[n], untouched) * 0.5
    corner = (0, 0, 80, 60)  # the fixed box: blurred from 0.4 s to 0.8 s only (frames 10-20)
    assert sharpness(out[15], corner) < sharpness(source_frames[15], corner) * 0.15
    assert sharpness(out[2], corner) > sharpness(source_frames[2], corner) * 0.5


def test_a_following_box_follows_what_it_was_drawn_around(tmp_path: Path) -> None:
    plan = RedactionPlan(faces=False, following=(FollowingBox((120, 110, 110, 140), 0.0),))
    job, _, frames = _job(tmp_path, "libx264", "redact", redaction=plan)
    derive(job)
    source_frames = read_frames(Path(str(job.source)))
    out = read_frames(job.out_dir / "derived.mp4")
    last = FRAMES - 1
    face = frames[last][1][0]  # the left face has moved 58 px right since frame 0
    inner = (face[0] + 20, face[1] + 25, face[2] - 40, face[3] - 50)
    assert sharpness(out[last], inner) < sharpness(source_frames[last], inner) * 0.2
    assert faces_found(out[last]) == 1  # the other face was not asked for


def test_h265_master_gives_a_court_playable_h264_copy(tmp_path: Path) -> None:
    job, data, _ = _job(tmp_path, "libx265", "h264")
    assert video_codec(Path(str(job.source))) == "hevc"
    result = derive(job)
    assert video_codec(job.out_dir / "derived.mp4") == "h264"
    assert result.frames == FRAMES
    info = _check_manifest(job, data, "h264")
    assert info["source"]["codec"] == "h265" and info["codec"] == "h264"


def test_timestamp_copy_has_the_time_burnt_in(tmp_path: Path) -> None:
    job, data, _ = _job(tmp_path, "libx264", "timestamp")
    derive(job)
    _check_manifest(job, data, "timestamp")
    source_frames, out = (
        read_frames(Path(str(job.source))),
        read_frames(job.out_dir / "derived.mp4"),
    )
    band = out[0][0:20, 0:200]
    assert band.mean() < source_frames[0][0:20, 0:200].mean() - 20  # the dark label band
    assert not (out[0][5:25, 10:300] == out[FRAMES - 1][5:25, 10:300]).all()  # the time moves


def test_bad_source_fails_and_leaves_nothing(tmp_path: Path) -> None:
    job, _, _ = _job(tmp_path, "libx264", "h264")
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"not a video" * 100)
    with pytest.raises(DeriveError):
        derive(DeriveJob(**{**job.__dict__, "source": bad}))
    assert not job.out_dir.exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


@pytest.mark.usefixtures("hub_engine")  # SQLite, then PostgreSQL
def test_cli_redacts_a_stored_item_and_exports_it_with_the_master(tmp_path: Path) -> None:
    files, items, _ = hub_with_clips(tmp_path, seconds=(2,))
    out_dir = tmp_path / "redacted"
    code = hub_main(
        [
            "exhibit",
            "derive",
            "--config",
            str(files.config),
            "--item",
            items[0].clip_id,
            "--op",
            "redact",
            "--box",
            "10,10,50,50",
            "--out",
            str(out_dir),
            "--as-user",
            "supervisor",
        ]
    )
    assert code == 0
    package = tmp_path / "package.zip"
    assert export(files, items, package, "--derived", str(out_dir)) == 0
    folder = unzip_fresh(package, tmp_path / "fresh")
    result = run_packaged_verifier(folder)
    assert result.returncode == 0, result.stdout
    assert "exhibit AB/1/R1: derived item (redact) of AB/1" in result.stdout
    flip_byte(folder / "exhibits" / "AB-1-R1" / "manifest.json", 30)
    result = run_packaged_verifier(folder)
    assert result.returncode == 1
    assert "FAIL  exhibit AB/1/R1: exhibits/AB-1-R1/manifest.json: signature" in result.stdout
    flip_byte(out_dir / "manifest.json", 30)  # a derived item the hub did not sign as it is
    refused = tmp_path / "refused.zip"
    assert export(files, items, refused, "--derived", str(out_dir)) == 1
    assert not refused.exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".part")] == []
