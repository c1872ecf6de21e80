"""The S3 evidence store against a real S3 server (SeaweedFS): multipart with per-part SHA-256,
the whole-object SHA-256 re-checked on every full read, Object Lock, and what it reports.

The port's common behaviour (put, ranges, bad keys, delete) runs on both stores in
test_hub_store.py; this file is what only S3 has.
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from botocore.exceptions import ClientError
from urllib3.exceptions import ProtocolError

from hub.storage.evidence.s3_objects import (
    MIB,
    ObjectDamaged,
    StoreUnavailable,
    VerifyingReader,
    b64,
    composite_sha256,
    object_key,
    part_size,
    verified_blocks,
)
from hub.storage.evidence.s3_store import S3EvidenceStore
from hub.storage.evidence.store import StoreError
from hub.storage.evidence.verify import check_object
from tests.support.seaweedfs import LOCKED_BUCKET, PLAIN_BUCKET, SeaweedS3


def staged(tmp_path: Path, data: bytes, name: str = "clip.part") -> tuple[Path, str]:
    path = tmp_path / name
    path.write_bytes(data)
    return path, hashlib.sha256(data).hexdigest()


def name_of(store: S3EvidenceStore, sha: str) -> str:
    return object_key(store.settings.prefix, sha)


def pending_uploads(seaweed: SeaweedS3, store: S3EvidenceStore) -> list[str]:
    answer = seaweed.client().list_multipart_uploads(
        Bucket=store.bucket, Prefix=store.settings.prefix
    )
    return [upload["Key"] for upload in answer.get("Uploads", [])]


def replace_in_bucket(seaweed: SeaweedS3, store: S3EvidenceStore, sha: str, data: bytes) -> None:
    """What a hand with write access to the bucket does: another object under the same name."""
    seaweed.client().put_object(Bucket=store.bucket, Key=name_of(store, sha), Body=data)


def test_part_sizes_and_the_composite_checksum() -> None:
    assert part_size(50_000_000, 16 * MIB) == 16 * MIB
    assert part_size(10_000 * 16 * MIB + 1, 16 * MIB) == 17 * MIB  # never over 10,000 parts
    digests = [hashlib.sha256(b"a").digest(), hashlib.sha256(b"b").digest()]
    expected = b64(hashlib.sha256(digests[0] + digests[1]).digest()) + "-2"
    assert composite_sha256(digests) == expected


def test_a_50_mb_clip_goes_up_in_parts_each_with_its_sha256(
    seaweed: SeaweedS3, tmp_path: Path
) -> None:
    store = seaweed.store(part_size_mb=16)
    data = os.urandom(50_000_000)
    path, sha = staged(tmp_path, data)
    began = time.perf_counter()
    assert store.put_file(path, sha) == sha
    seconds = time.perf_counter() - began
    print(f"50 MB multipart upload to SeaweedFS: {seconds:.2f} s ({50 / seconds:.0f} MB/s)")
    assert not path.exists()
    head = seaweed.client().head_object(
        Bucket=store.bucket, Key=name_of(store, sha), ChecksumMode="ENABLED"
    )
    assert head["ContentLength"] == len(data)
    assert head["ETag"].strip('"').endswith("-3")  # 16 + 16 + 15.7 MiB
    parts = [data[i : i + 16 * MIB] for i in range(0, len(data), 16 * MIB)]
    assert head.get("ChecksumSHA256") == composite_sha256(
        [hashlib.sha256(part).digest() for part in parts]
    )
    assert head["Metadata"] == {"sha256": sha} and head["ContentType"] == "video/mp4"
    assert pending_uploads(seaweed, store) == []
    result = check_object(store, sha, sha, len(data))  # the hub's integrity check, via the port
    assert result.ok and result.bytes_read == len(data)
    # Ranges for playback, across the parts' edges, and the whole object through read_range.
    edge = 16 * MIB
    for start, length in [(0, 1), (edge - 100, 200), (2 * edge - 1, 2), (len(data) - 7, 7)]:
        assert b"".join(store.read_range(sha, start, length)) == data[start : start + length]
    assert b"".join(store.read_range(sha, 0, len(data))) == data


@pytest.mark.parametrize("size", [1000, 6 * MIB])  # one request; a multipart upload
def test_a_staged_file_that_is_not_its_key_is_not_stored(
    seaweed: SeaweedS3, tmp_path: Path, size: int
) -> None:
    store = seaweed.store(part_size_mb=5)
    path, _ = staged(tmp_path, os.urandom(size))
    claimed = hashlib.sha256(b"something else").hexdigest()
    with pytest.raises(StoreError, match="hash"):
        store.put_file(path, claimed)
    assert path.exists()  # the staged copy is kept
    assert not store.exists(claimed)
    assert pending_uploads(seaweed, store) == []  # the multipart upload was aborted


def test_the_server_refuses_a_part_whose_sha256_does_not_match(seaweed: SeaweedS3) -> None:
    client = seaweed.client()
    key = f"t-refused/{os.urandom(4).hex()}"
    upload = client.create_multipart_upload(
        Bucket=PLAIN_BUCKET, Key=key, ChecksumAlgorithm="SHA256"
    )
    try:
        with pytest.raises(ClientError) as refused:
            client.upload_part(
                Bucket=PLAIN_BUCKET,
                Key=key,
                UploadId=upload["UploadId"],
                PartNumber=1,
                Body=b"the bytes sent",
                ChecksumSHA256=b64(hashlib.sha256(b"other bytes").digest()),
            )
        assert refused.value.response["Error"]["Code"] == "BadDigest"
    finally:
        client.abort_multipart_upload(Bucket=PLAIN_BUCKET, Key=key, UploadId=upload["UploadId"])


def test_an_object_replaced_in_the_bucket_is_found_by_the_recheck(
    seaweed: SeaweedS3, tmp_path: Path
) -> None:
    store = seaweed.store()
    data = os.urandom(700_000)
    path, sha = staged(tmp_path, data)
    store.put_file(path, sha)
    forged = bytearray(data)
    forged[5000] ^= 0xFF
    replace_in_bucket(seaweed, store, sha, bytes(forged))
    assert store.size(sha) == len(data)  # same size: only the hash can tell
    with pytest.raises(ObjectDamaged, match=f"hashes to {hashlib.sha256(forged).hexdigest()}"):
        with store.open(sha) as handle:
            handle.read()
    result = check_object(store, sha, sha, len(data))
    assert not result.ok and result.problem is not None and "not its key" in result.problem
    served = bytearray()
    with pytest.raises(ObjectDamaged):
        for block in store.read_range(sha, 0, len(data)):
            served += block
    assert len(served) < len(data)  # a damaged object is never served complete
    # The verified copy, staged again (a replay), replaces the damaged one.
    path, _ = staged(tmp_path, data)
    store.put_file(path, sha)
    assert check_object(store, sha, sha, len(data)).ok


@pytest.mark.slow
def test_a_flipped_byte_on_the_servers_disk_is_not_served(
    seaweed: SeaweedS3, tmp_path: Path
) -> None:
    """Rot under the S3 server: SeaweedFS's own needle checksum refuses the read; either way
    the hub gets a ``StoreError``, never the flipped bytes."""
    store = seaweed.store(max_attempts=1)
    data = os.urandom(2 * MIB)
    path, sha = staged(tmp_path, data)
    store.put_file(path, sha)
    marker = data[MIB : MIB + 64]
    flipped = 0
    for volume in seaweed.workdir.rglob(f"{PLAIN_BUCKET}_*.dat"):
        content = volume.read_bytes()
        at = content.find(marker)
        if at >= 0:
            with volume.open("r+b") as handle:
                handle.seek(at + 10)
                handle.write(bytes([content[at + 10] ^ 0xFF]))
            flipped += 1
    assert flipped == 1
    result = check_object(store, sha, sha, len(data))
    assert not result.ok and result.problem is not None, result


def test_object_lock_keeps_the_version_the_hub_wrote(
    seaweed: SeaweedS3, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    seaweed.need_object_lock()
    store = seaweed.store(LOCKED_BUCKET, object_lock_mode="compliance", object_lock_days=1)
    report = store.probe()
    assert report.lock_enabled and report.versioned and not report.problems
    data = os.urandom(300_000)
    path, sha = staged(tmp_path, data)
    before = datetime.now(UTC)
    store.put_file(path, sha)
    client = seaweed.client()
    head = client.head_object(Bucket=LOCKED_BUCKET, Key=name_of(store, sha))
    assert head["ObjectLockMode"] == "COMPLIANCE"
    until = head["ObjectLockRetainUntilDate"]
    assert before + timedelta(days=1) - timedelta(minutes=5) <= until
    assert until <= datetime.now(UTC) + timedelta(days=1, minutes=5)
    # A later upload under the same name, then a plain DELETE (a delete marker): the store
    # still reads the first, locked version, and says what else it found.
    caplog.set_level(logging.WARNING, logger="hub.storage.evidence.s3_store")
    replace_in_bucket(seaweed, store, sha, os.urandom(300_000))
    client.delete_object(Bucket=LOCKED_BUCKET, Key=name_of(store, sha))
    fresh = seaweed.store(
        LOCKED_BUCKET,
        prefix=store.settings.prefix,
        object_lock_mode="compliance",
        object_lock_days=1,
    )
    assert check_object(fresh, sha, sha, len(data)).ok
    assert "2 version(s) and 1 delete marker(s)" in caplog.text
    # Its retention cannot be shortened, nor the locked version deleted, by the hub or anyone.
    with pytest.raises(StoreError, match=r"under Object Lock \(COMPLIANCE\) until"):
        fresh.delete(sha)
    assert fresh.exists(sha)
    version = head["VersionId"]
    with pytest.raises(ClientError):
        client.delete_object(Bucket=LOCKED_BUCKET, Key=name_of(store, sha), VersionId=version)


def test_a_bucket_with_versioning_but_no_lock_deletes_every_version(
    seaweed: SeaweedS3, tmp_path: Path
) -> None:
    bucket = f"versioned-{os.urandom(3).hex()}"
    seaweed.create_bucket(bucket)
    client = seaweed.client()
    client.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    store = seaweed.store(bucket)
    assert store.probe().versioning == "Enabled"
    path, sha = staged(tmp_path, b"clip" * 1000)
    store.put_file(path, sha)
    replace_in_bucket(seaweed, store, sha, b"other")
    store.delete(sha)
    assert not store.exists(sha)
    listed = client.list_object_versions(Bucket=bucket, Prefix=store.settings.prefix)
    assert not listed.get("Versions") and not listed.get("DeleteMarkers")


def test_what_the_probe_reports(seaweed: SeaweedS3) -> None:
    plain = seaweed.store().probe()
    assert plain.reachable and plain.versioning == "off" and plain.object_lock == "not enabled"
    assert not plain.problems and "not write-once" in plain.warnings[0]
    asked = seaweed.store(object_lock_mode="governance", object_lock_days=30).probe()
    assert "has Object Lock not enabled" in asked.problems[0]
    missing = seaweed.store("no-such-bucket").probe()
    assert "does not exist" in missing.problems[0]
    if seaweed.no_object_lock is None:
        bucket = f"default-lock-{os.urandom(3).hex()}"
        seaweed.create_bucket(bucket, object_lock=True)
        seaweed.client().put_object_lock_configuration(
            Bucket=bucket,
            ObjectLockConfiguration={
                "ObjectLockEnabled": "Enabled",
                "Rule": {"DefaultRetention": {"Mode": "COMPLIANCE", "Days": 3}},
            },
        )
        default = seaweed.store(bucket).probe()
        assert default.default_retention == "COMPLIANCE for 3 days" and not default.warnings
        assert "default retention COMPLIANCE for 3 days" in default.summary()


def test_refused_credentials_and_a_silent_server(seaweed: SeaweedS3, tmp_path: Path) -> None:
    wrong = tmp_path / "wrong"
    wrong.write_text(
        f"[default]\naws_access_key_id = {seaweed.access_key}\naws_secret_access_key = nope\n",
        encoding="utf-8",
    )
    wrong.chmod(0o600)
    refused = seaweed.store(credentials_file=wrong, max_attempts=1).probe()
    assert "refused the credentials" in refused.problems[0]
    # Nothing listens on the endpoint: a warning at start, a StoreError on use, no crash.
    silent = seaweed.store(
        endpoint_url="http://127.0.0.1:9", max_attempts=1, connect_timeout_seconds=2
    )
    report = silent.probe()
    assert not report.reachable and "cannot reach" in report.warnings[0]
    path, sha = staged(tmp_path, b"clip")
    with pytest.raises(StoreUnavailable, match="not usable"):
        silent.put_file(path, sha)
    assert path.exists()
    with pytest.raises(StoreUnavailable):
        silent.size(sha)


class CutBody:
    """A response body whose connection drops (or that just ends) after ``good`` bytes."""

    def __init__(self, data: bytes, good: int, *, reset: bool = True) -> None:
        self.data, self.good, self.at, self.closed, self.reset = data, good, 0, False, reset

    def read(self, amt: int | None = None) -> bytes:
        if self.at >= self.good:
            if not self.reset:
                return b""
            raise ProtocolError("Connection broken: reset by peer")
        end = min(self.good, self.at + (amt or len(self.data)))
        block, self.at = self.data[self.at : end], end
        return block

    def close(self) -> None:
        self.closed = True


def test_a_connection_dropped_mid_read_is_an_unavailable_store_not_short_evidence() -> None:
    data = os.urandom(600_000)
    sha = hashlib.sha256(data).hexdigest()
    body = CutBody(data, 300_000)
    with pytest.raises(StoreUnavailable, match="failed after 300000 bytes"):
        with io.BufferedReader(VerifyingReader(body, sha, len(data))) as handle:
            handle.read()
    assert body.closed
    body = CutBody(data, 300_000)
    served = bytearray()
    with pytest.raises(StoreUnavailable, match="failed at byte 300000"):
        for block in verified_blocks(body, sha, 0, len(data), len(data)):
            served += block
    assert len(served) < len(data) and body.closed
    short = CutBody(data, 1000, reset=False)  # a server that sends less than it said
    with pytest.raises(ObjectDamaged, match="read back as 1000 bytes"):
        io.BufferedReader(VerifyingReader(short, sha, len(data))).read()
