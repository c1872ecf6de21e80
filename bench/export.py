"""Benchmark: an export package of 4 clips of 5 min at 1080p 4 Mbit/s against ``zip -0`` of the
same files in the same run, and redaction (and H.264 copy) speed in frames per second at 1080p.

Run from the repository root: ``.venv/bin/python bench/export.py [--minutes 5] [--runs 3]``.

The clips are real H.264 (ffmpeg testsrc2, 1080p25, 4 Mbit/s: 30 s encoded, then stream-copied
to the length asked), each made distinct by an MP4 ``free`` box of random bytes. Each round,
interleaved so both see the same machine and page cache: ``build_package`` (every master hashed
as copied and checked against its signed manifest, PDFs, verifiers, signed package manifest,
fsync and rename) vs ``zip -0 -q`` of the four clips, and ``zip -0`` followed by ``sync`` of its
file (the package is fsynced; plain zip is not). Target: export <= 1.3x ``zip -0``.

Redaction: 10 s of 1080p25 with two drawn faces (tests/support/face_video.py) through the hub's
redactor and libx264 (veryfast, crf 18), interleaved with the plain H.264 copy of the same
video as its baseline; frames per second (realtime is 25) and CPU time a frame
(``--redaction-only`` runs just this).
A measurement, not a test.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import secrets
import shutil
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from cctv_common.evidence.manifest import CameraIdentity, Manifest, Software, Window
from cctv_common.evidence.signing import key_id, public_key_pem, sign
from hub.domain.custody import GENESIS_HASH, row_hash
from hub.exhibits.derive.operations import DeriveJob, derive
from hub.exhibits.inputs import MasterExhibit, PackageRequest, opener_for
from hub.exhibits.package import build_package
from hub.exhibits.package_zip import PackageZip


def _ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", *args], check=True)


def make_clips(folder: Path, minutes: float, count: int) -> list[Path]:
    piece = folder / "piece.mp4"
    _ffmpeg(
        "-f", "lavfi", "-i", "testsrc2=size=1920x1080:rate=25:duration=30",
        "-c:v", "libx264", "-preset", "ultrafast", "-b:v", "4M", "-maxrate", "4M",
        "-bufsize", "8M", "-g", "50", "-pix_fmt", "yuv420p", str(piece),
    )  # fmt: skip
    repeats = max(1, round(minutes * 60 / 30))
    listing = folder / "list.txt"
    listing.write_text("".join(f"file '{piece}'\n" for _ in range(repeats)))
    long = folder / "long.mp4"
    _ffmpeg("-f", "concat", "-safe", "0", "-i", str(listing), "-c", "copy", str(long))
    clips = []
    for n in range(count):
        clip = folder / f"clip-{n}.mp4"
        shutil.copyfile(long, clip)
        with clip.open("ab") as handle:  # a free box of random bytes: another clip, same video
            handle.write(struct.pack(">I", 4096 + 8) + b"free" + secrets.token_bytes(4096))
        clips.append(clip)
    return clips


def _custody(clip_id: str, start_seq: int, prev: str) -> tuple[list[dict[str, object]], str]:
    rows = []
    for n, action in enumerate(("dispatch", "stored", "view", "download")):
        seq = start_seq + n
        at = (datetime.now(UTC) + timedelta(seconds=n)).isoformat()
        body = {"seq": seq, "at": at, "actor": "pc-one", "action": action}
        detail = {"clip": clip_id}
        digest = row_hash(seq, at, "pc-one", action, f"clip:{clip_id}", detail, prev)
        rows.append(
            {
                **body,
                "subject": f"clip:{clip_id}",
                "detail": detail,
                "prev_hash": prev,
                "hash": digest,
            }
        )
        prev = digest
    return rows, prev


def masters(clips: list[Path], site_key: Ed25519PrivateKey) -> list[MasterExhibit]:
    out, prev, seq = [], GENESIS_HASH, 1
    start = datetime.now(UTC) - timedelta(hours=1)
    for n, clip in enumerate(clips):
        digest = hashlib.sha256(clip.read_bytes()).hexdigest()
        window = Window(start=start, end=start + timedelta(minutes=5))
        manifest = Manifest(
            clip_id=f"clip-{n}", site_id="site-a",
            camera=CameraIdentity(id=f"cam-{n}", name="Bench camera"),
            requested=window, delivered=window, codec="h264", width=1920, height=1080,
            fps=25.0, bytes=clip.stat().st_size, sha256=digest,
            software=Software(name="bench", version="0"), created_at=datetime.now(UTC),
            key_id=key_id(site_key),
        )  # fmt: skip
        data = manifest.canonical_bytes()
        rows, prev = _custody(f"clip-{n}", seq, prev)
        seq += len(rows)
        out.append(
            MasterExhibit(
                reference=f"BN/{n + 1}", open=opener_for(clip), manifest_bytes=data,
                signature=sign(site_key, data), site_public_key_pem=public_key_pem(site_key),
                custody_rows=rows,
            )
        )  # fmt: skip
    return out


def time_export(
    items: list[MasterExhibit], hub_key: Ed25519PrivateKey, out: Path, overlap: bool = True
) -> float:
    PackageZip.overlap_hash = overlap
    now = datetime.now(UTC)
    request = PackageRequest(
        package_id=f"EXP-bench-{secrets.token_hex(3)}", created_by="pc-one", created_at=now,
        hub_id="bench-hub", hub_key=hub_key, masters=items,
        disclosure={"request": "REQ-1", "disclosed_to": "CPS"},
    )  # fmt: skip
    began = time.perf_counter()
    build_package(request, out)
    return time.perf_counter() - began


def time_zip(clips: list[Path], out: Path, sync: bool) -> float:
    began = time.perf_counter()
    subprocess.run(["zip", "-0", "-q", "-j", str(out), *map(str, clips)], check=True)
    if sync:
        with out.open("rb") as handle:
            os.fsync(handle.fileno())
    return time.perf_counter() - began


@dataclass(frozen=True)
class PassTiming:
    fps: float  # frames per second, wall clock
    cpu_ms: float  # CPU time a frame, every thread of this process
    face_frames: int


def face_source(folder: Path, seconds: int) -> tuple[Path, bytes]:
    """``seconds`` of 1080p25 with two drawn faces (tests/support/face_video.py)."""
    from tests.support.face_video import face_frames, write_video

    frames = face_frames(1920, 1080, seconds * 25)
    source = folder / "faces.mp4"
    return source, write_video(source, [p for p, _ in frames])


def derive_timing(folder: Path, source: Path, data: bytes, operation: str) -> PassTiming:
    site_key = Ed25519PrivateKey.generate()
    window = Window(start=datetime.now(UTC), end=datetime.now(UTC) + timedelta(seconds=10))
    manifest = Manifest(
        clip_id="faces", site_id="site-a", camera=CameraIdentity(id="cam-1"), requested=window,
        delivered=window, codec="h264", width=1920, height=1080, fps=25.0, bytes=len(data),
        sha256=hashlib.sha256(data).hexdigest(), software=Software(name="bench", version="0"),
        created_at=datetime.now(UTC), key_id=key_id(site_key),
    )  # fmt: skip
    out_dir = folder / f"derived-{operation}-{secrets.token_hex(3)}"
    job = DeriveJob(
        operation=operation, source=source, source_manifest_bytes=manifest.canonical_bytes(),
        out_dir=out_dir, hub_id="bench-hub", hub_key=Ed25519PrivateKey.generate(),
        created_by="bench", created_at=datetime.now(UTC),
    )  # fmt: skip
    cpu, began = time.process_time(), time.perf_counter()
    result = derive(job)
    elapsed, cpu = time.perf_counter() - began, time.process_time() - cpu
    shutil.rmtree(out_dir)
    return PassTiming(
        result.frames / elapsed, 1000 * cpu / result.frames, result.stats.get("face_frames", 0)
    )


def time_redaction(folder: Path, seconds: int, runs: int) -> None:
    """Redaction against the plain H.264 copy (decode + libx264, the same encoder settings) in
    interleaved rounds: the copy is the floor redaction cannot go under, and the ratio holds
    on a loaded machine where absolute frames per second do not. CPU time a frame is printed
    too, with the frames per second it gives if the process had both cores to itself."""
    source, data = face_source(folder, seconds)
    timings: dict[str, list[PassTiming]] = {"redact": [], "h264": []}
    for _ in range(runs):
        for operation in timings:
            timings[operation].append(derive_timing(folder, source, data, operation))
    fps = {op: statistics.median(t.fps for t in runs_) for op, runs_ in timings.items()}
    cpu = {op: statistics.median(t.cpu_ms for t in runs_) for op, runs_ in timings.items()}
    cores = os.cpu_count() or 1
    for operation, runs_ in timings.items():
        faces = f", faces blurred on {runs_[0].face_frames} frames" if operation == "redact" else ""
        print(
            f"{operation} at 1080p: {fps[operation]:.1f} frames/s (realtime 25), runs"
            f" {_runs([t.fps for t in runs_])}; {cpu[operation]:.1f} ms CPU a frame"
            f" (= {cores * 1000 / cpu[operation]:.0f} frames/s on {cores} idle cores){faces}"
        )
    print(
        f"redact / h264 copy: {fps['redact'] / fps['h264']:.2f}x the frame rate,"
        f" {cpu['redact'] / cpu['h264']:.2f}x the CPU a frame"
    )


def _runs(values: list[float]) -> str:
    return ", ".join(f"{v:.2f}" for v in values)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=5.0)
    parser.add_argument("--clips", type=int, default=4)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--redact-seconds", type=int, default=10)
    parser.add_argument("--workdir", type=Path, default=None, help="default: a temporary folder")
    parser.add_argument("--redaction-only", action="store_true", help="skip the export rounds")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=args.workdir) as name:
        folder = Path(name)
        if args.redaction_only:
            time_redaction(folder, args.redact_seconds, args.runs)
            return 0
        began = time.perf_counter()
        clips = make_clips(folder, args.minutes, args.clips)
        total = sum(c.stat().st_size for c in clips)
        print(
            f"{len(clips)} clips of {args.minutes:g} min 1080p: {total / 1e6:.0f} MB"
            f" (made in {time.perf_counter() - began:.0f} s)"
        )
        items = masters(clips, Ed25519PrivateKey.generate())
        hub_key = Ed25519PrivateKey.generate()
        exports, inline, zips, zips_synced = [], [], [], []
        for run in range(args.runs):
            for path in folder.glob("*.zip"):
                path.unlink()
            exports.append(time_export(items, hub_key, folder / f"package-{run}.zip"))
            inline.append(time_export(items, hub_key, folder / f"inline-{run}.zip", False))
            zips.append(time_zip(clips, folder / f"plain-{run}.zip", sync=False))
            zips_synced.append(time_zip(clips, folder / f"synced-{run}.zip", sync=True))
        export_s, zip_s, synced_s = map(statistics.median, (exports, zips, zips_synced))
        rate = total / export_s / 1e6
        print(f"export package:    {export_s:6.2f} s ({rate:.0f} MB/s), runs {_runs(exports)}")
        inline_s = statistics.median(inline)
        print(f"  SHA-256 in line: {inline_s:6.2f} s, runs {_runs(inline)} (no second thread)")
        print(f"zip -0:            {zip_s:6.2f} s, runs {_runs(zips)}")
        print(f"zip -0 then fsync: {synced_s:6.2f} s, runs {_runs(zips_synced)}")
        print(f"export / zip -0 = {export_s / zip_s:.2f}x (target <= 1.3x);"
              f" export / (zip -0 + fsync) = {export_s / synced_s:.2f}x;"
              f" SHA-256 in line / zip -0 = {inline_s / zip_s:.2f}x")  # fmt: skip
        for path in folder.glob("*.zip"):
            path.unlink()
        time_redaction(folder, args.redact_seconds, args.runs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
