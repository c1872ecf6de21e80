"""Retention and crash recovery on real files, and a full disk under a real recording."""

from __future__ import annotations

import errno
import hashlib
import subprocess
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from devkit.testcam import TestCamera
from devkit.waiting import wait_until
from edge_agent.config import RecorderConfig, RetentionConfig
from edge_agent.recording.janitor import Janitor
from edge_agent.recording.recorder import CameraRecorder, RecorderState
from edge_agent.recording.recording_session import segment_relative_path
from edge_agent.recording.segment_writer import HashingFile
from edge_agent.recording.segments import Pin, Segment
from edge_agent.store.segment_index import IndexWriteFailed, SegmentIndex

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
MIB = 1024**2
PLENTY_FREE = 10**15


def retention(**changes: float) -> RetentionConfig:
    values: dict[str, float] = {
        "max_days": 31,
        "max_disk_bytes": 100 * MIB,
        "min_free_bytes": 0,
        "check_interval_seconds": 1,
    }
    values.update(changes)
    return RetentionConfig.model_validate(values)


def add_segment(
    index: SegmentIndex, segments_dir: Path, camera_id: str, start: datetime, size: int = MIB
) -> Segment:
    """A small file on disk whose index row claims ``size`` bytes (retention reads the index)."""
    relative = segment_relative_path(camera_id, start)
    path = segments_dir / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    content = f"segment {relative}".encode()
    path.write_bytes(content)
    segment = Segment(
        camera_id,
        relative,
        start,
        start + timedelta(seconds=10),
        size,
        hashlib.sha256(content).hexdigest(),
    )
    return index.add_segment(segment)


def make_janitor(
    index: SegmentIndex, segments_dir: Path, settings: RetentionConfig, free: int = PLENTY_FREE
) -> Janitor:
    return Janitor(
        index, segments_dir, settings, site_id="site1", disk_free=lambda _: free, now=lambda: NOW
    )


def test_footage_older_than_max_days_goes_file_and_row(tmp_path: Path) -> None:
    index = SegmentIndex(None)
    old = add_segment(index, tmp_path, "cam1", NOW - timedelta(days=40))
    older = add_segment(index, tmp_path, "cam2", NOW - timedelta(days=35))
    recent = add_segment(index, tmp_path, "cam1", NOW - timedelta(days=1))
    run = make_janitor(index, tmp_path, retention(max_days=31)).run_once()
    assert (run.deleted, run.bytes_freed, run.bound_met) == (2, 2 * MIB, True)
    assert [s.path for s in index.all_segments()] == [recent.path]
    assert not (tmp_path / old.path).exists() and not (tmp_path / older.path).exists()
    assert (tmp_path / recent.path).exists()


def test_oldest_go_first_until_the_byte_bound_is_met(tmp_path: Path) -> None:
    index = SegmentIndex(None)
    starts = [NOW - timedelta(minutes=m) for m in (30, 20, 10)]
    first, second, third = (add_segment(index, tmp_path, "cam1", s, 6 * MIB) for s in starts)
    run = make_janitor(index, tmp_path, retention(max_disk_bytes=10 * MIB)).run_once()
    assert run.deleted == 2
    assert [s.path for s in index.all_segments()] == [third.path]
    assert index.total_bytes() == 6 * MIB
    assert not (tmp_path / first.path).exists() and not (tmp_path / second.path).exists()


def test_free_space_floor_deletes_the_oldest(tmp_path: Path) -> None:
    index = SegmentIndex(None)
    first = add_segment(index, tmp_path, "cam1", NOW - timedelta(minutes=20), 4 * MIB)
    second = add_segment(index, tmp_path, "cam1", NOW - timedelta(minutes=10), 4 * MIB)
    janitor = make_janitor(index, tmp_path, retention(min_free_bytes=20 * MIB), free=17 * MIB)
    run = janitor.run_once()
    assert run.deleted == 1 and run.bytes_freed == 4 * MIB
    assert [s.path for s in index.all_segments()] == [second.path]
    assert not (tmp_path / first.path).exists()


