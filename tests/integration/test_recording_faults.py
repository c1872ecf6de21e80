"""Recording through the faults real cameras have, with the agent's recorder processes.

All through real parts: GStreamer's RTSP server with a shared mount (``devkit.testcam``), the
recorder processes started by ``Recorders``, segments read back with PyAV, frames compared by the
bytes of their slices against an independent capture of the same mount
(``tests.support.frame_reference``).

- Other clients join the shared mount mid-recording (twice, then the agent's own snapshot grab):
  the server restarts its timestamps each time; not one frame is lost and segments keep their
  length; a 20 s clip across a join holds about 500 frames.
- The camera is down for 20 s: the gap is at most the outage plus 3 s, with its cause.
- A recorder process is killed (SIGKILL) and another is hung (SIGSTOP): each camera is back within
  seconds; the other camera never stops.
"""

from __future__ import annotations

import itertools
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path

import av
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from cctv_common.evidence.manifest import GapCause
from devkit.testcam import TestCamera
from devkit.waiting import wait_until
from edge_agent.cameras.camera_facts import facts_from_config
from edge_agent.clips.evidence_clip import make_evidence_clip, plan_for
from edge_agent.config import AgentConfig
from edge_agent.recording.recorder import RecorderState
from edge_agent.recording.recorder_supervisor import Recorders
from edge_agent.recording.segments import Segment
from edge_agent.snapshots.service import keyframe_jpeg
from edge_agent.store.segment_index import SegmentIndex
from tests.support.frame_reference import ReferenceCapture, compare, recorded_frames

pytestmark = pytest.mark.slow

SEGMENT_SECONDS = 4.0
RECORDER = {
    "segment_seconds": SEGMENT_SECONDS,
    "reconnect_initial_seconds": 0.2,
    "reconnect_max_seconds": 1.0,
    "stall_timeout_seconds": 2.0,
    "gap_tolerance_seconds": 0.3,
    "hang_timeout_seconds": 8.0,
}
WAIT = 90.0


def agent_config(tmp_path: Path, cameras: dict[str, str]) -> AgentConfig:
    return AgentConfig.model_validate(
        {
            "site_id": "site1",
            "data_dir": str(tmp_path),
            "recorder": RECORDER,
            "cameras": [{"id": camera, "rtsp_url": url} for camera, url in cameras.items()],
        }
    )


def second_client(url: str, seconds: float = 2.0) -> int:
    """Another viewer of the shared mount: it joins, watches a little and leaves."""
    options = {"rtsp_transport": "tcp", "allowed_media_types": "video"}
    packets = 0
    deadline = time.monotonic() + seconds
    with av.open(url, options=options, timeout=(10.0, 5.0)) as container:
        for packet in container.demux(container.streams.video[0]):
            packets += bool(packet.size)
            if time.monotonic() > deadline:
                break
    return packets


def assert_joined(segments: list[Segment]) -> None:
    for before, after in itertools.pairwise(segments):
        assert after.start == before.end, f"{before.path} and {after.path} do not join"


@pytest.fixture
def camera() -> Iterator[TestCamera]:
    camera = TestCamera(width=640, height=360, fps=25, gop_seconds=1.0).start()
    yield camera
    camera.stop()


def test_clients_joining_a_shared_mount_cost_no_frame(camera: TestCamera, tmp_path: Path) -> None:
    config = agent_config(tmp_path, {"cam1": camera.url})
    index = SegmentIndex(config.index_path)
    recorders = Recorders(config, index)
    reference = ReferenceCapture(camera.url).start()

    def segments() -> list[Segment]:
        return index.all_segments("cam1")

    try:
        recorders.start()
        wait_until(lambda: len(segments()) >= 3, "12 s of recording before the first join")
        first_join = datetime.now(UTC)
        assert second_client(camera.url) > 10
        count = len(segments())
        wait_until(lambda: len(segments()) >= count + 2, "recording after the first join")
        assert second_client(camera.url) > 10
        count = len(segments())
        wait_until(lambda: len(segments()) >= count + 1, "recording after the second join")
        assert keyframe_jpeg(camera.url).startswith(b"\xff\xd8")  # the agent's snapshot grab
        count = len(segments())
        wait_until(lambda: len(segments()) >= count + 2, "recording after the snapshot")
        assert recorders.status("cam1").state is RecorderState.RECORDING
    finally:
        assert recorders.stop_all(timeout=30) == []
        reference_frames = reference.stop()
    recorded = segments()

    # The stock server really restarts its timestamps for everyone when a client joins.
    assert reference.error is None
    assert reference.backward_steps >= 3

    # Every frame the camera sent from the agent's first to its last is in the segments.
    comparison = compare(reference_frames, recorded_frames(config.segments_dir, recorded))
    assert comparison.sent > 25 * 30
    assert (comparison.missing, comparison.extra) == (0, 0), comparison

    # Segments keep their length (the last one ends at the stop) and join; jumps are no gaps.
    for segment in recorded[:-1]:
        assert segment.duration.total_seconds() >= SEGMENT_SECONDS / 2, segment
    assert_joined(recorded)
    assert sum(len(segment.clock_jumps) for segment in recorded) >= 3
    assert index.gaps_overlapping("cam1", recorded[0].start, recorded[-1].end) == []
    assert sum(s.frames or 0 for s in recorded) == len(
        recorded_frames(config.segments_dir, recorded)
    )

    # A 20 s clip across the first join holds about 500 frames, and says so.
    plan = plan_for(
        index, "cam1", first_join - timedelta(seconds=10), first_join + timedelta(seconds=10),
        timedelta(seconds=0.3),
    )  # fmt: skip
    clip = make_evidence_clip(
        index=index,
        segments_dir=config.segments_dir,
        site_id="site1",
        camera=facts_from_config(config.camera("cam1"), index),
        plan=plan,
        out_dir=tmp_path / "clip",
        key=Ed25519PrivateKey.generate(),
    )
    assert 500 <= (clip.manifest.frames or 0) <= 550
    assert clip.manifest.gaps == ()
    index.close()


