"""The content probe run over the held bytes while a clip arrives (``EarlyProbe``)."""

from __future__ import annotations

import os
import threading
from pathlib import Path

from hub.services.ingest.clip_probe import ClipUnreadable
from hub.services.ingest.early_probe import (
    MAX_EARLY_PROBES,
    ChunkGate,
    EarlyProbe,
    HeldBytesReader,
    ProbeGaveUp,
)
from tests.support.hub_kit import video_bytes

CHUNK = 16 * 1024


def staging(tmp_path: Path, data: bytes) -> tuple[int, ChunkGate]:
    path = tmp_path / "clip.part"
    path.write_bytes(data)
    fd = os.open(path, os.O_RDONLY)
    return fd, ChunkGate(-(-len(data) // CHUNK), CHUNK, len(data))


def test_the_probe_follows_the_chunks_as_they_land(tmp_path: Path) -> None:
    data = video_bytes(300_000)
    fd, gate = staging(tmp_path, data)
    try:
        probe = EarlyProbe.start(fd, gate, "h264", 320, 240, wait_seconds=30)
        assert probe is not None
        for index in reversed(range(gate.chunk_count)):  # the worst order for the probe
            gate.mark(index)
        outcome = probe.outcome()
        assert outcome is not None and not isinstance(outcome, ClipUnreadable)
        assert outcome.first_gop_frames > 0
    finally:
        os.close(fd)


def test_a_clip_that_is_not_video_is_found_early(tmp_path: Path) -> None:
    fd, gate = staging(tmp_path, os.urandom(100_000))
    try:
        probe = EarlyProbe.start(fd, gate, "h264", 320, 240, wait_seconds=30)
        assert probe is not None
        for index in range(gate.chunk_count):
            gate.mark(index)
        assert isinstance(probe.outcome(), ClipUnreadable)
    finally:
        os.close(fd)


def test_a_spoiled_or_stalled_probe_is_void(tmp_path: Path) -> None:
    data = video_bytes(300_000)
    fd, gate = staging(tmp_path, data)
    try:
        stalled = EarlyProbe.start(fd, gate, "h264", 320, 240, wait_seconds=0.05)
        assert stalled is not None and stalled.outcome() is None  # no chunk ever came
        fd2, gate2 = staging(tmp_path, data)
        probe = EarlyProbe.start(fd2, gate2, "h264", 320, 240, wait_seconds=30)
        assert probe is not None
        for index in range(gate2.chunk_count):
            gate2.mark(index)
        gate2.spoil()  # a chunk it may have read was found bad on disk
        assert probe.outcome() is None
        os.close(fd2)
    finally:
        os.close(fd)


def test_the_reader_hands_out_only_held_chunks_and_stops_when_the_upload_ends(
    tmp_path: Path,
) -> None:
    data = bytes(range(256)) * 200
    fd, gate = staging(tmp_path, data)
    try:
        reader = HeldBytesReader(fd, gate, wait_seconds=30)
        gate.mark(0)
        assert reader.read(10) == data[:10]
        assert reader.read() == data[10:CHUNK]  # never past a chunk that may not be held
        assert reader.seek(-5, os.SEEK_END) == len(data) - 5
        gate.mark(gate.chunk_count - 1)
        assert reader.read() == data[-5:] and reader.read() == b""
        reader.seek(CHUNK)
        ended = threading.Timer(0.05, gate.close)
        ended.start()
        try:
            reader.read(1)
        except ProbeGaveUp:
            assert reader.gave_up
        else:
            raise AssertionError("the read should have given up")
    finally:
        os.close(fd)


def test_at_most_max_early_probes_run_at_once(tmp_path: Path) -> None:
    fd, _ = staging(tmp_path, video_bytes(300_000))
    gates = [ChunkGate(19, CHUNK, 300_000) for _ in range(MAX_EARLY_PROBES + 1)]
    try:
        started = [EarlyProbe.start(fd, gate, "h264", 320, 240, wait_seconds=30) for gate in gates]
        assert started[-1] is None  # probed at completion instead
        for gate in gates:
            gate.close()  # the uploads end: every wait stops at once
        assert all(probe.outcome() is None for probe in started[:-1] if probe is not None)
        assert EarlyProbe.start(fd, gates[0], "h264", 320, 240) is not None  # slots free again
    finally:
        os.close(fd)
