"""Legal holds at the edge through real parts: a real Mosquitto, the agent in its own process
recording a real GStreamer RTSP test camera, and the hub stand-in (tests/support/hub_stand_in.py)
publishing hub-signed, retained ``HoldOrder`` messages as the hub does when a footage request is
approved (hub/services/requests/deciding.py) and lifted (hub/services/requests/release.py).

Retention is set to keep 10 s of footage, far shorter than the hold's age by the time the clip is
cut: the held segments stay (through a restart of the agent), the clip job for the window is cut
from them, and once the hold is lifted retention removes them.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Final

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from cctv_common.clock import utc_now
from cctv_common.wire.hub_signing import HubSigner
from cctv_common.wire.payloads import HeldWindow, HoldOrder, Job
from cctv_common.wire.topics import hold_topic, job_topic
from devkit.local_broker import MosquittoBroker
from devkit.testcam import TestCamera
from devkit.waiting import wait_until
from edge_agent.recording.segments import Segment
from edge_agent.store.segment_index import SegmentIndex
from tests.support.agent_process import AgentProcess
from tests.support.hub_stand_in import HubStandIn, sealed
from tests.support.mosquitto_fixtures import SITE_A, MqttTestClient
from tests.support.recording_site import recording_site

BUFFER: Final = timedelta(seconds=10)  # retention's max age: the ring buffer holds 10 s
HOLD_ID: Final = "hold-r-2026-0001-cam-1"


def latest_holds(hub: HubStandIn, since: datetime) -> tuple[HeldWindow, ...] | None:
    """The holds of the newest online status sent after ``since`` (None: no such status yet)."""
    with hub.lock:
        for status in reversed(hub.statuses):
            if status.state == "online" and status.sent_at is not None and status.sent_at > since:
                return status.holds
    return None


def segments_of(data_dir: Path) -> list[Segment]:
    index = SegmentIndex(data_dir / "index.db")
    try:
        return index.all_segments("cam-1")
    finally:
        index.close()


@pytest.mark.slow
def test_a_hold_keeps_footage_past_retention_until_lifted_and_a_forged_hold_is_refused(
    tmp_path: Path,
    mosquitto_broker: MosquittoBroker,
    hub_client: MqttTestClient,
    rtsp_camera: TestCamera,
    agents: Callable[[Path, Path], AgentProcess],
) -> None:
    retention = {
        "max_days": BUFFER.total_seconds() / 86_400,
        "min_free_bytes": 0,
        "check_interval_seconds": 1.0,
    }
    site = recording_site(tmp_path, mosquitto_broker, hub_client, rtsp_camera, retention=retention)
    hub, data_dir = site.hub, site.data_dir
    agent = agents(site.config, site.log_path)
    # Footage before the window and after it, so retention has something else to delete.
    extent = site.wait_for_footage(8)
    window_start, window_end = extent[1] - timedelta(seconds=5), extent[1] - timedelta(seconds=3)
    placed = HoldOrder(
        hold_id=HOLD_ID,
        camera_id="cam-1",
        window_start=window_start,
        window_end=window_end,
        reason_ref="R-2026-0001",
        placed_at=utc_now(),
    )

    # A forged hold (signed by a key the agent does not trust) is refused and never reported.
    forged_topic = hold_topic(SITE_A, "hold-forged")
    forger = HubSigner(Ed25519PrivateKey.generate())
    forged = placed.model_copy(update={"hold_id": "hold-forged"})
    hub_client.publish(forged_topic, sealed(forged_topic, forged, forger), retain=True)
    # The genuine hold, hub-signed and retained, as the hub publishes it on approval.
    topic = hold_topic(SITE_A, HOLD_ID)
    sent = utc_now()
    hub_client.publish(topic, sealed(topic, placed), retain=True)

    wanted = HeldWindow(
        hold_id=HOLD_ID, camera_id="cam-1", window_start=window_start, window_end=window_end
    )
    wait_until(lambda: latest_holds(hub, sent) == (wanted,), "the status lists the hold")
    wait_until(lambda: "hold-forged: order refused" in agent.log(), "the forged hold refused")

    def held(segments: list[Segment]) -> list[Segment]:
        return [s for s in segments if s.overlaps(window_start, window_end)]

    held_at_first = held(segments_of(data_dir))
    assert held_at_first, "no recorded segment overlaps the held window"

    def retention_passed_the_hold() -> bool:
        # Retention has run past the hold's age: the footage before the window is gone, and so
        # is the footage just after it (segments are 2 s), which is newer than the held footage.
        others = [s for s in segments_of(data_dir) if not s.overlaps(window_start, window_end)]
        return bool(others) and all(s.start >= window_end + timedelta(seconds=2) for s in others)

    wait_until(retention_passed_the_hold, "retention to delete footage older than the hold")
    still = held(segments_of(data_dir))
    assert [s.path for s in still] == [s.path for s in held_at_first]
    assert all(s.end < utc_now() - BUFFER for s in still)  # past the buffer, yet kept
    assert all((data_dir / "segments" / s.path).exists() for s in still)

    # The hold survives a restart: the new process reports it and retention still keeps it.
    assert agent.terminate() == 0
    agent = agents(site.config, site.log_path)
    restarted = utc_now()
    wait_until(lambda: latest_holds(hub, restarted) == (wanted,), "the hold reported after restart")

    # A clip job for the held window, long after the buffer would have overwritten it.
    assert utc_now() - BUFFER > window_end
    job = Job(
        job_id="held-1",
        camera_id="cam-1",
        start=window_start,
        end=window_end,
        priority=9,
        reason="R-2026-0001 under hold",
    )
    jtopic = job_topic(SITE_A, job.job_id)
    hub_client.publish(jtopic, sealed(jtopic, job), retain=True)
    manifest = site.stored_clip(tmp_path / "held.mp4").manifest
    assert manifest.job_id == "held-1" and manifest.camera.id == "cam-1"
    assert manifest.delivered.start <= window_start and manifest.delivered.end >= window_end
    assert {s.sha256 for s in still} <= {s.sha256 for s in manifest.source_segments}
    assert held(segments_of(data_dir)), "the hold still keeps its segments after the job"

    # Lifted (the hub's same order with lifted true, retained): retention removes the footage.
    lifted = placed.model_copy(update={"lifted": True})
    lift_sent = utc_now()
    hub_client.publish(topic, sealed(topic, lifted), retain=True)
    wait_until(lambda: latest_holds(hub, lift_sent) == (), "the status lists no hold")
    wait_until(lambda: not held(segments_of(data_dir)), "retention removes the lifted footage")
    assert not any((data_dir / "segments" / s.path).exists() for s in still)
    assert agent.alive
    log = agent.log()
    assert f"hold {HOLD_ID}: placed" in log and f"hold {HOLD_ID}: lifted" in log
    assert "Traceback" not in log