def test_a_camera_down_for_20_s_is_a_gap_of_the_outage_and_its_cause(
    camera: TestCamera, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    config = agent_config(tmp_path, {"cam1": camera.url})
    index = SegmentIndex(config.index_path)
    recorders = Recorders(config, index)
    caplog.set_level("INFO")
    try:
        recorders.start()
        wait_until(lambda: len(index.all_segments("cam1")) >= 2, "two segments")
        went = datetime.now(UTC)
        camera.stop()
        time.sleep(20)
        camera.start()
        came = datetime.now(UTC)
        wait_until(
            lambda: any(s.start > came - timedelta(seconds=1) for s in index.all_segments("cam1")),
            "a segment after the camera came back",
        )
    finally:
        assert recorders.stop_all(timeout=30) == []
    outage = (came - went).total_seconds()
    gaps = index.gaps_overlapping("cam1", went - timedelta(minutes=1), came + timedelta(minutes=1))
    # The outage, and the gap that the agent's stop opened at the end.
    assert [(g.cause, g.open) for g in gaps] == [
        (GapCause.CAMERA_UNREACHABLE, False),
        (GapCause.AGENT_STOPPED, True),
    ]
    gap = gaps[0]
    assert gap.cause is GapCause.CAMERA_UNREACHABLE
    assert gap.seconds <= outage + 3.0, (gap, outage)
    back_after = (gap.end - came).total_seconds()
    assert back_after <= 3.0, f"recording again {back_after:.2f} s after the camera came back"
    # Retries went on every second or less, but the log has a handful of lines, not one a try.
    failures = [r for r in caplog.records if "still down" in r.getMessage()]
    assert len(failures) <= 1
    assert recorders.status("cam1").reconnects >= 10
    index.close()


def test_a_killed_or_hung_recorder_restarts_alone(
    rtsp_camera_factory: Callable[..., TestCamera], tmp_path: Path
) -> None:
    cameras = {
        name: rtsp_camera_factory(width=320, height=240, fps=25, gop_seconds=1.0)
        for name in ("cam-a", "cam-b")
    }
    config = agent_config(tmp_path, {name: camera.url for name, camera in cameras.items()})
    index = SegmentIndex(config.index_path)
    recorders = Recorders(config, index)

    def after(camera_id: str, moment: datetime) -> bool:
        return any(s.start >= moment for s in index.all_segments(camera_id))

    try:
        recorders.start()
        for name in cameras:
            wait_until(partial(lambda n: len(index.all_segments(n)) >= 2, name), f"{name} up")
        steady_pid = recorders.pid("cam-b")

        # Half a segment after one began, so that the process dies in the middle of writing one.
        count = len(index.all_segments("cam-a"))
        wait_until(lambda: len(index.all_segments("cam-a")) > count, "a new segment of cam-a")
        time.sleep(SEGMENT_SECONDS / 2)
        killed_pid = recorders.pid("cam-a")
        assert killed_pid is not None
        killed = datetime.now(UTC)
        os.kill(killed_pid, signal.SIGKILL)
        wait_until(lambda: after("cam-a", killed), "cam-a recording after the kill")

        time.sleep(SEGMENT_SECONDS / 2)
        hung_pid = recorders.pid("cam-a")
        assert hung_pid is not None and hung_pid != killed_pid
        hung = datetime.now(UTC)
        os.kill(hung_pid, signal.SIGSTOP)
        wait_until(lambda: after("cam-a", hung), "cam-a recording after the hang")
        count = len(index.all_segments("cam-b"))
        wait_until(lambda: len(index.all_segments("cam-b")) >= count + 1, "cam-b still recording")
        assert recorders.pid("cam-b") == steady_pid
        assert recorders.status("cam-b").state is RecorderState.RECORDING
    finally:
        assert recorders.stop_all(timeout=30) == []

    a = index.all_segments("cam-a")
    gaps = [g for g in index.gaps_overlapping("cam-a", a[0].start, a[-1].end) if not g.open]
    assert [gap.cause for gap in gaps] == [GapCause.AGENT_STOPPED] * 2
    assert "killed by SIGKILL" in gaps[0].reason
    assert "hung" in gaps[1].reason
    kill_gap, hang_gap = gaps
    assert kill_gap.end - killed <= timedelta(seconds=5), kill_gap
    # A hang is noticed after hang_timeout_seconds, and the camera is back soon after that.
    assert hang_gap.end - hung <= timedelta(seconds=RECORDER["hang_timeout_seconds"] + 5)
    assert recorders.status("cam-a").restarts == 2
    # What the killed process was writing was salvaged, up to the frame it was killed in.
    assert not list(config.segments_dir.rglob("*.part"))
    salvaged = [s for s in a if s.frames_received is None]
    assert len(salvaged) == 2 and all((s.frames or 0) >= 25 for s in salvaged), salvaged
    assert [s.end for s in salvaged] == [kill_gap.start, hang_gap.start]

    # The other camera never stopped: one process, segments joined end to end, no gap.
    b = index.all_segments("cam-b")
    assert_joined(b)
    later = b[-1].end + timedelta(minutes=1)
    assert [g.cause for g in index.gaps_overlapping("cam-b", b[0].start, later)] == [
        GapCause.AGENT_STOPPED  # the stop at the end, still open
    ]
    assert recorders.status("cam-b").restarts == 0
    index.close()


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text(encoding="ascii")
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}").exists() and "Z" not in _state(pid)


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text(encoding="ascii").rsplit(")", 1)[1].split()[0]
    except OSError:
        return "Z"


