"""The content-addressed evidence store: every test of the port runs on a real file system and
on a real S3 server (SeaweedFS, tests/support/seaweedfs.py); the layout and file modes are the
filesystem store's own. S3-only behaviour is in test_s3_evidence_store.py."""

from __future__ import annotations

import hashlib
import stat
from pathlib import Path

import pytest

from hub.storage.evidence.store import (
    EvidenceStore,
    FilesystemEvidenceStore,
    InvalidKey,
    NotInStore,
    StoreError,
)


def staged(tmp_path: Path, data: bytes, name: str = "clip.part") -> tuple[Path, str]:
    path = tmp_path / name
    path.write_bytes(data)
    return path, hashlib.sha256(data).hexdigest()


def test_put_file_moves_the_file_under_its_hash_read_only(tmp_path: Path) -> None:
    store = FilesystemEvidenceStore(tmp_path / "evidence")
    data = b"evidence bytes" * 1000
    path, sha = staged(tmp_path, data)
    key = store.put_file(path, sha)
    final = tmp_path / "evidence" / sha[:2] / sha[2:4] / f"{sha}.mp4"
    assert key == sha
    assert final.read_bytes() == data
    assert stat.S_IMODE(final.stat().st_mode) == 0o440
    assert not path.exists()
    assert store.exists(sha) and store.size(sha) == len(data)
    assert not list(final.parent.glob(".*.tmp"))


@pytest.fixture(params=["filesystem", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> EvidenceStore:
    if request.param == "filesystem":
        return FilesystemEvidenceStore(tmp_path / "evidence")
    s3: EvidenceStore = request.getfixturevalue("seaweed").store()
    return s3


def test_put_file_stores_the_file_under_its_hash(store: EvidenceStore, tmp_path: Path) -> None:
    data = b"evidence bytes" * 1000
    path, sha = staged(tmp_path, data)
    assert not store.exists(sha)
    assert store.put_file(path, sha) == sha
    assert not path.exists()
    assert store.exists(sha) and store.size(sha) == len(data)
    with store.open(sha) as handle:
        assert handle.read() == data


def test_putting_the_same_content_twice_is_idempotent(store: EvidenceStore, tmp_path: Path) -> None:
    data = b"same"
    first, sha = staged(tmp_path, data, "a.part")
    second, _ = staged(tmp_path, data, "b.part")
    assert store.put_file(first, sha) == store.put_file(second, sha)
    assert not second.exists()
    assert store.size(sha) == 4


def test_ranges_are_read_in_blocks(store: EvidenceStore, tmp_path: Path) -> None:
    data = bytes(range(256)) * 4096  # 1 MiB
    path, sha = staged(tmp_path, data)
    store.put_file(path, sha)
    assert b"".join(store.read_range(sha, 1000, 600_000)) == data[1000:601_000]
    assert b"".join(store.read_range(sha, 0, len(data))) == data
    assert b"".join(store.read_range(sha, len(data) - 1, 1)) == data[-1:]
    assert b"".join(store.read_range(sha, 5, 0)) == b""
    with store.open(sha) as handle:
        assert handle.read(10) == data[:10]


def test_bad_ranges_and_missing_keys_are_store_errors(store: EvidenceStore, tmp_path: Path) -> None:
    data = b"x" * 1000
    path, sha = staged(tmp_path, data)
    with pytest.raises(NotInStore):
        list(store.read_range(sha, 0, 10))
    with pytest.raises(NotInStore):
        store.open(sha)
    store.put_file(path, sha)
    with pytest.raises(StoreError):
        list(store.read_range(sha, -1, 10))
    with pytest.raises(StoreError):
        list(store.read_range(sha, 990, 20))  # past the end


@pytest.mark.parametrize(
    "key", ["../../etc/passwd", "A" * 64, "ab" * 31, "", "0" * 63 + "/", "../" + "a" * 61]
)
def test_keys_that_are_not_sha256_never_become_paths(
    store: EvidenceStore, tmp_path: Path, key: str
) -> None:
    for call in (store.exists, store.size, store.open, store.delete):
        with pytest.raises(InvalidKey):
            call(key)
    with pytest.raises(InvalidKey):
        list(store.read_range(key, 0, 1))
    staging, _ = staged(tmp_path, b"data")
    with pytest.raises(InvalidKey):
        store.put_file(staging, key)
    assert staging.exists()


def test_missing_and_deleted_items(store: EvidenceStore, tmp_path: Path) -> None:
    path, sha = staged(tmp_path, b"gone soon")
    with pytest.raises(NotInStore):
        store.size(sha)
    store.put_file(path, sha)
    store.delete(sha)
    assert not store.exists(sha)
    with pytest.raises(NotInStore):
        store.delete(sha)
