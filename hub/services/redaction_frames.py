"""Frames of a stored master for the redaction dialog: the frame at a time, and the preview of
a redaction plan on it. Decoded from the evidence store's copy, which is only read.

Both block on PyAV and OpenCV (a GOP of 1080p decoding, face detection): they run in a worker
thread, at most ``MAX_AT_ONCE`` at a time across the hub so that previews cannot starve
ingest or the derived items being made (the extra callers wait their turn in their thread).
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import tempfile
import threading
from collections.abc import Callable
from typing import BinaryIO, Final, TypeVar, cast

from hub.domain.records import EvidenceItem
from hub.exhibits.derive.preview import frame_jpeg, preview_jpeg
from hub.exhibits.derive.redaction import RedactionPlan
from hub.storage.evidence.store import EvidenceStore

MAX_AT_ONCE: Final = 2
_slots = threading.BoundedSemaphore(MAX_AT_ONCE)
T = TypeVar("T")
log = logging.getLogger(__name__)


def _with_master(store: EvidenceStore, item: EvidenceItem, work: Callable[[BinaryIO], T]) -> T:
    with _slots, store.open(item.store_key) as source:
        if source.seekable():
            return work(source)
        # An S3 object is a stream: seeking to a keyframe needs a local copy (a temporary
        # file, removed at once; the master in the store is untouched).
        log.info("clip %s: copying the master to a temporary file to seek in it", item.clip_id)
        with tempfile.TemporaryFile() as local:
            shutil.copyfileobj(source, local, 4 * 1024 * 1024)
            local.seek(0)
            return work(cast(BinaryIO, local))


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
