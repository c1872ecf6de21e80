"""Frames of a stored master for the redaction dialog: the frame at a time, and the preview of
a redaction plan on it. Decoded from the evidence store's copy, which is only read.

Both block on PyAV and OpenCV (a GOP of 1080p decoding, face detection): they run in a worker
thread, at most ``MAX_AT_ONCE`` at a time across the hub so that previews cannot starve
ingest or the derived items being made (the extra callers wait their turn in their thread).
"""

from __future__ import annotations

import asyncio
import io
import threading
from collections.abc import Callable
from typing import Any, BinaryIO, Final, TypeVar, cast

from hub.domain.records import EvidenceItem
from hub.exhibits.derive.preview import frame_jpeg, preview_jpeg
from hub.exhibits.derive.redaction import RedactionPlan
from hub.storage.evidence.store import EvidenceStore

MAX_AT_ONCE: Final = 2
_slots = threading.BoundedSemaphore(MAX_AT_ONCE)
READ_AHEAD: Final = 1024 * 1024  # bytes a range request of a streamed store reads at least
T = TypeVar("T")


class _RangeReader(io.RawIOBase):
    """A stored object read by byte ranges, so that it can be seeked in: PyAV reads the MP4's
    index and one GOP, not the whole clip (an S3 object otherwise comes as one stream)."""

    def __init__(self, store: EvidenceStore, key: str, size: int) -> None:
        self._store, self._key, self._size, self._at = store, key, size, 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._at, io.SEEK_END: self._size}[whence]
        self._at = max(0, base + offset)
        return self._at

    def tell(self) -> int:
        return self._at

    def readinto(self, buffer: Any) -> int:
        length = min(len(buffer), self._size - self._at)
        if length <= 0:
            return 0
        view, done = memoryview(buffer).cast("B"), 0
        for block in self._store.read_range(self._key, self._at, length):
            view[done : done + len(block)] = block
            done += len(block)
        self._at += done
        return done


def _with_master(store: EvidenceStore, item: EvidenceItem, work: Callable[[BinaryIO], T]) -> T:
    with _slots, store.open(item.store_key) as source:
        if source.seekable():
            return work(source)
    # A stream (S3): read by ranges instead, through a buffer of READ_AHEAD bytes.
    ranges = _RangeReader(store, item.store_key, item.bytes)
    with _slots, io.BufferedReader(ranges, buffer_size=READ_AHEAD) as reader:
        return work(cast(BinaryIO, reader))


async def frame(store: EvidenceStore, item: EvidenceItem, seconds: float) -> bytes:
    """The master's frame shown at ``seconds`` from its first frame, as JPEG."""
    return await asyncio.to_thread(
        _with_master, store, item, lambda source: frame_jpeg(source, seconds)
    )


async def preview(
    store: EvidenceStore, item: EvidenceItem, plan: RedactionPlan, seconds: float
) -> bytes:
    """That frame as the redacted copy made with ``plan`` will show it, as JPEG."""
    return await asyncio.to_thread(
        _with_master, store, item, lambda source: preview_jpeg(source, plan, seconds)
    )