def _indexed(index_path: Path) -> list[tuple[str, int, int | None]]:
    if not index_path.exists():
        return []
    connection = sqlite3.connect(f"file:{index_path}?mode=ro", uri=True, timeout=10)
    try:
        return list(
            connection.execute(
                "select path, start_us, frames_received from segments order by start_us"
            )
        )
    except sqlite3.OperationalError:
        return []  # not created yet
    finally:
        connection.close()


def test_a_killed_agent_leaves_its_recorders_last_segment_to_salvage(
    camera: TestCamera, tmp_path: Path
) -> None:
    with socket.socket() as probe:  # a broker port where nothing listens: the uplink retries
        probe.bind(("127.0.0.1", 0))
        broker_port = probe.getsockname()[1]
    data = tmp_path / "data"
    config_path = tmp_path / "agent.toml"
    settings = "\n".join(f"{key} = {value}" for key, value in RECORDER.items())
    config_path.write_text(
        f'site_id = "site1"\ndata_dir = "{data}"\n'
        f'[[cameras]]\nid = "cam1"\nrtsp_url = "{camera.url}"\n'
        f"[recorder]\n{settings}\n"
        f'[uplink]\nhost = "127.0.0.1"\nport = {broker_port}\ntls = false\n',
        encoding="utf-8",
    )
    command = [sys.executable, "-m", "edge_agent.cli", "run", "--config", str(config_path)]
    log_file = (tmp_path / "agent.log").open("wb")
    index_path = data / "index.db"

    def start() -> subprocess.Popen[bytes]:
        return subprocess.Popen(command, stdout=log_file, stderr=subprocess.STDOUT)

    agent = start()
    try:
        wait_until(lambda: len(_indexed(index_path)) >= 2, "two segments")
        count = len(_indexed(index_path))
        wait_until(lambda: len(_indexed(index_path)) > count, "a new segment")
        time.sleep(SEGMENT_SECONDS / 2)
        recorders = _children(agent.pid)
        assert len(recorders) == 1, "one recorder process for the one camera"
        killed_us = round(time.time() * 1_000_000)
        agent.kill()
        agent.wait(10)
        # The orphaned recorder notices its agent is gone and ends on its own.
        wait_until(lambda: not _alive(recorders[0]), "the orphaned recorder to end", 20)
        indexed = {row[0] for row in _indexed(index_path)}
        on_disk = {p.relative_to(data / "segments").as_posix() for p in data.rglob("*.ts*")}
        left = on_disk - indexed
        assert len(left) == 1, f"the segment being written is left on the disk: {left}"

        agent = start()
        wait_until(
            lambda: any(start_us > killed_us for _, start_us, _ in _indexed(index_path)),
            "recording after the restart",
        )
        agent.send_signal(signal.SIGTERM)
        assert agent.wait(30) == 0
    finally:
        if agent.poll() is None:
            agent.kill()
            agent.wait()
        log_file.close()
    rows = _indexed(index_path)
    salvaged = [row for row in rows if row[0] == next(iter(left)).removesuffix(".part")]
    assert len(salvaged) == 1 and salvaged[0][2] is None, "salvaged (no receive count known)"
    index = SegmentIndex(index_path)
    segments = index.all_segments("cam1")
    gaps = [g for g in index.gaps_overlapping("cam1", segments[0].start, segments[-1].end)]
    assert len(gaps) == 1 and gaps[0].cause is GapCause.AGENT_STOPPED
    assert gaps[0].start == next(s.end for s in segments if s.path == salvaged[0][0])
    assert gaps[0].seconds < 10.0, gaps[0]  # the agent's restart, not the lost segment
    index.close()