def test_pinned_segments_are_never_deleted(tmp_path: Path) -> None:
    index = SegmentIndex(None)
    held = add_segment(index, tmp_path, "cam1", NOW - timedelta(days=60))
    other_camera = add_segment(index, tmp_path, "cam2", NOW - timedelta(days=59))
    site_wide = add_segment(index, tmp_path, "cam2", NOW - timedelta(days=50))
    index.pin(Pin("hold-17", "cam1", held.start, held.start + timedelta(seconds=1)))
    index.pin(Pin("job-9", None, site_wide.start, site_wide.end))
    run = make_janitor(index, tmp_path, retention(max_days=31)).run_once()
    assert run.deleted == 1
    assert {s.path for s in index.all_segments()} == {held.path, site_wide.path}
    assert (tmp_path / held.path).exists() and (tmp_path / site_wide.path).exists()
    assert not (tmp_path / other_camera.path).exists()


def test_pins_that_keep_the_disk_over_its_bound_say_so(tmp_path: Path) -> None:
    index = SegmentIndex(None)
    first = add_segment(index, tmp_path, "cam1", NOW - timedelta(minutes=20), 8 * MIB)
    add_segment(index, tmp_path, "cam1", NOW - timedelta(minutes=10), 8 * MIB)
    index.pin(Pin("hold-1", "cam1", first.start, NOW))
    run = make_janitor(index, tmp_path, retention(max_disk_bytes=10 * MIB)).run_once()
    assert run.deleted == 0 and not run.bound_met and run.pinned_bytes_kept == 16 * MIB
    assert len(index.all_segments()) == 2


def test_a_missing_file_still_loses_its_row(tmp_path: Path) -> None:
    index = SegmentIndex(None)
    gone = add_segment(index, tmp_path, "cam1", NOW - timedelta(days=40))
    (tmp_path / gone.path).unlink()
    run = make_janitor(index, tmp_path, retention()).run_once()
    assert run.deleted == 1 and index.all_segments() == []


def test_within_every_bound_nothing_is_touched(tmp_path: Path) -> None:
    index = SegmentIndex(None)
    kept = add_segment(index, tmp_path, "cam1", NOW - timedelta(days=2))
    run = make_janitor(index, tmp_path, retention()).run_once()
    assert run.deleted == 0 and run.bound_met
    assert (tmp_path / kept.path).exists()


def test_old_empty_day_folders_are_removed(tmp_path: Path) -> None:
    index = SegmentIndex(None)
    old = add_segment(index, tmp_path, "cam1", NOW - timedelta(days=40))
    today = add_segment(index, tmp_path, "cam1", NOW - timedelta(minutes=1))
    make_janitor(index, tmp_path, retention()).run_once()
    assert not (tmp_path / old.path).parent.exists()
    assert (tmp_path / today.path).parent.exists()


def test_the_janitor_thread_runs_on_wake_and_stops(tmp_path: Path) -> None:
    index = SegmentIndex(None)
    janitor = make_janitor(index, tmp_path, retention(check_interval_seconds=3600))
    janitor.start()
    try:
        add_segment(index, tmp_path, "cam1", NOW - timedelta(days=40))
        janitor.wake()
        deadline = time.monotonic() + 30
        while index.all_segments() and time.monotonic() < deadline:
            time.sleep(0.02)
        assert index.all_segments() == []
    finally:
        janitor.stop()


# Crash leftovers


