"""Legal holds at the edge, without a broker: the holds table on real SQLite (and its migration
from schema version 1), the hub-signed orders as the keeper takes them, retention under holds,
and what the status says."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from cctv_common.wire.hub_signing import HubSigner, HubVerifier
from cctv_common.wire.payloads import HeldWindow, HoldOrder
from cctv_common.wire.topics import HoldTopic, hold_topic
from edge_agent.config import AgentConfig, RetentionConfig
from edge_agent.holds.keeper import HoldKeeper, held_windows
from edge_agent.recording.janitor import Janitor
from edge_agent.recording.recorder import RecorderHealth, RecorderState
from edge_agent.recording.segments import Pin, Segment
from edge_agent.store.holds import EdgeHold, HoldChange
from edge_agent.store.retention import plan_retention, pressure_note
from edge_agent.store.segment_index import SCHEMA_VERSION, SegmentIndex
from edge_agent.uplink.connection import build_site_status
from tests.support.paths import FIXTURES

SITE = "site-a"
T0 = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
HUB_KEY = Ed25519PrivateKey.generate()
HUB = HubSigner(HUB_KEY)
V1_FIXTURE = FIXTURES / "index" / "index_v1.sql"


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def seg(camera: str, n: int, size: int = 100) -> Segment:
    begin = at(10 * n)
    return Segment(camera, f"{camera}/{n}.ts", begin, begin + timedelta(seconds=10), size, "0" * 64)


def hold(
    hold_id: str = "hold-1", camera: str = "cam-1", start: float = 10, end: float = 30
) -> EdgeHold:
    return EdgeHold(hold_id, camera, at(start), at(end), "R-2026-0001", at(100), at(101))


def order(hold_id: str = "hold-1", camera: str = "cam-1", *, lifted: bool = False) -> HoldOrder:
    return HoldOrder(
        hold_id=hold_id,
        camera_id=camera,
        window_start=at(10),
        window_end=at(30),
        reason_ref="R-2026-0001",
        placed_at=at(100),
        lifted=lifted,
    )


# The store.


def test_an_index_of_version_1_is_migrated_in_place_keeps_every_row_and_takes_holds(
    tmp_path: Path,
) -> None:
    path = tmp_path / "index.db"
    connection = sqlite3.connect(path)
    connection.executescript(V1_FIXTURE.read_text(encoding="utf-8"))
    connection.close()

    index = SegmentIndex(path)
    assert index.schema_version == SCHEMA_VERSION == 2
    segments = index.all_segments("cam-1")
    assert [(s.path, s.bytes, s.frames) for s in segments] == [
        ("cam-1/20261123/100000_000000.ts", 1000, 250),
        ("cam-1/20261123/100010_000000.ts", 1001, 250),
        ("cam-1/20261123/100020_000000.ts", 1002, 250),
    ]
    assert segments[0].frames_dropped == (("before_keyframe", 1),)
    gaps = index.gaps_overlapping("cam-1", T0, at(60))
    assert [(g.start, g.open) for g in gaps] == [(at(30), False), (at(50), True)]
    assert [p.owner for p in index.pins()] == ["job-1"]
    assert [e.kind for e in index.events_between("cam-1", T0, at(60))] == ["motion"]
    assert index.camera_facts("cam-1") == ({"manufacturer": "Acme"}, 0.25)
    assert index.holds.all() == []

    assert index.holds.place(hold()) is HoldChange.PLACED
    index.close()
    again = SegmentIndex(path)
    assert again.schema_version == 2
    assert [h.hold_id for h in again.holds.in_force()] == ["hold-1"]
    assert len(again.all_segments("cam-1")) == 3
    again.close()


def test_holds_are_idempotent_lifted_for_good_and_survive_a_restart(tmp_path: Path) -> None:
    index = SegmentIndex(tmp_path / "index.db")
    assert index.holds.place(hold()) is HoldChange.PLACED
    assert index.holds.place(hold()) is HoldChange.KNOWN  # redelivered
    assert index.holds.place(hold(end=40)) is HoldChange.CHANGED
    assert index.holds.place(hold("hold-2", camera="cam-2")) is HoldChange.PLACED
    index.pin(Pin("job-9", "cam-1", at(0), at(5)))
    assert {p.owner for p in index.pins_in_force()} == {"job-9", "hold:hold-1", "hold:hold-2"}
    assert [p.owner for p in index.pins()] == ["job-9"]  # the jobs' own pins stay apart
    index.close()

    index = SegmentIndex(tmp_path / "index.db")
    kept = index.holds.get("hold-1")
    assert kept is not None and kept.in_force and kept.end == at(40)
    assert kept.pin == Pin("hold:hold-1", "cam-1", at(10), at(40))
    assert index.holds.lift(hold(), at(200)) is HoldChange.LIFTED
    assert index.holds.lift(hold(), at(300)) is HoldChange.KNOWN
    lifted = index.holds.get("hold-1")
    assert lifted is not None and lifted.lifted == at(200)
    # The genuine placed order replayed after the lift does not pin again.
    assert index.holds.place(hold()) is HoldChange.ALREADY_LIFTED
    # A lift for a hold never seen is kept, so its placed order arriving late is not pinned.
    assert index.holds.lift(hold("hold-3"), at(200)) is HoldChange.UNKNOWN_LIFTED
    assert index.holds.place(hold("hold-3")) is HoldChange.ALREADY_LIFTED
    assert [h.hold_id for h in index.holds.in_force()] == ["hold-2"]
    assert {p.owner for p in index.pins_in_force()} == {"job-9", "hold:hold-2"}
    index.close()


# Retention under holds.


def test_retention_never_takes_held_footage_and_says_what_holds_it() -> None:
    segments = [seg("cam-1", n, 100) for n in range(6)]
    held = hold(start=15, end=25)  # segments 1 and 2
    decision = plan_retention(segments, [held.pin], at(1000), timedelta(seconds=30), 10_000)
    assert [s.path for s in decision.delete] == [
        "cam-1/0.ts",
        "cam-1/3.ts",
        "cam-1/4.ts",
        "cam-1/5.ts",
    ]
    assert decision.bound_met and pressure_note(decision) is None
    # The disk bound wants everything gone: held footage stays, and the note says why.
    tight = plan_retention(
        segments, [held.pin, Pin("job-7", "cam-1", at(0), at(5))], at(60), timedelta(days=1), 0
    )
    assert [s.path for s in tight.delete] == ["cam-1/3.ts", "cam-1/4.ts", "cam-1/5.ts"]
    assert not tight.bound_met and tight.pinned_bytes_kept == 300
    assert tight.kept_by == ("job-7", "hold:hold-1")
    note = pressure_note(tight)
    assert note is not None
    assert "300 bytes" in note and "1 legal hold(s) (hold-1)" in note
    assert "1 open clip job(s)" in note and "recording stops" in note


def test_the_janitor_keeps_held_segments_on_disk_and_reports_the_pressure(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    index = SegmentIndex(None)
    for n in range(4):
        segment = index.add_segment(seg("cam-1", n, 1024**2))
        (tmp_path / segment.path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / segment.path).write_bytes(b"ts")
    index.holds.place(hold(start=12, end=18))  # segment 1
    settings = RetentionConfig(max_days=1, max_disk_bytes=10 * 1024**2, min_free_bytes=0)
    free = [10**12]
    janitor = Janitor(
        index, tmp_path, settings, site_id=SITE, disk_free=lambda _: free[0], now=lambda: at(40)
    )
    assert janitor.run_once().deleted == 0 and janitor.pressure is None
    # Past the age limit (a day after the footage): all but the held segment go.
    caplog.set_level(logging.INFO)
    run = janitor.run_once(at(86_400 + 100))
    assert run.deleted == 3 and run.bound_met
    assert [s.path for s in index.all_segments()] == ["cam-1/1.ts"]
    assert (tmp_path / "cam-1/1.ts").exists() and not (tmp_path / "cam-1/0.ts").exists()
    # The disk is full of held footage: nothing more to free, the status and log say so.
    free[0] = 0
    settings_floor = RetentionConfig(max_days=1, max_disk_bytes=10 * 1024**2, min_free_bytes=10**6)
    janitor = Janitor(
        index, tmp_path, settings_floor, site_id=SITE, disk_free=lambda _: 0, now=lambda: at(40)
    )
    run = janitor.run_once()
    assert not run.bound_met and run.pinned_bytes_kept == 1024**2
    assert janitor.pressure is not None and "hold-1" in janitor.pressure
    assert "legal hold(s) (hold-1)" in caplog.text
    warnings = len([r for r in caplog.records if "retention cannot free" in r.getMessage()])
    janitor.run_once()
    again = len([r for r in caplog.records if "retention cannot free" in r.getMessage()])
    assert again == warnings  # repeated only every PRESSURE_LOG_SECONDS
    # Lifted: the next run deletes it.
    index.holds.lift(hold(), at(50))
    assert janitor.run_once(at(86_400 + 200)).deleted == 1
    assert janitor.pressure is None and index.all_segments() == []
    assert "retention is within its bounds again" in caplog.text


# The keeper: the hub's signed orders.


class Keeper:
    def __init__(self, tmp_path: Path) -> None:
        self.index = SegmentIndex(tmp_path / "index.db")
        self.changes = 0
        config = AgentConfig.model_validate(
            {
                "site_id": SITE,
                "data_dir": str(tmp_path),
                "cameras": [{"id": "cam-1", "rtsp_url": "rtsp://127.0.0.1:8554/x"}],
            }
        )
        self.keeper = HoldKeeper(
            config=config,
            index=self.index,
            hub=HubVerifier(HUB_KEY.public_key()),
            on_change=self._changed,
            now=lambda: at(500),
        )

    def _changed(self) -> None:
        self.changes += 1

    def send(self, topic: str | HoldTopic, payload: bytes) -> None:
        parsed = topic if isinstance(topic, HoldTopic) else HoldTopic(SITE, topic.rsplit("/", 1)[1])
        self.keeper.handle(parsed, payload, True)

    def in_force(self) -> list[str]:
        return [h.hold_id for h in self.index.holds.in_force()]


def sealed(
    payload: HoldOrder, *, site: str = SITE, hold_id: str | None = None
) -> tuple[str, bytes]:
    topic = hold_topic(site, hold_id or payload.hold_id)
    return topic, HUB.seal(topic, payload)


def test_the_keeper_pins_signed_holds_once_and_unpins_on_the_signed_lift(tmp_path: Path) -> None:
    async def scenario(kit: Keeper) -> None:
        kit.send(*sealed(order()))
        await kit.keeper.wait_idle()
        assert kit.in_force() == ["hold-1"] and kit.changes == 1
        # Redelivery on every reconnect changes nothing and asks for no new status.
        for _ in range(3):
            kit.send(*sealed(order()))
        await kit.keeper.wait_idle()
        assert kit.in_force() == ["hold-1"] and kit.changes == 1
        assert held_windows(kit.index.holds.in_force()) == (
            HeldWindow(hold_id="hold-1", camera_id="cam-1", window_start=at(10), window_end=at(30)),
        )
        # An empty retained message (a clear) is not signed: it lifts nothing.
        kit.send(hold_topic(SITE, "hold-1"), b"")
        await kit.keeper.wait_idle()
        assert kit.in_force() == ["hold-1"]
        kit.send(*sealed(order(lifted=True)))
        await kit.keeper.wait_idle()
        assert kit.in_force() == [] and kit.changes == 2
        kit.send(*sealed(order()))  # the old placed order again: stays lifted
        await kit.keeper.wait_idle()
        assert kit.in_force() == [] and kit.changes == 2
        await kit.keeper.stop()

    kit = Keeper(tmp_path)
    asyncio.run(scenario(kit))
    kit.index.close()


def test_unsigned_forged_misrouted_malformed_and_unknown_camera_holds_are_refused(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    forger = HubSigner(Ed25519PrivateKey.generate())

    async def scenario(kit: Keeper) -> None:
        topic = hold_topic(SITE, "hold-1")
        kit.send(topic, order().to_bytes())  # unsigned
        kit.send(topic, forger.seal(topic, order()))  # forged
        kit.send(topic, b"\xff{not json")  # malformed
        # Signed for another topic: moved to this one it no longer verifies.
        kit.send(topic, HUB.seal(hold_topic(SITE, "hold-9"), order()))
        # Signed for its topic, but the payload names another hold.
        kit.send(*sealed(order("hold-2"), hold_id="hold-1"))
        # Another site's hold, genuine for that site.
        _, other = sealed(order(), site="site-b")
        kit.send(HoldTopic("site-b", "hold-1"), other)
        # A camera this site does not record.
        kit.send(*sealed(order("hold-5", camera="cam-9")))
        await kit.keeper.wait_idle()
        assert kit.index.holds.all() == [] and kit.changes == 0
        await kit.keeper.stop()

    caplog.set_level(logging.WARNING)
    kit = Keeper(tmp_path)
    asyncio.run(scenario(kit))
    counts = kit.keeper.refusals.counts
    assert counts["hold"] == 4
    assert (counts["hold-misrouted"], counts["hold-site"], counts["hold-camera"]) == (1, 1, 1)
    # Rate-limited: one line per kind, never a traceback.
    lines = [r.getMessage() for r in caplog.records if "refused" in r.getMessage()]
    assert len(lines) == 4, lines
    assert "Traceback" not in caplog.text
    kit.index.close()


# The status.


def test_the_status_lists_holds_in_force_and_says_why_a_camera_stopped(tmp_path: Path) -> None:
    index = SegmentIndex(None)
    index.holds.place(hold())
    index.holds.place(hold("hold-2"))
    index.holds.lift(hold("hold-2"), at(200))
    cameras = [
        RecorderHealth("cam-1", RecorderState.RECORDING),
        RecorderHealth("cam-2", RecorderState.ERROR, last_error="disk full: [Errno 28]"),
    ]
    status = build_site_status(
        cameras=cameras,
        index=index,
        segments_dir=tmp_path,
        holds=held_windows(index.holds.in_force()),
        retention_pressure="retention cannot free enough space: held",
    )
    assert [(h.hold_id, h.camera_id, h.window_start, h.window_end) for h in status.holds] == [
        ("hold-1", "cam-1", at(10), at(30))
    ]
    by_camera = {c.camera_id: c for c in status.cameras}
    assert by_camera["cam-1"].last_error is None
    assert by_camera["cam-2"].last_error == (
        "disk full: [Errno 28]; retention cannot free enough space: held"
    )
    index.close()
