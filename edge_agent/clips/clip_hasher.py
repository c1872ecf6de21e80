"""SHA-256 of a clip while the muxer writes it: a thread that reads the growing file behind it.

This is only sound when the muxer never goes back to change bytes it has written, which is true
of FFmpeg's fragmented MP4 (``movflags=+frag_keyframe+empty_moov+skip_trailer``: each fragment is
assembled in memory and written whole) and false of a plain MP4, whose mdat size at byte ~40 is
patched when the muxer closes (see docs/recording.md). The hasher reads from the page cache what
the muxer has written so far, waits when it has caught up, and reads to the end once told that
the muxer has closed the file. As a guard, ``finish`` checks that the bytes hashed are the whole
file.
"""

from __future__ import annotations

import hashlib
import os
import threading
from pathlib import Path

from edge_agent.clips.segment_chain import READ_SIZE

# Wake the hashing thread after this many bytes muxed: a few wake-ups per READ_SIZE read.
_WAKE_EVERY_BYTES = READ_SIZE // 2
# How long the hashing thread sleeps when it has caught up and hears nothing (a safety net).
_IDLE_WAIT_SECONDS = 0.02


class ClipHashMismatch(Exception):
    """The file changed behind the hasher (bytes rewritten or cut short): hash it again."""


class GrowingFileHasher:
    """Hashes ``path`` front to back as it grows; ``finish()`` once the writer has closed it."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._sha = hashlib.sha256()
        self._hashed = 0
        self._pending = 0
        self._more = threading.Event()
        self._closed = threading.Event()
        self._stop = False
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="clip-sha256", daemon=True)
        self._thread.start()

    def wrote(self, nbytes: int) -> None:
        """Called by the muxing thread: ``nbytes`` more were handed to the muxer."""
        self._pending += nbytes
        if self._pending >= _WAKE_EVERY_BYTES:
            self._pending = 0
            self._more.set()

    def finish(self) -> tuple[str, int]:
        """The writer has closed the file: hash its tail; return (hex digest, bytes)."""
        self._closed.set()
        self._more.set()
        self._thread.join()
        if self._error is not None:
            raise self._error
        size = self._path.stat().st_size
        if size != self._hashed:
            raise ClipHashMismatch(f"hashed {self._hashed} bytes of {self._path}, it has {size}")
        return self._sha.hexdigest(), self._hashed

    def abandon(self) -> None:
        self._stop = True
        self._closed.set()
        self._more.set()
        self._thread.join()

    def _run(self) -> None:
        try:
            self._follow()
        except BaseException as exc:  # handed to finish()
            self._error = exc

    def _open(self) -> int:
        """The muxer creates the file with its first packet: wait for it."""
        while True:
            closing = self._closed.is_set()
            try:
                return os.open(self._path, os.O_RDONLY)
            except FileNotFoundError:
                if closing:
                    raise
            self._more.wait(_IDLE_WAIT_SECONDS)
            self._more.clear()

    def _follow(self) -> None:
        fd = self._open()
        buffer = bytearray(READ_SIZE)
        view = memoryview(buffer)
        try:
            while not self._stop:
                # Read the closed flag BEFORE reading: a short read after the writer closed
                # is the end of the file.
                closing = self._closed.is_set()
                self._more.clear()  # before reading: a wake-up after this read is not lost
                n = os.readv(fd, [buffer])
                if n:
                    self._sha.update(view[:n])
                    self._hashed += n
                    if n == READ_SIZE:
                        continue
                if closing:
                    if n == 0:
                        return
                    continue
                self._more.wait(_IDLE_WAIT_SECONDS)
        finally:
            os.close(fd)
