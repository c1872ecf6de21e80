"""One clip upload being received by this hub process: its offer, chunk book and staging file."""

from __future__ import annotations

import asyncio
import os
from collections import deque
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cctv_common.evidence.manifest import Manifest
from cctv_common.wire.payloads import ClipOffer
from hub.domain.clip_digest import RunningClipHash
from hub.domain.ingest_rules import ChunkBook
from hub.domain.records import ClipJob
from hub.services.ingest.early_probe import EarlyProbe


@dataclass
class UploadSession:
    """One clip being received (in memory; ``uploads`` in the database is the durable copy)."""

    site_id: str
    clip_id: str
    offer: ClipOffer
    offer_json: str
    # SHA-256 of the offer payload last received for this upload: every ack names it.
    offer_sha256: str
    manifest: Manifest
    job: ClipJob
    book: ChunkBook
    staging: Path
    fd: int
    persisted_held: int = 0
    timer: asyncio.TimerHandle | None = None
    finalizing: bool = False
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    # Chunk writes running in worker threads: the staging fd is closed only once they are done,
    # so a write can never land in whatever file reuses the fd number.
    writes: set[asyncio.Future[Any]] = field(default_factory=set)
    # The whole clip's SHA-256 as chunks land (None: this session took over chunks it did not
    # see, so the completion reads the file back); fed in order by the ingest's hash worker.
    running: RunningClipHash | None = None
    # Hash-worker jobs not yet done, oldest first (bounded: each holds a chunk's bytes).
    hashing: deque[Future[None]] = field(default_factory=deque)
    # The content check started with the upload (None: probed at completion).
    early_probe: EarlyProbe | None = None

    def void_early_checks(self) -> None:
        """Chunks this process did not verify and write itself took part (another hub process's,
        or bytes on disk found wrong): the completion reads the file back and probes it again."""
        self.running = None
        if self.early_probe is not None:
            self.early_probe.gate.spoil()

    def drop_chunk(self, index: int) -> None:
        """A held chunk's bytes on disk are wrong: it is asked for again."""
        self.book.drop(index)
        self.void_early_checks()

    def same_offer(self, offer: ClipOffer) -> bool:
        return (
            offer.manifest == self.offer.manifest
            and offer.signature == self.offer.signature
            and offer.clip_sha256 == self.offer.clip_sha256
            and offer.chunk_size == self.offer.chunk_size
            and offer.chunk_sha256 == self.offer.chunk_sha256
        )


async def hashing_done(upload: UploadSession) -> None:
    """Wait for the hash worker's jobs of this upload (one worker, in order: the last is enough)."""
    if upload.hashing and not upload.hashing[-1].done():
        await asyncio.wait([asyncio.wrap_future(upload.hashing[-1])])


async def writes_done(upload: UploadSession) -> None:
    """Wait for every thread that may use the staging fd (chunk writes, the hash worker)."""
    if upload.writes:
        await asyncio.gather(*upload.writes, return_exceptions=True)
    await hashing_done(upload)


def close_staging(upload: UploadSession) -> None:
    if upload.early_probe is not None:
        upload.early_probe.gate.close()
    if upload.fd >= 0:
        os.close(upload.fd)
        upload.fd = -1
