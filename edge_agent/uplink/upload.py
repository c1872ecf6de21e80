"""Bookkeeping for one clip upload: which chunks to send next, when to re-offer, how far along.

``UploadTracker`` is pure (no I/O, no clock: every call takes ``now`` from the caller), so the
rules of ``docs/upload-protocol.md`` are unit-tested without a broker:

- Nothing is sent until the hub has answered the offer: the answer says what it already holds
  and what it wants (``missing``), and only wanted chunks are ever sent, lowest index first.
- At most ``window`` chunks are outstanding: sent, and not yet reported held by an ack.
- A chunk is presumed lost, and becomes sendable again, when an ack shows the hub holding a chunk
  that was sent *after* it while it is still not held. Mosquitto and paho keep the order of one
  client's messages, so a later chunk arriving first means the earlier one was dropped (a full
  queue at the broker, a restart). A hub that reorders only makes the agent send a duplicate,
  which the hub ignores.
- Losses at the tail, a lost ack or a hub that is down are caught by silence: no ack for
  ``reoffer_after`` seconds means re-offer, and the hub answers with what it holds. Silence after
  a re-offer doubles the wait, up to ``max_reoffer_after``, so a hub that is down for hours is not
  sent a multi-megabyte offer every five seconds. The broker taking chunks (their PUBACKs,
  ``passed_on``) is not silence: the hub acks every 16 chunks, and 16 chunks of 1 MiB take 6.7 s
  on a 20 Mbit/s line, so counting only acks re-offered in the middle of healthy uploads (and a
  re-offer forgets the outstanding chunks, sending again those the hub had not written yet).
- A PUBACK only means the broker has a chunk. Completeness is decided by acks alone.

``chunk_hashes``, ``read_chunk`` and ``read_chunks`` are the small blocking helpers that go with
it; call them from a worker thread.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from cctv_common.wire.chunk_ranges import check_count, validate_ranges

DEFAULT_WINDOW: Final = 64
# The protocol's silence rule: no ack for this long while waiting on the hub means re-offer.
REOFFER_AFTER_SECONDS: Final = 5.0
# Cap of the doubling wait while the hub stays silent (it is down, or the link is).
MAX_REOFFER_AFTER_SECONDS: Final = 60.0
_READ_BLOCK: Final = 1024 * 1024


def upload_percent(held: int, chunk_count: int) -> int:
    """Whole percent of chunks held; 100 only when every chunk is held."""
    if chunk_count <= 0 or held >= chunk_count:
        return 100
    return min(99, held * 100 // chunk_count)


class UploadTracker:
    """What has been sent of one clip, what the hub holds and wants, and what to do next."""

    def __init__(
        self,
        chunk_count: int,
        *,
        window: int = DEFAULT_WINDOW,
        reoffer_after: float = REOFFER_AFTER_SECONDS,
        max_reoffer_after: float = MAX_REOFFER_AFTER_SECONDS,
    ) -> None:
        check_count(chunk_count)
        if chunk_count < 1:
            raise ValueError("a clip has at least one chunk")
        if window < 1:
            raise ValueError(f"window {window} must be at least 1")
        if not 0 < reoffer_after <= max_reoffer_after:
            raise ValueError("need 0 < reoffer_after <= max_reoffer_after")
        self.chunk_count = chunk_count
        self.window = window
        self.reoffer_after = reoffer_after
        self.max_reoffer_after = max_reoffer_after
        # One byte per chunk: 1 = the hub holds it / wants it. Bytes, not sets, because a 24 h
        # clip has tens of thousands of chunks and every ack rebuilds these.
        self._held = bytearray(chunk_count)
        self._wanted = bytearray(chunk_count)
        self._held_count = 0
        # Outstanding chunks: index -> send sequence number within the current offer.
        self._sent: dict[int, int] = {}
        self._sequence = 0
        self._answered = False
        self._last_offer_at: float | None = None
        self._last_ack_at: float | None = None
        self._last_passed_on_at: float | None = None
        self._silent_offers = 0
        self.chunks_sent = 0
        self.chunks_resent = 0
        self.chunks_lost = 0
        self._ever_sent = bytearray(chunk_count)

    # What the hub said.

    @property
    def answered(self) -> bool:
        """Whether the hub has answered since the last offer."""
        return self._answered

    @property
    def held_count(self) -> int:
        return self._held_count

    @property
    def all_held(self) -> bool:
        return self._held_count == self.chunk_count

    @property
    def percent(self) -> int:
        return upload_percent(self._held_count, self.chunk_count)

    @property
    def outstanding(self) -> int:
        """Chunks sent and not yet reported held."""
        return len(self._sent)

    def is_sent(self, index: int) -> bool:
        """Whether chunk ``index`` is outstanding."""
        return index in self._sent

    def held_ranges(self) -> list[tuple[int, int]]:
        """The chunks the hub last said it holds, as inclusive ranges."""
        return _ranges_of(self._held)

    def offered(self, now: float, still_sending: Collection[int] = ()) -> None:
        """An offer was just published: wait for the hub's answer before sending anything.

        Outstanding chunks are forgotten: the answer says what the hub holds, and whatever it
        still wants is sent again; except ``still_sending``, chunks the MQTT session still holds
        and will deliver (published, no PUBACK yet: paho sends them again after a reconnect),
        which stay outstanding. If one never arrives, a later chunk held or the silence rule
        finds it lost, as any other.
        """
        if self._last_offer_at is not None and not self._heard_since_offer():
            self._silent_offers += 1
        else:
            self._silent_offers = 1
        self._last_offer_at = now
        self._answered = False
        keep = set(still_sending)
        self._sent = {index: seq for index, seq in self._sent.items() if index in keep}

    def _heard_since_offer(self) -> bool:
        return (
            self._last_ack_at is not None
            and self._last_offer_at is not None
            and self._last_ack_at >= self._last_offer_at
        )

    def acked(
        self,
        held: Iterable[Sequence[int]],
        missing: Iterable[Sequence[int]] | None,
        now: float,
    ) -> list[int]:
        """A ``receiving`` ack: the hub holds ``held`` and wants ``missing`` (None: the rest).

        Returns the outstanding chunks it shows held, in the order they were sent (for the link
        estimate). Raises ``InvalidRanges`` for ranges outside this clip; nothing changes then.
        """
        held_ranges = validate_ranges(held, self.chunk_count)
        missing_ranges = None if missing is None else validate_ranges(missing, self.chunk_count)
        self._held = _bitmap(self.chunk_count, held_ranges)
        self._held_count = self._held.count(1)
        if missing_ranges is None:
            self._wanted = bytearray(b"\x01" * self.chunk_count)
        else:
            self._wanted = _bitmap(self.chunk_count, missing_ranges)
        self._clear_held_from_wanted()
        newest_held = max(
            (sequence for index, sequence in self._sent.items() if self._held[index]),
            default=-1,
        )
        arrived: list[tuple[int, int]] = []
        for index, sequence in list(self._sent.items()):
            if self._held[index]:
                arrived.append((sequence, index))
                del self._sent[index]
            elif sequence < newest_held:
                # A later chunk arrived and this one did not: it was dropped on the way.
                del self._sent[index]
                self.chunks_lost += 1
        self._answered = True
        self._last_ack_at = now
        self._silent_offers = 0
        return [index for _, index in sorted(arrived)]

    def passed_on(self, now: float) -> None:
        """The broker took one of this clip's chunks (its PUBACK): the link is not silent."""
        self._last_passed_on_at = now

    def _clear_held_from_wanted(self) -> None:
        # wanted &= ~held over every byte at once: each byte is 0 or 1, so the bitwise AND of the
        # two bitmaps read as (little-endian) integers is the byte-wise AND.
        wanted = int.from_bytes(self._wanted, "little")
        held = int.from_bytes(self._held, "little")
        self._wanted = bytearray((wanted & ~held).to_bytes(self.chunk_count, "little"))

    # What to do next.

    @property
    def sendable(self) -> int:
        """Chunks the hub wants that are not outstanding (0 until the hub has answered)."""
        if not self._answered:
            return 0
        return max(0, self._wanted.count(1) - len(self._sent))

    def take(self, now: float, limit: int | None = None) -> list[int]:
        """The chunks to send now, lowest first, marked as sent; empty while waiting.

        At most ``window`` outstanding, and at most ``limit`` new ones (the share of a window
        used by several uploads, ``edge_agent.uplink.window_rules.share_window``).
        """
        if not self._answered:
            return []
        room = self.window - len(self._sent)
        if limit is not None:
            room = min(room, limit)
        chosen: list[int] = []
        position = 0
        while room > 0:
            index = self._wanted.find(1, position)
            if index < 0:
                break
            position = index + 1
            if index in self._sent:
                continue
            self._sequence += 1
            self._sent[index] = self._sequence
            if self._ever_sent[index]:
                self.chunks_resent += 1
            self._ever_sent[index] = 1
            self.chunks_sent += 1
            chosen.append(index)
            room -= 1
        return chosen

    def _current_wait(self) -> float:
        doublings = max(0, self._silent_offers - 1)
        return min(self.reoffer_after * (2**doublings), self.max_reoffer_after)

    def reoffer_at(self) -> float | None:
        """When to re-offer if the hub stays silent; None before the first offer."""
        last = max(
            (t for t in (self._last_offer_at, self._last_ack_at) if t is not None), default=None
        )
        if last is None:
            return None
        if self._answered and self._last_passed_on_at is not None:
            # Chunks flowing since the hub's answer: wait for the ack their cadence brings.
            last = max(last, self._last_passed_on_at)
        return last + self._current_wait()

    def reoffer_due(self, now: float) -> bool:
        """True before the first offer, and once the hub has been silent for too long."""
        due = self.reoffer_at()
        return due is None or now >= due


