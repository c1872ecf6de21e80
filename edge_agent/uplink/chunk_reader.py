"""Reading a clip's chunks for sending: in batches, the next batch read while this one is sent.

One worker call per batch instead of one per chunk (``asyncio.to_thread`` per chunk was 15% of
the agent's GIL samples on loopback, ``docs/transfer-profile.md``), and the next batch is read
while the current one is published, so paho's thread is not left idle while a whole batch is
read. The bytes are the file's as they are: nothing is hashed again (the offer carries every
chunk's SHA-256, and the hub checks each one).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Sequence
from pathlib import Path
from typing import Final

from edge_agent.uplink.upload import read_chunks

# Bytes per worker call (at least one chunk): small enough that the first chunk of a window goes
# out without waiting for the whole window to be read, large enough to save most of the hops.
READ_BATCH_BYTES: Final = 4 * 1024 * 1024


def batches_of(indices: Sequence[int], chunk_size: int) -> list[list[int]]:
    """``indices`` in their order, cut into batches of at most ``READ_BATCH_BYTES``."""
    per_read = max(1, READ_BATCH_BYTES // chunk_size)
    return [list(indices[start : start + per_read]) for start in range(0, len(indices), per_read)]


async def read_ahead(
    path: Path, batches: Sequence[Sequence[int]], chunk_size: int
) -> AsyncGenerator[list[bytes], None]:
    """Each batch's chunks in order; the next batch is being read while the caller sends these.

    An ``OSError`` of a read is raised where its batch is due. Use with ``contextlib.aclosing``
    so that a caller stopping early drops the read ahead at once.
    """

    def start(batch: Sequence[int]) -> asyncio.Future[list[bytes]]:
        return asyncio.ensure_future(asyncio.to_thread(read_chunks, path, batch, chunk_size))

    pending = start(batches[0]) if batches else None
    try:
        for number in range(len(batches)):
            assert pending is not None
            current = pending
            pending = start(batches[number + 1]) if number + 1 < len(batches) else None
            yield await current
    finally:
        if pending is not None:
            # The worker finishes its read; nobody waits for it or looks at its outcome.
            pending.cancel()
