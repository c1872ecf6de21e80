"""Reading chunks for sending: batches in order, the next one read ahead, errors where due."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import pytest

from edge_agent.uplink.chunk_reader import READ_BATCH_BYTES, batches_of, read_ahead


def test_batches_keep_the_order_and_hold_at_least_one_chunk() -> None:
    per = READ_BATCH_BYTES // 1024
    indices = [5, 1, 9, *range(10, 10 + per)]
    batches = batches_of(indices, 1024)
    assert [i for batch in batches for i in batch] == indices
    assert all(len(batch) <= per for batch in batches)
    assert batches_of([3, 4], READ_BATCH_BYTES * 2) == [[3], [4]]
    assert batches_of([], 1024) == []


def test_read_ahead_yields_each_batch_of_the_files_bytes_in_order(tmp_path: Path) -> None:
    data = bytes(range(256)) * 40
    path = tmp_path / "clip.mp4"
    path.write_bytes(data)

    async def read_all() -> list[list[bytes]]:
        async with contextlib.aclosing(read_ahead(path, [[3, 0], [9], [1]], 1000)) as reads:
            return [chunks async for chunks in reads]

    assert asyncio.run(read_all()) == [
        [data[3000:4000], data[:1000]],
        [data[9000:10000]],
        [data[1000:2000]],
    ]


def test_a_read_error_comes_where_its_batch_is_due_and_stopping_early_is_clean(
    tmp_path: Path,
) -> None:
    path = tmp_path / "clip.mp4"
    path.write_bytes(b"x" * 4000)

    async def first_then_missing() -> bytes:
        async with contextlib.aclosing(read_ahead(path, [[0], [1], [2]], 1000)) as reads:
            async for chunks in reads:
                path.unlink()  # the next batch may already be read; the one after cannot be
                return chunks[0]
        raise AssertionError("no batch")

    assert asyncio.run(first_then_missing()) == b"x" * 1000

    async def all_of_missing() -> None:
        async with contextlib.aclosing(read_ahead(path, [[0]], 1000)) as reads:
            async for _ in reads:
                pass

    with pytest.raises(FileNotFoundError):
        asyncio.run(all_of_missing())
