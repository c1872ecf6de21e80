"""The content check run while the clip arrives, not after: ``probe_clip`` over the held bytes.

``probe_clip`` reads a clip from its start (the agent's clips and the MP4s ffmpeg writes with
``+faststart`` keep the index at the front) and decodes the first and the last GOP. Started when the
upload begins, it reads the staging file through ``HeldBytesReader``, which hands out only bytes of
chunks this process has verified and written, and waits for the next one otherwise. So the probe
follows the upload and, when the last chunk lands, only the end of the clip is left to demux and
its last GOP to decode.

The early result is used only if nothing it read can have changed: a chunk dropped after it was
held (bad bytes on disk), or a wait that gave up (a stalled upload, or the upload ended) makes it
void, and the completion probes the finished file as before. Either way the probe must pass before
the clip is stored. Blocking: runs in its own daemon thread, at most ``MAX_EARLY_PROBES`` at once
per hub process (an upload beyond that is probed at completion).
"""

from __future__ import annotations

import io
import logging
import os
import threading
from concurrent.futures import Future
from typing import Final

from hub.services.ingest.clip_probe import ClipUnreadable, ProbeResult, probe_clip

log = logging.getLogger(__name__)

# Early probes running at once in one hub process (each holds a thread while it waits).
MAX_EARLY_PROBES: Final = 4
# A probe that waits this long for a chunk gives up; the completion probes the whole file.
CHUNK_WAIT_SECONDS: Final = 30.0

_running = 0
_running_lock = threading.Lock()


class ProbeGaveUp(OSError):
    """The reader stopped waiting for a chunk: the probe's outcome says nothing of the clip."""


class ChunkGate:
    """Which chunks of one clip the reader may hand out; fed from the event loop."""

    def __init__(self, chunk_count: int, chunk_size: int, clip_bytes: int) -> None:
        self.chunk_count = chunk_count
        self.chunk_size = chunk_size
        self.clip_bytes = clip_bytes
        self._held = bytearray(chunk_count)
        self._condition = threading.Condition()
        self._closed = False
        self.spoiled = False  # bytes the probe may have read are in doubt

    def mark(self, index: int) -> None:
        with self._condition:
            self._held[index] = 1
            self._condition.notify_all()

    def spoil(self) -> None:
        """Bytes the probe may have read are in doubt: its outcome is void, its wait ends."""
        with self._condition:
            self.spoiled = True
            self._closed = True
            self._condition.notify_all()

    def close(self) -> None:
        """The upload ended here (completed, discarded, forgotten): stop any wait at once."""
        with self._condition:
            self._closed = True
            self._condition.notify_all()

    def wait_held(self, index: int, timeout: float) -> None:
        with self._condition:
            if not self._condition.wait_for(
                lambda: self._closed or self._held[index] == 1, timeout
            ):
                raise ProbeGaveUp(f"chunk {index} did not arrive within {timeout:g} s")
            if self.spoiled or not self._held[index]:
                raise ProbeGaveUp("the upload ended here, or its bytes are in doubt")


class HeldBytesReader(io.RawIOBase):
    """The staging file as a read-only, seekable file, blocking until a byte's chunk is held."""

    def __init__(self, fd: int, gate: ChunkGate, wait_seconds: float) -> None:
        super().__init__()
        self._fd = fd
        self._gate = gate
        self._wait = wait_seconds
        self._position = 0
        self.gave_up = False  # a wait ended without the chunk: what was probed is void

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: self._gate.clip_bytes}
        self._position = max(0, base[whence] + offset)
        return self._position

    def read(self, size: int = -1) -> bytes:
        gate = self._gate
        if self._position >= gate.clip_bytes:
            return b""
        index = self._position // gate.chunk_size
        try:
            gate.wait_held(index, self._wait)
        except ProbeGaveUp:
            self.gave_up = True
            raise
        # Only up to the end of this chunk: the next one may not be held yet.
        end = min((index + 1) * gate.chunk_size, gate.clip_bytes)
        length = end - self._position if size < 0 else min(size, end - self._position)
        data = os.pread(self._fd, length, self._position)
        self._position += len(data)
        return data

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


class EarlyProbe:
    """One clip's probe, started when its upload begins; ``outcome`` once the clip is complete."""

    def __init__(self, gate: ChunkGate, future: Future[ProbeResult | ClipUnreadable | None]):
        self.gate = gate
        self._future = future

    @classmethod
    def start(
        cls,
        fd: int,
        gate: ChunkGate,
        codec: str,
        width: int,
        height: int,
        wait_seconds: float = CHUNK_WAIT_SECONDS,
    ) -> EarlyProbe | None:
        """Start the probe in a thread, or None when ``MAX_EARLY_PROBES`` are already running."""
        global _running
        with _running_lock:
            if _running >= MAX_EARLY_PROBES:
                return None
            _running += 1
        future: Future[ProbeResult | ClipUnreadable | None] = Future()
        # Its own descriptor: the upload's may be closed (and its number reused) while it reads.
        own_fd = os.dup(fd)

        def run() -> None:
            global _running
            reader = HeldBytesReader(own_fd, gate, wait_seconds)
            outcome: ProbeResult | ClipUnreadable | None
            try:
                outcome = probe_clip(reader, codec, width, height)
            except ClipUnreadable as exc:
                outcome = exc
            except Exception:  # never lost in the thread; the completion probes again
                log.exception("early probe failed")
                outcome = None
            finally:
                os.close(own_fd)
                with _running_lock:
                    _running -= 1
            if reader.gave_up:
                outcome = None
            future.set_result(outcome)

        thread = threading.Thread(target=run, name="ingest-early-probe", daemon=True)
        thread.start()
        return cls(gate, future)

    def outcome(self) -> ProbeResult | ClipUnreadable | None:
        """Blocking: the probe's verdict, or None if it is void (probe the file again)."""
        result = self._future.result()
        return None if self.gate.spoiled else result
