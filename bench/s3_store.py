"""Benchmark: the S3 evidence store against boto3's own transfers, on one SeaweedFS on loopback.

Run from the repository root: ``.venv/bin/python bench/s3_store.py [--mb 200] [--runs 3]``.
Each round, interleaved so both see the same machine load:

* upload: ``S3EvidenceStore.put_file`` (parts one after another, each with its SHA-256 checked
  by the server, the whole clip hashed, the head read back) vs boto3's ``upload_file``
  (s3transfer: 8 MiB parts, 10 threads, no checksums of ours);
* full read: ``open()`` read to the end (hashed against the key) vs ``get_object`` read to the end;
* playback: 50 reads of 1 MiB at random offsets, ``read_range`` vs ``get_object`` with Range.

It prints the median of each and the store's throughput as a ratio of boto3's (target: at least
0.5 for uploads and full reads; range reads within 1.5x the time). A measurement, not a test.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hub.storage.evidence.s3_objects import MIB, object_key
from tests.support.seaweedfs import PLAIN_BUCKET, SeaweedS3


def timed(action: Callable[[], object]) -> float:
    began = time.perf_counter()
    action()
    return time.perf_counter() - began


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=int, default=200, help="clip size in MB (10^6 bytes)")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="s3bench") as folder:
        work = Path(folder)
        server = SeaweedS3(work / "seaweed")
        server.start()
        try:
            server.create_bucket(PLAIN_BUCKET)
            return run(server, work, args.mb * 1_000_000, args.runs)
        finally:
            server.stop()


def run(server: SeaweedS3, work: Path, size: int, runs: int) -> int:
    data = os.urandom(size)
    rng = random.Random(16)
    results: dict[str, list[float]] = {}
    for round_number in range(runs):
        for name, seconds in one_round(server, work, data, round_number, rng).items():
            results.setdefault(name, []).append(seconds)
    median = {name: statistics.median(times) for name, times in results.items()}
    mb = size / 1_000_000
    print(f"{mb:.0f} MB clip, {runs} rounds, SeaweedFS on loopback; medians:")
    for what in ("upload", "full read"):
        ours, theirs = median[f"{what} store"], median[f"{what} boto3"]
        print(
            f"  {what:9}: store {ours:.2f} s ({mb / ours:.0f} MB/s), boto3 {theirs:.2f} s"
            f" ({mb / theirs:.0f} MB/s): ratio {theirs / ours:.2f} (target >= 0.5)"
        )
    ours, theirs = median["50 ranges store"], median["50 ranges boto3"]
    print(
        f"  1 MiB range reads: store {ours / 50 * 1000:.1f} ms each, boto3"
        f" {theirs / 50 * 1000:.1f} ms each: {ours / theirs:.2f}x the time (target <= 1.5)"
    )
    return 0


def one_round(
    server: SeaweedS3, work: Path, data: bytes, number: int, rng: random.Random
) -> dict[str, float]:
    client = server.client()
    sha = hashlib.sha256(data).hexdigest()
    source = work / "clip.bin"
    source.write_bytes(data)
    staged = work / "staged.bin"
    staged.write_bytes(data)
    store = server.store()
    raw_key = f"raw-{number}/{sha}.mp4"
    offsets = [rng.randrange(0, len(data) - MIB) for _ in range(50)]

    def read_store() -> None:
        with store.open(sha) as handle:
            while handle.read(MIB):
                pass

    def read_raw() -> None:
        body = client.get_object(Bucket=PLAIN_BUCKET, Key=raw_key)["Body"]
        while body.read(MIB):
            pass

    def ranges_store() -> None:
        for start in offsets:
            b"".join(store.read_range(sha, start, MIB))

    def ranges_raw() -> None:
        for start in offsets:
            client.get_object(
                Bucket=PLAIN_BUCKET, Key=raw_key, Range=f"bytes={start}-{start + MIB - 1}"
            )["Body"].read()

    times = {
        "upload store": timed(lambda: store.put_file(staged, sha)),
        "upload boto3": timed(lambda: client.upload_file(str(source), PLAIN_BUCKET, raw_key)),
        "full read store": timed(read_store),
        "full read boto3": timed(read_raw),
        "50 ranges store": timed(ranges_store),
        "50 ranges boto3": timed(ranges_raw),
    }
    client.delete_object(Bucket=PLAIN_BUCKET, Key=object_key(store.settings.prefix, sha))
    client.delete_object(Bucket=PLAIN_BUCKET, Key=raw_key)
    return times


if __name__ == "__main__":
    raise SystemExit(main())
