"""The planned segment files end to end, as one read-only seekable file that PyAV demuxes.

MPEG-TS is concatenable, so the cutter opens ONE demuxer over the chain instead of one per segment
(15-25 ms each). ``packet.pos``, the byte offset in the chain, says which segment a packet came
from. Every file is hashed as the demuxer reads it (in a helper thread, so on a second core):
the source segments' SHA-256 in the manifest are those of the very bytes that were cut, read once.
``check_sources`` runs before a cut (every file there, with its indexed size, one stream layout);
``verify_sources`` after it (every file's SHA-256 as in the index).
"""

from __future__ import annotations

import bisect
import errno
import hashlib
import logging
import os
import queue
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from edge_agent.clips.cut_errors import (
    CutFailed,
    IncompatibleSegments,
    SegmentCorrupt,
    SegmentUnavailable,
)
from edge_agent.clips.cut_plan import CutPlan, PlannedPart

log = logging.getLogger(__name__)

# Reads from the chain: large enough that Python calls are few (one per MiB).
READ_SIZE = 1 << 20
_HASH_QUEUE_DEPTH = 32


@dataclass(frozen=True)
class SourceFile:
    part: PlannedPart
    path: Path


def check_sources(plan: CutPlan, segments_dir: Path) -> list[SourceFile]:
    """Every planned file must exist with the size that the index holds; one stream layout."""
    if not plan.parts:
        raise CutFailed(f"camera {plan.camera_id}: the plan has no segments")
    first = plan.parts[0].segment
    sources = []
    for part in plan.parts:
        segment = part.segment
        layout = (segment.codec, segment.width, segment.height)
        if layout != (first.codec, first.width, first.height):
            raise IncompatibleSegments(
                f"segment {segment.path} is {segment.codec} {segment.width}x{segment.height}"
                f" but segment {first.path} is {first.codec} {first.width}x{first.height};"
                f" cut the window in two at {segment.start.isoformat()}"
            )
        path = segments_dir / segment.path
        try:
            size = path.stat().st_size
        except OSError as exc:
            raise SegmentUnavailable(
                f"segment {segment.path} cannot be read: {exc.strerror or exc}"
            ) from exc
        if size != segment.bytes:
            raise SegmentCorrupt(
                f"segment {segment.path} is {size} bytes but the index holds {segment.bytes}"
            )
        sources.append(SourceFile(part, path))
    return sources


def verify_sources(sources: Sequence[SourceFile], digests: Sequence[str], camera: str) -> None:
    for source, digest in zip(sources, digests, strict=True):
        segment = source.part.segment
        if digest != segment.sha256:
            log.error(
                "camera %s: segment %s has SHA-256 %s but the index holds %s",
                camera,
                segment.path,
                digest,
                segment.sha256,
            )
            raise SegmentCorrupt(
                f"segment {segment.path} no longer matches its SHA-256 in the index"
            )


class SegmentChain:
    """The planned segment files end to end, as one read-only seekable file for PyAV.

    Each file is opened when the reading reaches it, and hashed as it is read: bytes read in
    order are handed to a helper thread (hashlib releases the GIL, so this runs beside the
    remux). Bytes skipped by a seek are hashed from the file in ``digests()``.
    """

    def __init__(self, sources: Sequence[SourceFile]) -> None:
        self._sources = sources
        self.starts = [0]
        for source in sources:
            self.starts.append(self.starts[-1] + source.part.segment.bytes)
        self.size = self.starts[-1]
        self.failure: CutFailed | None = None
        self._position = 0
        self._fd = -1
        self._fd_index = -1
        self._fd_position = 0
        self._hashers = [hashlib.sha256() for _ in sources]
        self._hashed = [0] * len(sources)
        self._hash_error: Exception | None = None
        self._queue: queue.Queue[tuple[int, bytes] | None] = queue.Queue(_HASH_QUEUE_DEPTH)
        self._hash_thread = threading.Thread(
            target=self._hash_worker, name="cut-source-sha256", daemon=True
        )
        self._hash_thread.start()

    # The file-like protocol that PyAV uses

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        if whence == os.SEEK_SET:
            self._position = offset
        elif whence == os.SEEK_CUR:
            self._position += offset
        elif whence == os.SEEK_END:
            self._position = self.size + offset
        else:
            raise OSError(errno.EINVAL, f"unsupported whence {whence}")
        return self._position

    def read(self, size: int = -1) -> bytes:
        position = self._position
        if position >= self.size:
            return b""
        index = bisect.bisect_right(self.starts, position) - 1
        local = position - self.starts[index]
        wanted = self.starts[index + 1] - position
        if size >= 0:
            wanted = min(wanted, size)
        segment = self._sources[index].part.segment
        try:
            fd = self._open(index)
            if self._fd_position != local:
                os.lseek(fd, local, os.SEEK_SET)
            data = os.read(fd, wanted)
        except OSError as exc:
            self.failure = SegmentUnavailable(
                f"segment {segment.path} cannot be read: {exc.strerror or exc}"
            )
            raise
        if not data:
            self.failure = SegmentCorrupt(
                f"segment {segment.path} is shorter than the {segment.bytes} bytes in the index"
            )
            raise OSError(errno.EIO, str(self.failure))
        self._fd_position = local + len(data)
        self._position = position + len(data)
        if local == self._hashed[index]:
            self._hashed[index] += len(data)
            self._queue.put((index, data))
        return data

    def close(self) -> None:
        if self._hash_thread.is_alive():
            self._queue.put(None)
            self._hash_thread.join()
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    # Ours

    def source_at(self, position: int) -> int:
        return bisect.bisect_right(self.starts, position) - 1

    def digests(self) -> tuple[str, ...]:
        """SHA-256 of every file; bytes that the demuxer skipped are read from disk now."""
        self.close()
        if self._hash_error is not None:
            raise CutFailed(f"hashing the source segments failed: {self._hash_error}")
        digests = []
        for index, source in enumerate(self._sources):
            hasher = self._hashers[index]
            if self._hashed[index] < source.part.segment.bytes:
                log.debug("hashing the unread rest of %s", source.part.segment.path)
                try:
                    with source.path.open("rb") as handle:
                        handle.seek(self._hashed[index])
                        while chunk := handle.read(READ_SIZE):
                            hasher.update(chunk)
                except OSError as exc:
                    raise SegmentUnavailable(
                        f"segment {source.part.segment.path} cannot be read: {exc.strerror or exc}"
                    ) from exc
            digests.append(hasher.hexdigest())
        return tuple(digests)

    def _open(self, index: int) -> int:
        if self._fd_index != index:
            if self._fd >= 0:
                os.close(self._fd)
                self._fd = -1
            self._fd = os.open(self._sources[index].path, os.O_RDONLY)
            self._fd_index = index
            self._fd_position = 0
        return self._fd

    def _hash_worker(self) -> None:
        while (item := self._queue.get()) is not None:
            index, data = item
            try:
                self._hashers[index].update(data)
            except Exception as exc:  # keep draining: the reader must never block on us
                self._hash_error = exc
