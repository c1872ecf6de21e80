"""A zip written to a temporary file beside its destination and renamed into place when whole.

Entries are stored, not compressed (video does not compress, and the masters must come out byte
for byte); each file's SHA-256 is taken as it is written, for the package manifest. A failure at
any point removes the temporary file, so no partial package is ever left under the real name.
"""

from __future__ import annotations

import hashlib
import os
import zipfile
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO, Final

BLOCK: Final = 4 * 1024 * 1024


class PackageZip:
    # The SHA-256 of a stream runs in a second thread beside the zip's CRC-32 and write; False
    # hashes in line (bench/export.py measures both).
    overlap_hash: bool = True

    def __init__(self, archive: zipfile.ZipFile, root: str, when: datetime) -> None:
        self._archive = archive
        self._root = root
        self._when = when.timetuple()[:6]
        self.files: list[dict[str, Any]] = []  # {"path", "bytes", "sha256"}, in order written

    def _info(self, name: str) -> zipfile.ZipInfo:
        info = zipfile.ZipInfo(f"{self._root}/{name}", date_time=self._when)
        info.compress_type = zipfile.ZIP_STORED
        info.external_attr = 0o644 << 16
        return info

    def add_bytes(self, name: str, data: bytes, *, listed: bool = True) -> str:
        digest = hashlib.sha256(data).hexdigest()
        self._archive.writestr(self._info(name), data)
        if listed:
            self.files.append({"path": name, "bytes": len(data), "sha256": digest})
        return digest

    def add_stream(self, name: str, source: BinaryIO) -> tuple[str, int]:
        """Copy ``source`` in; its SHA-256 is taken in a second thread while the zip's CRC-32 and
        write run in this one (hashlib releases the GIL on large blocks): the two overlap."""
        if not self.overlap_hash:
            return self._add_stream_inline(name, source)
        digest = hashlib.sha256()
        size = 0
        hashing: Future[None] | None = None
        with (
            ThreadPoolExecutor(max_workers=1, thread_name_prefix="export-sha256") as hasher,
            self._archive.open(self._info(name), "w", force_zip64=True) as out,
        ):
            while block := source.read(BLOCK):
                if hashing is not None:
                    hashing.result()
                hashing = hasher.submit(digest.update, block)
                out.write(block)
                size += len(block)
            if hashing is not None:
                hashing.result()
        self.files.append({"path": name, "bytes": size, "sha256": digest.hexdigest()})
        return digest.hexdigest(), size

    def _add_stream_inline(self, name: str, source: BinaryIO) -> tuple[str, int]:
        digest = hashlib.sha256()
        size = 0
        with self._archive.open(self._info(name), "w", force_zip64=True) as out:
            while block := source.read(BLOCK):
                digest.update(block)
                out.write(block)
                size += len(block)
        self.files.append({"path": name, "bytes": size, "sha256": digest.hexdigest()})
        return digest.hexdigest(), size


@contextmanager
def package_zip(destination: Path, root: str, when: datetime) -> Iterator[PackageZip]:
    """Yield a writer; on a clean exit the zip is synced and renamed to ``destination``."""
    destination.parent.mkdir(parents=True, exist_ok=True)
    temporary = destination.with_name(f".{destination.name}.{os.getpid()}.part")
    try:
        with temporary.open("xb") as handle:
            with zipfile.ZipFile(handle, "w", zipfile.ZIP_STORED, allowZip64=True) as archive:
                yield PackageZip(archive, root, when)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, destination)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    directory = os.open(destination.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)
