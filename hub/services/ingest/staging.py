"""The staging file of one clip upload, by file descriptor: chunks written at their offsets,
then synced and hashed as it is on disk. Blocking: ``hub.services.ingest.service`` runs these in
worker threads.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import hashlib
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Final, cast

from hub.domain.clip_digest import RunningClipHash
from hub.domain.ingest_rules import ChunkBook

HASH_BLOCK: Final = 1024 * 1024
SYNC_FILE_RANGE_WRITE: Final = 2


def _load_sync_file_range() -> Callable[[int, int, int, int], int] | None:
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    function = getattr(ctypes.CDLL(name, use_errno=True), "sync_file_range", None)
    if function is None:
        return None
    function.argtypes = [ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint]
    function.restype = ctypes.c_int
    return cast("Callable[[int, int, int, int], int]", function)


_sync_file_range: Final = _load_sync_file_range()


def open_staging(path: Path, size: int, fresh: bool) -> int:
    """Open (or create, 0600) the staging file with the clip's size; ``fresh`` truncates it."""
    flags = os.O_RDWR | os.O_CREAT | (os.O_TRUNC if fresh else 0)
    fd = os.open(path, flags, 0o600)
    try:
        if os.fstat(fd).st_size != size:
            os.ftruncate(fd, size)
    except OSError:
        os.close(fd)
        raise
    return fd


def verify_and_write(fd: int, data: bytes, offset: int, expected_sha256: str) -> str:
    """Hash a chunk and, if it matches, write it at its offset; returns its SHA-256."""
    digest = hashlib.sha256(data).hexdigest()
    if digest != expected_sha256:
        return digest
    written = 0
    view = memoryview(data)
    while written < len(data):
        written += os.pwrite(fd, view[written:], offset + written)
    return digest


def verify_and_write_many(fd: int, chunks: Sequence[tuple[bytes, int, str]]) -> list[str]:
    """``verify_and_write`` for each (data, offset, expected SHA-256), in one worker call."""
    return [verify_and_write(fd, data, offset, expected) for data, offset, expected in chunks]


def hash_and_flush(running: RunningClipHash, fd: int, index: int, data: bytes, offset: int) -> None:
    """The hash worker's step for one written chunk: into the running hash, then start its
    writeback, so that the completion's fsync finds little left to write."""
    running.landed(index, data)
    start_writeback(fd, offset, len(data))


def start_writeback(fd: int, offset: int, length: int) -> None:
    """Ask the kernel to start writing a range out, without waiting (Linux ``sync_file_range``).

    Only the timing of the writes changes: durability still comes from the completion's fsync.
    Where the call is missing, it does nothing.
    """
    if _sync_file_range is not None:
        _sync_file_range(fd, offset, length, SYNC_FILE_RANGE_WRITE)


def sync_and_hash(fd: int) -> tuple[str, int]:
    """fsync, then the SHA-256 and size of the file as it is on disk."""
    os.fsync(fd)
    digest = hashlib.sha256()
    size = 0
    offset = 0
    while True:
        block = os.pread(fd, HASH_BLOCK, offset)
        if not block:
            break
        digest.update(block)
        size += len(block)
        offset += len(block)
    return digest.hexdigest(), size


def read_chunk(fd: int, book: ChunkBook, index: int) -> bytes:
    """One chunk's bytes as they are in the staging file."""
    length = book.expected_length(index)
    data = os.pread(fd, length, book.offset(index))
    if len(data) != length:
        raise OSError(f"chunk {index}: read {len(data)} of {length} bytes")
    return data


def bad_chunks(fd: int, book: ChunkBook) -> list[int]:
    """The chunks whose bytes on disk do not match their SHA-256 in the offer."""
    bad = []
    for index in range(book.chunk_count):
        data = os.pread(fd, book.expected_length(index), book.offset(index))
        if hashlib.sha256(data).hexdigest() != book.expected_sha256(index):
            bad.append(index)
    return bad
