"""Files that survive a power cut: the one atomic write, and fsync of files and folders.

``atomic_write`` writes a temporary file in the same folder, fsyncs it, renames it over the target
and fsyncs the folder, so after a crash the target holds either the old bytes or the new ones,
never a mix, and the rename itself is on disk. The temporary name starts with a dot and ends with
``.tmp``; a crash may leave one behind, never a half-written target.
"""

from __future__ import annotations

import os
import secrets
import tempfile
from pathlib import Path


def fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_dir(folder: Path) -> None:
    """Make a rename, creation or deletion in ``folder`` durable."""
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_synced(path: Path, data: bytes) -> None:
    """Write ``data`` to a new file at ``path`` and fsync it (for one part of a set of files that
    are renamed into place together; the caller renames and then ``fsync_dir``s)."""
    with path.open("wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


def atomic_write(path: Path, data: bytes | str, *, mode: int | None = None) -> None:
    """Replace ``path`` by ``data`` (str is written as UTF-8) in one durable step.

    ``mode``: the new file's permission bits (default: what ``mkstemp`` gives, 0600).
    """
    raw = data.encode("utf-8") if isinstance(data, str) else data
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(raw)
            handle.flush()
            os.fsync(handle.fileno())
        if mode is not None:
            os.chmod(temporary, mode)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)


def create_once(path: Path, data: bytes, *, mode: int = 0o600) -> bool:
    """Create ``path`` holding ``data`` unless it exists; True when this call made it.

    Written whole under a private name, then linked into place: a process starting at the same
    moment (hub workers on one ``data_dir``) never reads a half-written file, and the first file
    linked wins (``os.link`` refuses an existing target, unlike a rename).
    """
    partial = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.link(partial, path)
    except FileExistsError:
        return False
    finally:
        partial.unlink(missing_ok=True)
    fsync_dir(path.parent)
    return True