@pytest.fixture(scope="module")
def ts_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two seconds of H.264 in MPEG-TS, a keyframe every second (made once by ffmpeg)."""
    path = tmp_path_factory.mktemp("media") / "two-seconds.ts"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc=size=160x90:rate=25",
         "-t", "2", "-c:v", "libx264", "-g", "25", "-pix_fmt", "yuv420p", "-f", "mpegts",
         str(path)],
        check=True,
    )  # fmt: skip
    return path


def test_leftovers_are_salvaged_when_readable_and_removed_when_not(
    tmp_path: Path, ts_file: Path
) -> None:
    index = SegmentIndex(None)
    known = add_segment(index, tmp_path, "cam1", NOW - timedelta(minutes=5))
    start_part = NOW - timedelta(minutes=2)
    part = tmp_path / (segment_relative_path("cam1", start_part) + ".part")
    data = ts_file.read_bytes()
    part.parent.mkdir(parents=True, exist_ok=True)
    part.write_bytes(data[: len(data) // 2 + 50])  # the power went mid-write
    start_orphan = NOW - timedelta(minutes=1)
    orphan = tmp_path / segment_relative_path("cam2", start_orphan)
    orphan.parent.mkdir(parents=True, exist_ok=True)
    orphan.write_bytes(data)
    garbage_part = tmp_path / (segment_relative_path("cam1", NOW) + ".part")
    garbage_part.write_bytes(b"\x00" * 100)
    empty_part = tmp_path / (segment_relative_path("cam1", NOW + timedelta(seconds=1)) + ".part")
    empty_part.write_bytes(b"")
    badly_named = tmp_path / "cam1" / part.parent.name / "notes.ts"
    badly_named.write_bytes(data)

    recovery = make_janitor(index, tmp_path, retention()).recover_leftovers()

    salvaged_part = part.with_name(part.name.removesuffix(".part"))
    assert set(recovery.salvaged) == {
        salvaged_part.relative_to(tmp_path).as_posix(),
        orphan.relative_to(tmp_path).as_posix(),
    }
    assert len(recovery.removed) == 3
    assert not part.exists() and salvaged_part.exists() and orphan.exists()
    assert not garbage_part.exists() and not empty_part.exists() and not badly_named.exists()
    assert (tmp_path / known.path).exists()
    rows = {s.path: s for s in index.all_segments()}
    assert set(rows) == {known.path, *recovery.salvaged}
    row = rows[salvaged_part.relative_to(tmp_path).as_posix()]
    assert row.start == start_part and row.keyframes[0] == 0.0 and row.end > row.start
    assert row.sha256 == hashlib.sha256(salvaged_part.read_bytes()).hexdigest()
    assert rows[orphan.relative_to(tmp_path).as_posix()].start == start_orphan
    assert not list(tmp_path.rglob("*.part"))


# A full disk under a real recording


@pytest.mark.slow
def test_a_full_disk_neither_kills_the_worker_nor_spoils_the_index(
    rtsp_camera: TestCamera, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    disk_full = threading.Event()
    write = HashingFile.write

    def write_or_fail(self: HashingFile, data: bytes) -> int:
        if disk_full.is_set():
            raise OSError(errno.ENOSPC, "No space left on device")
        return write(self, data)

    monkeypatch.setattr(HashingFile, "write", write_or_fail)
    index = SegmentIndex(tmp_path / "index.db")
    add_segment_for_real = index.add_segment
    index_full = threading.Event()

    def add_or_fail(segment: Segment) -> Segment:
        if index_full.is_set():
            index_full.clear()
            raise IndexWriteFailed("database or disk is full")
        return add_segment_for_real(segment)

    monkeypatch.setattr(index, "add_segment", add_or_fail)
    woken = threading.Event()
    settings = RecorderConfig(
        segment_seconds=2.0,
        reconnect_initial_seconds=0.2,
        reconnect_max_seconds=1.0,
        stall_timeout_seconds=2.0,
    )
    segments_dir = tmp_path / "segments"
    recorder = CameraRecorder(
        "cam1", lambda: rtsp_camera.url, segments_dir, index, settings, on_disk_full=woken.set
    )

    def count() -> int:
        return len(index.all_segments())

    recorder.start()
    try:
        wait_until(lambda: count() >= 1, "a first segment")
        disk_full.set()
        wait_until(lambda: recorder.status.state is RecorderState.ERROR, "the disk error")
        assert "disk full" in (recorder.status.last_error or "")
        assert woken.is_set()
        disk_full.clear()
        wait_until(lambda: recorder.status.state is RecorderState.RECORDING, "recording again")
        index_full.set()
        wait_until(lambda: not index_full.is_set(), "an index write failure")
        written = count()
        wait_until(lambda: count() >= written + 1, "a segment after the index failure")
    finally:
        recorder.stop()
        recorder.join(30)
    assert not recorder.is_alive()

    segments = index.all_segments()
    for segment in segments:
        path = segments_dir / segment.path
        assert hashlib.sha256(path.read_bytes()).hexdigest() == segment.sha256
    on_disk = {p.relative_to(segments_dir).as_posix() for p in segments_dir.rglob("*.ts*")}
    assert on_disk == {s.path for s in segments}, "no partial or unindexed files are left"
    gaps = index.gaps_overlapping("cam1", segments[0].start, segments[-1].end)
    assert any(gap.reason.startswith("disk full") for gap in gaps)
    assert recorder.status.state is RecorderState.STOPPED
