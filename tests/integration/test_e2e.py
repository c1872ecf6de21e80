"""End to end: a real camera, a real Mosquitto, the hub and the agent as real processes.

One camera, one broker and one site (hub + agent, ``devkit.site_stack``) are shared by the
module; each test dispatches its own job through the hub's API and checks the evidence the hub
serves: the manifest verifies with the site's key, the video's SHA-256 is the one the agent cut
(its outbox record, or its file while it still exists) and the signed one, PyAV opens it as H.264
covering the window, and the job has exactly one evidence item. The agent is killed, the hub and
the broker are restarted in the middle of uploads; the agent is offline when a job is dispatched.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Final

import av
import cv2
import numpy as np
import pytest

from cctv_common.clock import parse_iso
from devkit.local_broker import MosquittoBroker
from devkit.site_stack import SiteStack, StoredClip
from devkit.testcam import TestCamera
from edge_agent.store.segment_index import SegmentIndex
from tests.support.clip_window import check_clip_window
from tests.support.frame_reference import Comparison, clip_frames, compare, recorded_frames
from tests.support.site_rig import running_camera, running_stack, site_broker

pytestmark = pytest.mark.slow

SITE_ID: Final = "e2e-site"
# Long windows of a high-bitrate camera in the smallest chunks: an upload of a few hundred chunks,
# long enough to be interrupted.
LONG_WINDOW_SECONDS: Final = 20
SHORT_WINDOW_SECONDS: Final = 8
CHUNK_BYTES: Final = 64 * 1024
# The cut starts at the keyframe at or before the start (1 s GOP) and ends with the last segment.
# Beyond that, a clip falls short of its window only where its manifest says why
# (tests/support/clip_window.py).
EDGE_TOLERANCE_SECONDS: Final = 1.5


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MosquittoBroker]:
    with site_broker(MosquittoBroker, tmp_path_factory.mktemp("e2e-broker"), SITE_ID) as broker:
        yield broker


@pytest.fixture(scope="module")
def camera() -> Iterator[TestCamera]:
    with running_camera(
        width=1280, height=720, fps=25, gop_seconds=1.0, bitrate_kbps=6000
    ) as camera:
        yield camera


@pytest.fixture(scope="module")
def site_stack(
    tmp_path_factory: pytest.TempPathFactory, broker: MosquittoBroker, camera: TestCamera
) -> Iterator[SiteStack]:
    stack = SiteStack(
        tmp_path_factory.mktemp("e2e-site"),
        broker,
        camera.url,
        site_id=SITE_ID,
        chunk_bytes=CHUNK_BYTES,
    )
    with running_stack(stack):
        stack.wait_for_footage(LONG_WINDOW_SECONDS + 2)
        yield stack


@pytest.fixture
def stack(site_stack: SiteStack, broker: MosquittoBroker) -> SiteStack:
    """The shared site, with everything running at the start of each test."""
    if not broker.is_running:
        broker.start()
    site_stack.ensure_running()
    return site_stack


def _file_sha256(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


def _agent_sha256(stack: SiteStack, job_id: str) -> str:
    """What the agent cut: its clip file if still there (it must match), else its outbox record."""
    row = stack.outbox_clip(job_id)
    assert row is not None, f"the agent has no clip for job {job_id}"
    on_disk = _file_sha256(Path(row["directory"]) / "clip.mp4")
    if on_disk is not None:
        assert on_disk == row["sha256"], "the agent's clip file is not what it recorded"
    return str(row["sha256"])


def _check_stored(stack: SiteStack, job: dict[str, Any], agent_sha256: str) -> StoredClip:
    job_id = job["job_id"]
    done = stack.wait_job(job_id)
    clips = stack.api.clips_for_job(job_id)
    assert [clip["clip_id"] for clip in clips] == [done["clip_id"]], "not exactly one item"
    stored = stack.api.stored_clip(done["clip_id"], stack.public_key_pem)
    manifest = stored.manifest
    assert manifest.job_id == job_id
    assert manifest.site_id == SITE_ID
    assert stored.sha256 == manifest.sha256 == agent_sha256 == clips[0]["sha256"]
    assert len(stored.video) == manifest.bytes
    _check_video(stack, stored, parse_iso(job["start"]), parse_iso(job["end"]))
    _check_frames_are_the_recorded_ones(stack, stored)
    row = stack.outbox_clip(job_id)
    assert row is not None and row["state"] == "stored"
    return stored


def _check_video(stack: SiteStack, stored: StoredClip, start: datetime, end: datetime) -> None:
    manifest = stored.manifest
    assert manifest.codec == "h264"
    in_gaps = check_clip_window(
        manifest,
        start,
        end,
        index_db=stack.agent_data / "index.db",
        camera_id=stack.camera_id,
        tolerance=timedelta(seconds=EDGE_TOLERANCE_SECONDS),
    )
    window = (end - start).total_seconds() - in_gaps
    with av.open(stored.video_file(), mode="r") as container:
        video = container.streams.video[0]
        time_base = video.time_base
        assert time_base is not None
        assert video.codec_context.name == "h264"
        assert (video.codec_context.width, video.codec_context.height) == (1280, 720)
        first = last = None
        frames = 0
        for packet in container.demux(video):
            if packet.pts is None:
                continue
            moment = float(packet.pts * time_base)
            first = moment if first is None else min(first, moment)
            last = moment if last is None else max(last, moment)
            frames += 1
        assert first is not None and last is not None
        assert last - first >= window - 2 * EDGE_TOLERANCE_SECONDS
        assert frames == manifest.frames


def _check_frames_are_the_recorded_ones(stack: SiteStack, stored: StoredClip) -> None:
    """Every frame the agent recorded from the clip's first frame to its last is in the clip, in
    order, and nothing else is (by the pictures' bytes). A camera starved of CPU on a busy machine
    sends fewer than 25 frames a second; what it sent and the agent recorded is all there."""
    clip = clip_frames(stored.video_file())
    delivered = stored.manifest.delivered
    index = SegmentIndex(stack.agent_data / "index.db")
    try:
        segments = index.segments_overlapping(
            stack.camera_id, delivered.start - timedelta(seconds=5), delivered.end
        )
    finally:
        index.close()
    comparison = compare(recorded_frames(stack.agent_data / "segments", segments), clip)
    assert comparison == Comparison(sent=len(clip), recorded=len(clip), extra=0), comparison


def test_job_is_cut_uploaded_stored_identical_and_verified(stack: SiteStack) -> None:
    job = stack.dispatch_last(SHORT_WINDOW_SECONDS, "E2E: job to stored clip")
    done = stack.wait_job(job["job_id"])
    agent_sha256 = _agent_sha256(stack, job["job_id"])
    stored = _check_stored(stack, job, agent_sha256)
    assert done["clip_id"] == stored.clip_id
    # Once the hub has it, the agent deletes its copy.
    row = stack.outbox_clip(job["job_id"])
    assert row is not None
    assert not (Path(row["directory"]) / "clip.mp4").exists()


def test_agent_killed_mid_upload_completes_as_one_identical_item(stack: SiteStack) -> None:
    job = stack.dispatch_last(LONG_WINDOW_SECONDS, "E2E: agent SIGKILL mid-upload")
    row = stack.wait_outbox_clip(job["job_id"])  # cut and recorded: the upload is starting
    stack.agent.kill()
    agent_sha256 = _agent_sha256(stack, job["job_id"])
    assert agent_sha256 == row["sha256"]
    stack.start_agent()
    _check_stored(stack, job, agent_sha256)


def test_hub_restarted_mid_upload_completes_as_one_item(stack: SiteStack) -> None:
    job = stack.dispatch_last(LONG_WINDOW_SECONDS, "E2E: hub restart mid-upload")
    stack.wait_outbox_clip(job["job_id"])
    agent_sha256 = _agent_sha256(stack, job["job_id"])
    stack.restart_hub()
    _check_stored(stack, job, agent_sha256)


def test_broker_restarted_mid_upload_completes(stack: SiteStack, broker: MosquittoBroker) -> None:
    job = stack.dispatch_last(LONG_WINDOW_SECONDS, "E2E: broker restart mid-upload")
    stack.wait_outbox_clip(job["job_id"])
    agent_sha256 = _agent_sha256(stack, job["job_id"])
    broker.restart()
    _check_stored(stack, job, agent_sha256)


def test_offline_agent_gets_the_retained_job_when_it_returns(stack: SiteStack) -> None:
    """The window is the last 8 s the hub knows of. Run just after the agent was killed and
    restarted (the test above; on a busy machine its restart takes seconds), it can reach back
    into the hole the kill left: the clip then starts with the restarted recorder's first segment
    and its manifest has the gap, ``agent_stopped`` "the recorder was not running" (seen: 2.0 s)."""
    stack.agent.stop()
    job = stack.dispatch_last(SHORT_WINDOW_SECONDS, "E2E: agent offline at dispatch")
    assert stack.api.job(job["job_id"])["state"] == "dispatched"
    assert stack.outbox_clip(job["job_id"]) is None
    stack.start_agent()
    stack.wait_job(job["job_id"])
    _check_stored(stack, job, _agent_sha256(stack, job["job_id"]))


def test_a_camera_snapshot_comes_through_the_hub_and_is_in_the_custody_log(
    stack: SiteStack,
) -> None:
    camera_id = stack.camera_id
    path = f"/api/sites/{SITE_ID}/cameras/{camera_id}/snapshot"
    response = stack.api.get(path)
    assert response.headers["content-type"] == "image/jpeg"
    # A plain RTSP camera: one keyframe of its stream, decoded and encoded as JPEG by the agent.
    assert response.headers["x-snapshot-source"] == "rtsp-keyframe"
    picture = cv2.imdecode(np.frombuffer(response.content, np.uint8), cv2.IMREAD_COLOR)
    assert picture is not None and picture.shape[:2] == (720, 1280)
    with pytest.raises(AssertionError, match=r"404.*has no camera"):
        stack.api.get(f"/api/sites/{SITE_ID}/cameras/no-such-cam/snapshot")
    rows = stack.api.get("/api/audit", auth=stack.api.supervisor).json()
    assert any(
        row["action"] == "snapshot" and row["subject"] == f"camera:{SITE_ID}/{camera_id}"
        for row in rows
    )


def _shared_with_others(root: Path) -> list[str]:
    """Every file or folder under ``root`` (made by the test) that is group-writable or open to
    other users."""
    found = []
    for path in root.rglob("*"):
        try:
            mode = path.lstat().st_mode & 0o777
        except FileNotFoundError:  # a temporary file that went while we looked
            continue
        if mode & 0o027:
            found.append(f"{oct(mode)} {path.relative_to(root.parent)}")
    return found


def test_agent_and_hub_write_nothing_others_can_read(stack: SiteStack) -> None:
    """Defect 9: segments, outbox files and databases were written 0644. The processes run here
    under pytest's umask (usually 0022), as they would if started by hand, without the units."""
    job = stack.dispatch_last(SHORT_WINDOW_SECONDS, "E2E: file modes")
    stack.wait_job(job["job_id"])
    agent_files = [p for p in stack.agent_data.rglob("*") if p.is_file()]
    assert any(p.suffix in (".mp4", ".ts") for p in agent_files), "no segment written"
    assert _shared_with_others(stack.agent_data) == []
    hub_data = stack.workdir / "hub" / "data"
    assert any(p.name.endswith(".mp4") for p in hub_data.rglob("*")), "no evidence stored"
    assert _shared_with_others(hub_data) == []
