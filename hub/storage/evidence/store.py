"""Content-addressed evidence storage behind a narrow interface.

A stored clip's key is its SHA-256 (64 lowercase hex), checked by the caller before ``put_file``.
``FilesystemEvidenceStore`` keeps ``evidence/ab/cd/<sha256>.mp4``: written as a temporary file in
the same folder, fsynced, made read-only (0440), renamed into place, and the folder fsynced, so a
crash leaves either the whole file or none. Keys are validated before they become paths, so no key
can name a file outside the store. An S3-compatible store would implement the same Protocol.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO, Final, Protocol

from cctv_common.files import fsync_dir

log = logging.getLogger(__name__)

_KEY_RE: Final = re.compile(r"[0-9a-f]{64}")
FILE_MODE: Final = 0o440
DIR_MODE: Final = 0o750
READ_BLOCK: Final = 256 * 1024


class StoreError(Exception):
    """The store cannot do what was asked; the message names the key and the reason."""


class StoreUnavailable(StoreError):
    """The store cannot be reached, or answered with a server error (an S3 5xx, a dropped
    connection): the object may well be intact. Never a reason to call an item damaged; the
    integrity checks try again later and a read is answered 503."""


class NotInStore(StoreError):
    """No object with this key."""


class InvalidKey(StoreError):
    """A key that is not a SHA-256 in lowercase hex."""


def check_key(key: str) -> str:
    if not isinstance(key, str) or _KEY_RE.fullmatch(key) is None:
        raise InvalidKey(f"evidence key {key!r:.80} is not a SHA-256 in lowercase hex")
    return key


class EvidenceStore(Protocol):
    """What the hub needs from evidence storage; nothing more, so other backends can be added."""

    def put_file(self, staging_path: Path, sha256: str) -> str:
        """Move a verified file into the store under its SHA-256; idempotent; returns the key."""
        ...

    def exists(self, key: str) -> bool: ...

    def size(self, key: str) -> int: ...

    def open(self, key: str) -> BinaryIO:
        """A binary file object positioned at 0, for reading."""
        ...

    def read_range(self, key: str, start: int, length: int) -> Iterator[bytes]:
        """Yield the bytes ``start .. start + length - 1`` in blocks."""
        ...

    def delete(self, key: str) -> None: ...


class FilesystemEvidenceStore:
    """Evidence on a local (or mounted) file system, laid out as ``root/ab/cd/<sha256>.mp4``."""

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True, mode=DIR_MODE)

    def path_for(self, key: str) -> Path:
        check_key(key)
        return self.root / key[:2] / key[2:4] / f"{key}.mp4"

    def put_file(self, staging_path: Path, sha256: str) -> str:
        final = self.path_for(sha256)
        if final.exists():
            # Same content already stored (a replay, or the same clip under another id).
            staging_path.unlink(missing_ok=True)
            return sha256
        folder = final.parent
        folder.mkdir(parents=True, exist_ok=True, mode=DIR_MODE)
        temporary = folder / f".{sha256}.{os.getpid()}.tmp"
        try:
            try:
                os.replace(staging_path, temporary)
            except OSError as exc:
                if exc.errno != errno.EXDEV:
                    raise
                # Staging on another file system: copy, then drop the staging file.
                shutil.copyfile(staging_path, temporary)
                staging_path.unlink()
            with temporary.open("rb") as handle:
                os.fsync(handle.fileno())
            os.chmod(temporary, FILE_MODE)
            os.replace(temporary, final)
            fsync_dir(folder)
        except OSError as exc:
            with contextlib.suppress(OSError):
                temporary.unlink(missing_ok=True)
            raise StoreError(f"cannot store evidence {sha256}: {exc}") from exc
        log.info("evidence %s stored at %s", sha256, final)
        return sha256

    def exists(self, key: str) -> bool:
        return self.path_for(key).is_file()

    def size(self, key: str) -> int:
        try:
            return self.path_for(key).stat().st_size
        except FileNotFoundError as exc:
            raise NotInStore(f"evidence {key} is not in the store") from exc

    def open(self, key: str) -> BinaryIO:
        try:
            return self.path_for(key).open("rb")
        except FileNotFoundError as exc:
            raise NotInStore(f"evidence {key} is not in the store") from exc

    def read_range(self, key: str, start: int, length: int) -> Iterator[bytes]:
        if start < 0 or length < 0:
            raise StoreError(f"range {start}+{length} of evidence {key} is negative")
        with self.open(key) as handle:
            handle.seek(start)
            remaining = length
            while remaining > 0:
                block = handle.read(min(READ_BLOCK, remaining))
                if not block:
                    raise StoreError(f"evidence {key} ended before byte {start + length}")
                remaining -= len(block)
                yield block

    def delete(self, key: str) -> None:
        path = self.path_for(key)
        try:
            path.unlink()
        except FileNotFoundError as exc:
            raise NotInStore(f"evidence {key} is not in the store") from exc
        fsync_dir(path.parent)
        log.info("evidence %s deleted from the store", key)
