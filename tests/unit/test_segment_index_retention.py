"""The segment index on a real SQLite database, and the pure retention planner."""

from datetime import UTC, datetime, timedelta
from pathlib import Path

from edge_agent.recording.segments import Gap, Pin, Segment
from edge_agent.store.retention import plan_retention
from edge_agent.store.segment_index import CameraEvent, SegmentIndex

T0 = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


def seg(camera: str, n: int, size: int = 100, start: datetime = T0) -> Segment:
    begin = start + timedelta(seconds=10 * n)
    return Segment(
        camera, f"{camera}/{n}.ts", begin, begin + timedelta(seconds=10), size, f"{n:064x}"
    )


def test_index_round_trips_segments_gaps_pins_and_events(tmp_path: Path) -> None:
    index = SegmentIndex(tmp_path / "index.db")
    stored = index.add_segment(seg("cam-1", 0))
    assert stored.id is not None
    index.add_segment(seg("cam-1", 1))
    index.add_segment(seg("cam-2", 0))
    index.add_gap("cam-1", Gap(T0 + timedelta(seconds=20), T0 + timedelta(seconds=25), "drop"))
    index.pin(Pin("job-1", "cam-1", T0, T0 + timedelta(seconds=5)))
    index.add_event(CameraEvent("cam-1", T0, "motion", True, "tns1:Motion", {"IsMotion": "true"}))
    index.close()

    index = SegmentIndex(tmp_path / "index.db")
    got = index.segments_overlapping("cam-1", T0 + timedelta(seconds=5), T0 + timedelta(seconds=15))
    assert [s.path for s in got] == ["cam-1/0.ts", "cam-1/1.ts"]
    assert got[0] == seg("cam-1", 0)
    assert index.buffer_extent("cam-1") == (T0, T0 + timedelta(seconds=20))
    assert index.buffer_extent("nope") is None
    assert index.total_bytes() == 300
    assert index.gaps_overlapping("cam-1", T0, T0 + timedelta(minutes=1))[0].reason == "drop"
    assert [p.owner for p in index.pins()] == ["job-1"]
    index.unpin("job-1")
    assert index.pins() == []
    assert index.events_between("cam-1", T0, T0 + timedelta(seconds=1))[0].data == {
        "IsMotion": "true"
    }
    index.delete_segments([seg("cam-2", 0)])
    assert index.known_paths() == {"cam-1/0.ts", "cam-1/1.ts"}


def test_camera_facts_are_saved_for_later_manifests() -> None:
    index = SegmentIndex(None)
    assert index.camera_facts("cam-1") is None
    index.save_camera_facts("cam-1", {"manufacturer": "AXIS"}, -0.5)
    assert index.camera_facts("cam-1") == ({"manufacturer": "AXIS"}, -0.5)


def test_retention_deletes_expired_oldest_first() -> None:
    segments = [seg("c", n) for n in range(10)]
    now = T0 + timedelta(days=1, seconds=55)
    decision = plan_retention(segments, [], now, timedelta(days=1), max_bytes=10_000)
    assert [s.path for s in decision.delete] == ["c/0.ts", "c/1.ts", "c/2.ts", "c/3.ts", "c/4.ts"]
    assert decision.bound_met


def test_retention_meets_the_byte_bound_from_the_oldest() -> None:
    segments = [seg("c", n) for n in range(10)]
    decision = plan_retention(segments, [], T0, timedelta(days=30), max_bytes=650)
    assert [s.path for s in decision.delete] == ["c/0.ts", "c/1.ts", "c/2.ts", "c/3.ts"]
    assert decision.bytes_freed == 400


def test_retention_frees_space_for_the_disk_floor() -> None:
    segments = [seg("c", n) for n in range(5)]
    decision = plan_retention(segments, [], T0, timedelta(days=30), 10_000, bytes_to_free=150)
    assert len(decision.delete) == 2


def test_retention_never_deletes_pinned_segments() -> None:
    segments = [seg("a", n) for n in range(4)] + [seg("b", n) for n in range(4)]
    pins = [
        Pin("job-7", "a", T0, T0 + timedelta(seconds=15)),
        Pin("hold-1", None, T0 + timedelta(seconds=30), T0 + timedelta(seconds=31)),
    ]
    decision = plan_retention(segments, pins, T0 + timedelta(days=9), timedelta(days=1), 0)
    kept = {s.path for s in segments} - {s.path for s in decision.delete}
    assert kept == {"a/0.ts", "a/1.ts", "a/3.ts", "b/3.ts"}
    assert decision.pinned_bytes_kept == 400
    decision = plan_retention(segments, pins, T0, timedelta(days=30), max_bytes=0)
    assert not decision.bound_met


def test_stale_cut_pins_of_dead_processes_are_released() -> None:
    from edge_agent.clips.evidence_clip import cut_pin_owner, release_stale_cut_pins

    index = SegmentIndex(None)
    mine = cut_pin_owner("clip1")
    index.pin(Pin(mine, "c", T0, T0 + timedelta(seconds=10)))
    index.pin(Pin("cut-999999999-clip2", "c", T0, T0 + timedelta(seconds=10)))
    index.pin(Pin("job-7", "c", T0, T0 + timedelta(seconds=10)))
    assert release_stale_cut_pins(index) == ["cut-999999999-clip2"]
    assert {p.owner for p in index.pins()} == {mine, "job-7"}