def _bitmap(count: int, ranges: Iterable[tuple[int, int]]) -> bytearray:
    bitmap = bytearray(count)
    for first, last in ranges:
        bitmap[first : last + 1] = b"\x01" * (last - first + 1)
    return bitmap


def _ranges_of(bitmap: bytearray) -> list[tuple[int, int]]:
    ranges: list[tuple[int, int]] = []
    position = 0
    while True:
        first = bitmap.find(1, position)
        if first < 0:
            return ranges
        end = bitmap.find(0, first)
        last = (len(bitmap) if end < 0 else end) - 1
        ranges.append((first, last))
        position = last + 1


# Blocking helpers (call from a worker thread).


@dataclass(frozen=True)
class ChunkHashes:
    """A clip file cut into chunks: its size, its SHA-256 and each chunk's SHA-256."""

    size: int
    sha256: str
    chunk_size: int
    chunk_sha256: tuple[str, ...]

    @property
    def chunk_count(self) -> int:
        return len(self.chunk_sha256)


def chunk_hashes(path: Path, chunk_size: int) -> ChunkHashes:
    """Hash ``path`` whole and in ``chunk_size`` pieces in one pass."""
    if chunk_size < 1:
        raise ValueError(f"chunk size {chunk_size} must be positive")
    whole = hashlib.sha256()
    chunks: list[str] = []
    size = 0
    with path.open("rb") as handle:
        while True:
            chunk = hashlib.sha256()
            length = 0
            while length < chunk_size:
                block = handle.read(min(_READ_BLOCK, chunk_size - length))
                if not block:
                    break
                chunk.update(block)
                whole.update(block)
                length += len(block)
            if length == 0:
                break
            chunks.append(chunk.hexdigest())
            size += length
            if length < chunk_size:
                break
    return ChunkHashes(size, whole.hexdigest(), chunk_size, tuple(chunks))


