"""Early writeback of a clip while the muxer writes it, so that its fsync finds little left to do.

The kernel leaves a freshly written clip in the page cache (its background writeback starts at
10% of memory dirty, or after 5 s), so the cutter's fsync used to write all of it at once: about
0.2 s for 150 MB on these disks, longer than hashing the clip, which runs beside it. Here the
muxing thread asks the kernel every few MiB to start writing what is dirty so far
(``sync_file_range(SYNC_FILE_RANGE_WRITE)``: it starts the writes and does not wait for them), so
the disk works while the remux runs and the final fsync only waits for the tail and the moov box.

This is a head start only: the cutter still fsyncs the clip before it renames it, and that fsync
is what reports a write error. Where the call does not exist (not Linux) nothing is done.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
from collections.abc import Callable
from pathlib import Path

log = logging.getLogger(__name__)

# Start writeback every this many bytes muxed: often enough that the disk never idles, rarely
# enough that the calls cost nothing (one per 8 MiB is ~20 for a 5-minute clip at 4 Mbit/s).
WRITEBACK_EVERY_BYTES = 8 << 20
_SYNC_FILE_RANGE_WRITE = 2

SyncFileRange = Callable[[int, int, int, int], int]


def _load_sync_file_range() -> SyncFileRange | None:
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        function = ctypes.CDLL(name, use_errno=True).sync_file_range
    except (OSError, AttributeError):
        return None
    function.argtypes = [ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint]
    function.restype = ctypes.c_int
    return function


_sync_file_range = _load_sync_file_range()


class ClipWriteback:
    """Starts the writeback of ``path`` after each ``every_bytes`` reported by ``wrote``.

    The muxer opens the clip by its path (with its first packet), so the file is opened here,
    read-only (all that sync_file_range needs), when a writeback is first due.
    """

    def __init__(self, path: Path, every_bytes: int = WRITEBACK_EVERY_BYTES) -> None:
        self._path = path
        self._every = every_bytes
        self._pending = 0
        self._fd = -1
        self._enabled = _sync_file_range is not None

    def __enter__(self) -> ClipWriteback:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def wrote(self, nbytes: int) -> None:
        self._pending += nbytes
        if self._pending >= self._every and self._enabled:
            self._pending = 0
            self._start()

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def _start(self) -> None:
        assert _sync_file_range is not None
        try:
            if self._fd < 0:
                self._fd = os.open(self._path, os.O_RDONLY)
        except OSError as exc:  # not there yet, or gone: the fsync after the remux will say
            log.debug("no early writeback of %s yet: %s", self._path, exc)
            return
        # Offset 0 and length 0: every dirty page of the file; ctypes releases the GIL meanwhile.
        if _sync_file_range(self._fd, 0, 0, _SYNC_FILE_RANGE_WRITE) != 0:
            error = ctypes.get_errno()
            log.debug("no early writeback of %s: %s", self._path, os.strerror(error))
            self._enabled = False
