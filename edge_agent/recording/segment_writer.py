"""Writing one MPEG-TS segment file by stream copy, hashed as it is written.

Why MPEG-TS: every 188-byte TS packet stands alone, so a file cut short by a power cut is still
readable up to its last whole packet, and TS files can be read one after another as one stream.

The file is written as ``<name>.ts.part`` through a file object of ours that feeds every byte
to SHA-256 on its way to the disk (one pass: measured at about 25 ms per 10 s of 1080p at 8 Mbit/s,
against about 21 ms for letting FFmpeg write the file and hashing it again from the page cache;
the difference does not matter and this way the bytes hashed are the bytes written). On close the
file is fsynced and renamed to ``.ts`` and its folder is fsynced, so a segment in the index is
on the disk. Packets are copied as they are: nothing is decoded or encoded here.

PyAV is blocking: use this from a recorder thread only.
"""

from __future__ import annotations

import hashlib
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import av
import av.error

from cctv_common.files import fsync_dir

log = logging.getLogger(__name__)

PART_SUFFIX = ".part"
SEGMENT_SUFFIX = ".ts"


class SegmentWriteFailed(Exception):
    """A segment file could not be written (disk full, I/O error); its partial file is gone."""

    def __init__(self, path: Path, cause: BaseException) -> None:
        self.path = path
        self.cause = cause
        self.errno = getattr(cause, "errno", None)
        super().__init__(f"cannot write segment {path.name}: {cause}")


@dataclass(frozen=True)
class WrittenSegment:
    path: Path
    bytes: int
    sha256: str


class HashingFile:
    """A write-only, non-seekable file object for PyAV's muxer that hashes what it writes."""

    def __init__(self, path: Path) -> None:
        # Unbuffered: every write goes to the kernel at once (see SegmentWriter).
        self._file = path.open("xb", buffering=0)
        self._digest = hashlib.sha256()
        self.bytes_written = 0

    def write(self, data: bytes) -> int:
        view = memoryview(data)
        while view:
            # A raw (unbuffered) write may be short; the rest is written until none is left.
            written = self._file.write(view)
            view = view[written or 0 :]
        self._digest.update(data)
        self.bytes_written += len(data)
        return len(data)

    def writable(self) -> bool:
        return True

    def seekable(self) -> bool:
        # The TS muxer never seeks; saying so keeps every byte on the hashing path.
        return False

    @property
    def closed(self) -> bool:
        return self._file.closed

    def sync_and_close(self) -> None:
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()

    def abandon(self) -> None:
        try:
            self._file.close()
        except OSError:
            pass  # the data is being thrown away; a failed flush changes nothing

    def hexdigest(self) -> str:
        return self._digest.hexdigest()


class SegmentWriter:
    """Muxes the packets of one video stream into ``part_path`` (a ``.ts.part`` file).

    Packets must come in decode order with increasing dts. Packets that share a dts are parts of
    one access unit (some cameras split a keyframe); they are joined into one packet so the muxer
    sees monotonic timestamps and no byte of the camera's bitstream is dropped.

    Each packet is flushed to the kernel as it is muxed (``flush_packets`` and an unbuffered
    file): a recorder process that is killed or crashes loses at most the frame being written,
    and the ``.ts.part`` it leaves is salvaged up to there. (A power cut still loses what the
    kernel had not written; the fsync at the close bounds that to one segment.)
    """

    def __init__(self, part_path: Path, template: Any) -> None:
        if not part_path.name.endswith(SEGMENT_SUFFIX + PART_SUFFIX):
            raise ValueError(f"segment part file must end in .ts.part: {part_path}")
        self.part_path = part_path
        self._pending: av.Packet | None = None
        self._file: HashingFile | None = None
        self._container: Any = None
        try:
            part_path.parent.mkdir(parents=True, exist_ok=True)
            self._file = HashingFile(part_path)
            self._container = av.open(
                self._file, "w", format="mpegts", options={"flush_packets": "1"}
            )
            self._stream = self._container.add_stream_from_template(template)
        except (OSError, av.error.FFmpegError) as exc:
            self.discard()
            raise SegmentWriteFailed(part_path, exc) from exc

    def write(self, packet: av.Packet) -> None:
        pending = self._pending
        if pending is not None and packet.dts == pending.dts:
            self._pending = _joined(pending, packet)
            return
        self._pending = packet
        if pending is not None:
            self._mux(pending)

    def close(self) -> WrittenSegment:
        """Finish the file, fsync it and rename it from ``.ts.part`` to ``.ts``."""
        final = self.part_path.with_name(self.part_path.name.removesuffix(PART_SUFFIX))
        return self.close_as(final)

    def close_as(self, final: Path) -> WrittenSegment:
        """Like ``close`` but under another name (the segment's start, known only at its end)."""
        if self._file is None or self._container is None:
            raise RuntimeError("segment writer is closed")
        try:
            if self._pending is not None:
                self._mux(self._pending)
                self._pending = None
            container, self._container = self._container, None
            container.close()
            file, self._file = self._file, None
            size = file.bytes_written
            file.sync_and_close()
            final.parent.mkdir(parents=True, exist_ok=True)
            os.replace(self.part_path, final)
            fsync_dir(final.parent)
        except (OSError, av.error.FFmpegError) as exc:
            self.discard()
            final.unlink(missing_ok=True)
            raise SegmentWriteFailed(self.part_path, exc) from exc
        return WrittenSegment(path=final, bytes=size, sha256=file.hexdigest())

    def discard(self) -> None:
        """Throw the partial segment away; never raises."""
        self._pending = None
        container, self._container = self._container, None
        if container is not None:
            try:
                container.close()
            except (OSError, av.error.FFmpegError):
                pass  # the trailer of a file being deleted
        file, self._file = self._file, None
        if file is not None:
            file.abandon()
        try:
            self.part_path.unlink(missing_ok=True)
        except OSError as exc:
            log.warning("cannot remove partial segment %s: %s", self.part_path, exc)

    def _mux(self, packet: av.Packet) -> None:
        packet.stream = self._stream
        try:
            self._container.mux(packet)
        except (OSError, av.error.FFmpegError) as exc:
            self.discard()
            raise SegmentWriteFailed(self.part_path, exc) from exc


def _joined(first: av.Packet, second: av.Packet) -> av.Packet:
    joined = av.Packet(bytes(first) + bytes(second))
    joined.pts = first.pts
    joined.dts = first.dts
    joined.duration = first.duration or second.duration
    joined.time_base = first.time_base
    joined.is_keyframe = first.is_keyframe or second.is_keyframe
    return joined
