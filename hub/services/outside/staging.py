"""The staging files of tus uploads: one ``<upload id>.part`` per upload, written at its offset,
hashed as written, truncated back to the recorded offset after a crash. Blocking: call these
from a worker thread."""

from __future__ import annotations

import hashlib
import logging
import os
from pathlib import Path
from typing import Final

from hub.domain.uploads.tus import UPLOAD_ID_PATTERN

log = logging.getLogger(__name__)

READ_BLOCK: Final = 1024 * 1024
FILE_MODE: Final = 0o600
DIR_MODE: Final = 0o700


def staging_path(folder: Path, upload_id: str) -> Path:
    # Ids are the hub's own 32 hex digits: never a path the uploader chose.
    if UPLOAD_ID_PATTERN.fullmatch(upload_id) is None:
        raise ValueError(f"{upload_id[:40]!r} is not an upload id")
    return folder / f"{upload_id}.part"


def create(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=DIR_MODE)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    os.close(fd)


def rehash(path: Path, offset: int) -> tuple[hashlib._Hash, bytes]:
    """Cut the file back to ``offset`` (bytes past it were never recorded) and hash what stays;
    the hash and the file's first block (for the type check)."""
    digest = hashlib.sha256()
    head = b""
    with path.open("r+b") as handle:
        handle.truncate(offset)
        left = offset
        while left > 0:
            block = handle.read(min(READ_BLOCK, left))
            if not block:
                raise OSError(f"{path.name} ended at {offset - left} bytes, before {offset}")
            if not head:
                head = block[:4096]
            digest.update(block)
            left -= len(block)
    return digest, head


def append(path: Path, offset: int, data: bytes, digest: hashlib._Hash) -> int:
    """Write ``data`` at ``offset``, fsync, hash it; the new offset."""
    with path.open("r+b") as handle:
        handle.seek(offset)
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    digest.update(data)
    return offset + len(data)


def discard(path: Path) -> None:
    try:
        path.unlink()
    except FileNotFoundError:
        return
    log.info("upload staging file %s deleted", path.name)


ORPHAN_AGE_SECONDS: Final = 3600


def orphans(folder: Path, keep: set[str], now: float) -> list[Path]:
    """Staging files an hour old whose upload is not receiving (a crash between steps left
    them; younger ones may be an upload being made just now)."""
    if not folder.is_dir():
        return []
    return [
        path
        for path in folder.glob("*.part")
        if path.stem not in keep and path.stat().st_mtime < now - ORPHAN_AGE_SECONDS
    ]
