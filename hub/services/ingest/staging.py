"""The staging file of one clip upload, by file descriptor: chunks written at their offsets,
then synced and hashed as it is on disk. Blocking: ``hub.services.ingest.service`` runs these in
worker threads.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Final

from hub.domain.ingest_rules import ChunkBook

HASH_BLOCK: Final = 1024 * 1024


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
