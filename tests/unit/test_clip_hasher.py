"""Hashing a clip while it is written: the digest is the file's, whatever the writer's pace, and
FFmpeg's fragmented MP4 muxer never goes back to change bytes that were hashed already."""

from __future__ import annotations

import hashlib
import os
import threading
import time
from pathlib import Path

import av
import pytest

from edge_agent.clips import clip_hasher, remux
from edge_agent.clips.clip_hasher import ClipHashMismatch, GrowingFileHasher
from tests.support.segment_files import CAMERA, make_segments


def write_slowly(path: Path, pieces: list[bytes], hasher: GrowingFileHasher) -> None:
    """A writer that pauses between pieces, so the hasher catches up and waits for more."""
    with path.open("wb") as handle:
        for number, piece in enumerate(pieces):
            handle.write(piece)
            handle.flush()
            hasher.wrote(len(piece))
            if number % 64 == 0:
                time.sleep(0.002)


@pytest.mark.parametrize("piece_bytes", [1, 4096, 300_001, (1 << 20) + 7])
def test_digest_is_that_of_the_whole_file_written_in_pieces(
    tmp_path: Path, piece_bytes: int
) -> None:
    data = os.urandom(3 * (1 << 20) + 12345) if piece_bytes > 1 else os.urandom(5000)
    pieces = [data[i : i + piece_bytes] for i in range(0, len(data), piece_bytes)]
    path = tmp_path / "clip.part"
    hasher = GrowingFileHasher(path)  # before the file exists, as in a cut
    writer = threading.Thread(target=write_slowly, args=(path, pieces, hasher))
    writer.start()
    writer.join()
    assert hasher.finish() == (hashlib.sha256(data).hexdigest(), len(data))


def test_an_empty_file_hashes_as_empty(tmp_path: Path) -> None:
    path = tmp_path / "clip.part"
    path.write_bytes(b"")
    assert GrowingFileHasher(path).finish() == (hashlib.sha256().hexdigest(), 0)


def test_a_file_never_created_fails_at_finish(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        GrowingFileHasher(tmp_path / "never.part").finish()


def test_bytes_added_after_the_hasher_ended_are_caught(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "clip.part"
    path.write_bytes(b"x" * 1000)
    hasher = GrowingFileHasher(path)
    real_stat = Path.stat

    def grown(self: Path, **kwargs: bool) -> os.stat_result:
        with path.open("ab") as handle:  # the writer was not done after all
            handle.write(b"more")
        return real_stat(self, **kwargs)

    hasher._closed.set()
    hasher._more.set()
    hasher._thread.join()
    monkeypatch.setattr(Path, "stat", grown)
    with pytest.raises(ClipHashMismatch):
        hasher.finish()


def test_abandon_stops_the_thread_while_it_waits_for_the_file(tmp_path: Path) -> None:
    hasher = GrowingFileHasher(tmp_path / "never.part")
    hasher.abandon()
    assert not hasher._thread.is_alive()


class WriteLog:
    """An output file for PyAV that records every write that does not append at the end."""

    def __init__(self) -> None:
        self.data = bytearray()
        self.position = 0
        self.rewrites: list[tuple[int, int]] = []

    def write(self, buffer: bytes) -> int:
        size = len(buffer)
        if self.position != len(self.data):
            self.rewrites.append((self.position, size))
        end = self.position + size
        self.data[self.position : end] = buffer
        self.position = end
        return size

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        base = {os.SEEK_SET: 0, os.SEEK_CUR: self.position, os.SEEK_END: len(self.data)}[whence]
        self.position = base + offset
        return self.position

    def tell(self) -> int:
        return self.position


def mux_into_log(segment: Path, options: dict[str, str]) -> WriteLog:
    log = WriteLog()
    with av.open(str(segment)) as source:
        in_stream = source.streams.video[0]
        output = av.open(log, "w", format="mp4", options=options)
        out_stream = output.add_stream_from_template(in_stream, opaque=True)
        for packet in source.demux(in_stream):
            if packet.dts is None:
                continue
            packet.stream = out_stream
            output.mux_one(packet)
        output.close()
    return log


@pytest.fixture(scope="module")
def long_segment(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Many GOPs with B-frames in one file (fragments and their trun version follow from it)."""
    root = tmp_path_factory.mktemp("segments")
    make_segments(root / CAMERA, "h264", 12, reset_timestamps=False)
    joined = root / "joined.ts"
    with joined.open("wb") as handle:
        for part in sorted((root / CAMERA).rglob("*.ts")):
            handle.write(part.read_bytes())
    return joined


def test_fragmented_mp4_is_written_front_to_back_only(long_segment: Path) -> None:
    log = mux_into_log(long_segment, {"movflags": remux._FRAGMENTED_MOVFLAGS})
    assert len(log.data) > 100_000
    assert log.rewrites == []


def test_a_plain_mp4_patches_its_mdat_size_on_close(long_segment: Path) -> None:
    """Why a plain MP4 cannot be hashed while written: its first block changes at the end."""
    log = mux_into_log(long_segment, {})
    assert log.rewrites and all(offset < 64 for offset, _ in log.rewrites)


def test_the_wake_up_threshold_is_below_one_read() -> None:
    assert 0 < clip_hasher._WAKE_EVERY_BYTES <= remux.READ_SIZE