def read_chunk(path: Path, index: int, chunk_size: int) -> bytes:
    """The bytes of chunk ``index`` (the last chunk may be short)."""
    return read_chunks(path, (index,), chunk_size)[0]


def read_chunks(path: Path, indices: Sequence[int], chunk_size: int) -> list[bytes]:
    """The bytes of each chunk of ``indices``, in that order, from one open of the file.

    One worker call per batch rather than per chunk: on a fast link the thread hop per chunk, not
    the read, was the agent's cost (``docs/transfer-profile.md``). The bytes are the file's as they
    are; nothing is hashed again here (the offer carries each chunk's SHA-256, and the hub checks).
    """
    if chunk_size < 1:
        raise ValueError(f"chunk size {chunk_size} must be positive")
    with path.open("rb", buffering=0) as handle:
        fd = handle.fileno()
        return [_pread_full(fd, chunk_size, index * chunk_size) for index in indices]


def _pread_full(fd: int, length: int, offset: int) -> bytes:
    """``length`` bytes at ``offset``, fewer only at the end of the file (pread may stop short)."""
    data = os.pread(fd, length, offset)
    if len(data) == length or not data:
        return data
    parts = [data]
    got = len(data)
    while got < length:
        more = os.pread(fd, length - got, offset + got)
        if not more:
            break
        parts.append(more)
        got += len(more)
    return b"".join(parts)
