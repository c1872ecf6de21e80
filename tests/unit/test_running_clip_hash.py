"""The whole clip's SHA-256 built as chunks land: in order, out of order, duplicates, rewrites,
and the cases where it must not be used (a restart, another process's chunks)."""

from __future__ import annotations

import hashlib
import secrets

import pytest

from hub.domain.clip_digest import RunningClipHash

CHUNK = 8


def clip(chunks: int = 6, tail: int = 3) -> tuple[bytes, list[bytes]]:
    data = secrets.token_bytes(CHUNK * (chunks - 1) + tail)
    return data, [data[i : i + CHUNK] for i in range(0, len(data), CHUNK)]


class Disk:
    """The staging file as the read-back sees it; counts what is read."""

    def __init__(self, chunks: list[bytes]) -> None:
        self.chunks = list(chunks)
        self.reads: list[int] = []

    def read(self, index: int) -> bytes:
        self.reads.append(index)
        return self.chunks[index]


def test_chunks_in_order_need_no_read_back() -> None:
    data, chunks = clip()
    disk = Disk(chunks)
    running = RunningClipHash(len(chunks), disk.read)
    for index, chunk in enumerate(chunks):
        assert running.digest() is None
        running.landed(index, chunk)
    assert running.digest() == hashlib.sha256(data).hexdigest()
    assert disk.reads == [] and running.read_back == 0


def test_chunks_out_of_order_are_read_back_only_once_the_gap_fills() -> None:
    data, chunks = clip()
    disk = Disk(chunks)
    running = RunningClipHash(len(chunks), disk.read)
    for index in (0, 3, 4, 1):
        running.landed(index, chunks[index])
    assert running.hashed == 2 and disk.reads == []  # 3 and 4 wait for 2
    running.landed(2, chunks[2])
    assert running.hashed == 5 and disk.reads == [3, 4]
    running.landed(5, chunks[5])
    assert running.digest() == hashlib.sha256(data).hexdigest()
    assert running.read_back == 2


def test_a_chunk_that_lands_again_changes_nothing() -> None:
    data, chunks = clip()
    disk = Disk(chunks)
    running = RunningClipHash(len(chunks), disk.read)
    for index in (0, 0, 2, 2, 1, 1, 3, 4, 5, 5):
        running.landed(index, chunks[index])
    assert running.digest() == hashlib.sha256(data).hexdigest()
    assert disk.reads == [2]


def test_a_chunk_rewritten_ahead_of_the_prefix_is_hashed_as_it_is_on_disk() -> None:
    # The read-back takes the bytes on disk when the gap fills, so a verified rewrite of an
    # ahead chunk (the same bytes) and a damaged one on disk give the disk's truth.
    data, chunks = clip()
    disk = Disk(chunks)
    running = RunningClipHash(len(chunks), disk.read)
    running.landed(2, chunks[2])
    disk.chunks[2] = b"\xff" * CHUNK  # the disk lied after the write
    for index in (0, 1, 3, 4, 5):
        running.landed(index, chunks[index])
    digest = running.digest()
    assert digest is not None and digest != hashlib.sha256(data).hexdigest()


def test_the_digest_is_none_until_every_chunk_is_in() -> None:
    _, chunks = clip()
    running = RunningClipHash(len(chunks), Disk(chunks).read)
    for index in range(1, len(chunks)):
        running.landed(index, chunks[index])
    assert running.digest() is None  # chunk 0 never came


def test_a_restart_starts_a_fresh_hash_that_never_completes_without_every_chunk() -> None:
    # A partial hash is never persisted or shared: a new process (or one that took over another
    # process's chunks) starts from nothing and is not given chunks it did not see, so it never
    # yields a digest; the completion then reads the whole file back.
    _, chunks = clip()
    before = RunningClipHash(len(chunks), Disk(chunks).read)
    for index in range(3):
        before.landed(index, chunks[index])
    after = RunningClipHash(len(chunks), Disk(chunks).read)
    for index in range(3, len(chunks)):
        after.landed(index, chunks[index])
    assert after.digest() is None and after.hashed == 0


def test_a_chunk_outside_the_clip_is_refused() -> None:
    _, chunks = clip()
    running = RunningClipHash(len(chunks), Disk(chunks).read)
    with pytest.raises(IndexError):
        running.landed(len(chunks), b"x")
    with pytest.raises(ValueError):
        RunningClipHash(0, Disk(chunks).read)
