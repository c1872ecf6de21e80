"""The content-addressed evidence store on a real file system."""

from __future__ import annotations

import hashlib
import stat
from pathlib import Path

import pytest

from hub.evidence_store import FilesystemEvidenceStore, InvalidKey, NotInStore


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


def test_putting_the_same_content_twice_is_idempotent(tmp_path: Path) -> None:
    store = FilesystemEvidenceStore(tmp_path / "evidence")
    data = b"same"
    first, sha = staged(tmp_path, data, "a.part")
    second, _ = staged(tmp_path, data, "b.part")
    assert store.put_file(first, sha) == store.put_file(second, sha)
    assert not second.exists()
    assert store.size(sha) == 4


def test_ranges_are_read_in_blocks(tmp_path: Path) -> None:
    store = FilesystemEvidenceStore(tmp_path / "evidence")
    data = bytes(range(256)) * 4096  # 1 MiB
    path, sha = staged(tmp_path, data)
    store.put_file(path, sha)
    assert b"".join(store.read_range(sha, 1000, 600_000)) == data[1000:601_000]
    with store.open(sha) as handle:
        assert handle.read(10) == data[:10]


@pytest.mark.parametrize(
    "key", ["../../etc/passwd", "A" * 64, "ab" * 31, "", "0" * 63 + "/", "../" + "a" * 61]
)
def test_keys_that_are_not_sha256_never_become_paths(tmp_path: Path, key: str) -> None:
    store = FilesystemEvidenceStore(tmp_path / "evidence")
    for call in (store.exists, store.size, store.open, store.delete):
        with pytest.raises(InvalidKey):
            call(key)


def test_missing_and_deleted_items(tmp_path: Path) -> None:
    store = FilesystemEvidenceStore(tmp_path / "evidence")
    path, sha = staged(tmp_path, b"gone soon")
    with pytest.raises(NotInStore):
        store.size(sha)
    store.put_file(path, sha)
    store.delete(sha)
    assert not store.exists(sha)
    with pytest.raises(NotInStore):
        store.delete(sha)
