"""Hashing stored evidence: whole objects against their SHA-256, and the bytes a download serves.

``check_object`` reads an object through the ``EvidenceStore`` port (so an S3 store is checked
the same way), at most ``RateLimiter``'s bytes per second, and says what is wrong in words.
``hashed_download`` streams a whole object to a client while hashing it and holds the last block
back until the hash matches: a download that does not match the signed SHA-256 is cut short, so a
damaged item never reaches anyone complete, as if it were the evidence.
"""

from __future__ import annotations

import asyncio
import hashlib
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Final

from hub.storage.evidence.store import (
    READ_BLOCK,
    EvidenceStore,
    NotInStore,
    StoreError,
    StoreUnavailable,
)

MB: Final = 1_000_000


class ScrubCancelled(Exception):
    """The check was asked to stop (the hub is shutting down)."""


class DamagedWhileServing(Exception):
    """The bytes served did not hash to the item's SHA-256; the response is cut short."""


class RateLimiter:
    """Keeps reads to ``bytes_per_second`` on average (None: no limit). Pure apart from time."""

    def __init__(
        self,
        bytes_per_second: float | None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if bytes_per_second is not None and bytes_per_second <= 0:
            raise ValueError("the rate must be positive")
        self._rate = bytes_per_second
        self._clock = clock
        self._sleep = sleep
        self._start = clock()
        self._spent = 0

    def spend(self, count: int) -> float:
        """Note ``count`` bytes read; sleep while ahead of the budget. Returns the time slept."""
        if self._rate is None:
            return 0.0
        self._spent += count
        ahead = self._spent / self._rate - (self._clock() - self._start)
        if ahead > 0:
            self._sleep(ahead)
            return ahead
        return 0.0


@dataclass(frozen=True)
class ObjectCheck:
    store_key: str
    ok: bool
    problem: str | None  # what is wrong, in words; None when ok
    bytes_read: int


def check_object(
    store: EvidenceStore,
    store_key: str,
    sha256: str,
    size: int,
    *,
    limiter: RateLimiter | None = None,
    stop: threading.Event | None = None,
) -> ObjectCheck:
    """Hash one stored object and compare it with the item's size and SHA-256 (blocking).

    ``StoreUnavailable`` (an outage, not damage) is raised, not turned into a failed check."""
    try:
        actual_size = store.size(store_key)
    except NotInStore:
        return ObjectCheck(store_key, False, "the stored file is missing", 0)
    except StoreUnavailable:
        raise
    except StoreError as exc:
        return ObjectCheck(store_key, False, f"the store cannot read it: {exc}", 0)
    if actual_size != size:
        return ObjectCheck(
            store_key,
            False,
            f"the stored file is {actual_size} bytes; the signed manifest says {size}",
            0,
        )
    hasher = hashlib.sha256()
    read = 0
    try:
        with store.open(store_key) as handle:
            while True:
                if stop is not None and stop.is_set():
                    raise ScrubCancelled(f"check of {store_key} stopped")
                block = handle.read(READ_BLOCK)
                if not block:
                    break
                hasher.update(block)
                read += len(block)
                if limiter is not None:
                    limiter.spend(len(block))
    except NotInStore:
        return ObjectCheck(store_key, False, "the stored file is missing", read)
    except StoreUnavailable:
        raise
    except (OSError, StoreError) as exc:
        return ObjectCheck(store_key, False, f"the store cannot read it: {exc}", read)
    digest = hasher.hexdigest()
    if read != size:
        return ObjectCheck(
            store_key, False, f"read {read} bytes; the signed manifest says {size}", read
        )
    if digest != sha256:
        return ObjectCheck(
            store_key,
            False,
            f"its SHA-256 is {digest}; the signed manifest says {sha256}",
            read,
        )
    return ObjectCheck(store_key, True, None, read)


async def hashed_download(
    blocks: Iterator[bytes],
    sha256: str,
    on_mismatch: Callable[[str], Awaitable[None]],
    on_match: Callable[[], Awaitable[None]] | None = None,
) -> AsyncIterator[bytes]:
    """Yield ``blocks`` (the whole object) while hashing them; the last block only if it matches.

    On a mismatch ``on_mismatch(problem)`` runs and ``DamagedWhileServing`` is raised, so the
    server aborts the response before its last bytes: the client sees an incomplete download.
    On a match ``on_match()`` runs before the last block goes (a fresh verification stamp).
    """
    hasher = hashlib.sha256()
    held: bytes | None = None
    try:
        while True:
            block = await asyncio.to_thread(next, blocks, None)
            if block is None:
                break
            hasher.update(block)
            if held is not None:
                yield held
            held = block
    except (OSError, StoreError) as exc:
        problem = f"the store failed while serving it: {exc}"
        await on_mismatch(problem)
        raise DamagedWhileServing(problem) from exc
    digest = hasher.hexdigest()
    if digest != sha256:
        problem = f"the bytes served hash to {digest}; the signed manifest says {sha256}"
        await on_mismatch(problem)
        raise DamagedWhileServing(problem)
    if on_match is not None:
        await on_match()
    if held is not None:
        yield held
