"""The recorder against a real RTSP camera on loopback (GStreamer), reading its files with PyAV.

One recording serves most tests: about 6 s of footage, the camera stopped and started again,
about 6 s more, the camera frozen (a stall) and thawed, and a little more.
"""

from __future__ import annotations

import ast
import hashlib
import shutil
import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from fractions import Fraction
from pathlib import Path

import av
import pytest

import edge_agent.recording.nal_units
import edge_agent.recording.recorder
import edge_agent.recording.recorder_process
import edge_agent.recording.recorder_supervisor
import edge_agent.recording.recording_session
import edge_agent.recording.segment_timing
import edge_agent.recording.segment_writer
import edge_agent.recording.stream_time
from devkit.testcam import TestCamera, TestCameraUnavailable
from devkit.waiting import wait_until
from edge_agent.config import AgentConfig, RecorderConfig
from edge_agent.recording.recorder import CameraRecorder, RecorderHealth, RecorderState
from edge_agent.recording.recorder_supervisor import Recorders
from edge_agent.recording.segments import Gap, Segment
from edge_agent.store.segment_index import SegmentIndex

SETTINGS = RecorderConfig(
    segment_seconds=2.0,
    reconnect_initial_seconds=0.2,
    reconnect_max_seconds=1.0,
    stall_timeout_seconds=2.0,
    gap_tolerance_seconds=0.3,
)
WAIT_SECONDS = 60.0


@dataclass
class Recording:
    segments_dir: Path
    segments: list[Segment]
    gaps: list[Gap]
    status: RecorderHealth
    segments_before_restart: int
    segments_before_stall: int


@pytest.fixture(scope="module")
def recording(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Recording]:
    data = tmp_path_factory.mktemp("recording")
    segments_dir = data / "segments"
    index = SegmentIndex(data / "index.db")
    camera = TestCamera(width=640, height=360, fps=25, gop_seconds=1.0).start()
    recorder = CameraRecorder(
        "cam1", lambda: camera.url, segments_dir, index, SETTINGS, site_id="site1"
    )

    def count() -> int:
        return len(index.all_segments("cam1"))

    try:
        recorder.start()
        wait_until(lambda: count() >= 3, "three segments")

        camera.stop()
        wait_until(lambda: recorder.status.reconnects >= 2, "a failed reconnect")
        before_restart = count()  # the dropped connection's last segment is indexed by now
        camera.start()
        wait_until(lambda: count() >= before_restart + 3, "three segments after the restart")

        camera.freeze()
        wait_until(lambda: recorder.status.state is RecorderState.RECONNECTING, "a stall")
        before_stall = count()
        camera.thaw()
        wait_until(lambda: count() >= before_stall + 1, "a segment after the stall")
    finally:
        recorder.stop()
        recorder.join(30)
        camera.stop()
    assert not recorder.is_alive()
    segments = index.all_segments("cam1")
    gaps = index.gaps_overlapping("cam1", segments[0].start, segments[-1].end)
    yield Recording(segments_dir, segments, gaps, recorder.status, before_restart, before_stall)
    index.close()


def packets_of(path: Path) -> tuple[list[av.Packet], Fraction, av.container.InputContainer]:
    container = av.open(str(path))
    stream = container.streams.video[0]
    assert stream.time_base is not None
    return [p for p in container.demux(stream) if p.size], stream.time_base, container


@pytest.mark.slow
def test_every_segment_opens_on_its_own_and_starts_on_a_keyframe(recording: Recording) -> None:
    assert len(recording.segments) >= 7
    for segment in recording.segments:
        path = recording.segments_dir / segment.path
        with av.open(str(path)) as container:
            assert container.format.name == "mpegts"
            stream = container.streams.video[0]
            assert stream.codec_context.name == "h264"
            assert (stream.codec_context.width, stream.codec_context.height) == (640, 360)
            packets = [p for p in container.demux(stream) if p.size]
        assert packets[0].is_keyframe, segment.path
        dts = [p.dts for p in packets if p.dts is not None]
        assert len(dts) == len(packets), f"{segment.path}: packets without timestamps"
        assert dts == sorted(set(dts)), f"{segment.path}: timestamps not monotonic"
        assert (segment.codec, segment.width, segment.height, segment.fps) == (
            "h264",
            640,
            360,
            25.0,
        )


@pytest.mark.slow
def test_index_rows_hold_the_bytes_and_sha256_of_the_files(recording: Recording) -> None:
    for segment in recording.segments:
        data = (recording.segments_dir / segment.path).read_bytes()
        assert segment.bytes == len(data)
        assert segment.sha256 == hashlib.sha256(data).hexdigest()
    assert not list(recording.segments_dir.rglob("*.part"))


@pytest.mark.slow
def test_keyframe_offsets_and_end_follow_the_files_pts(recording: Recording) -> None:
    for segment in recording.segments:
        packets, time_base, container = packets_of(recording.segments_dir / segment.path)
        container.close()
        first = packets[0].pts
        assert first is not None
        offsets = tuple(
            round(float((p.pts - first) * time_base), 6)
            for p in packets
            if p.is_keyframe and p.pts is not None
        )
        assert segment.keyframes == offsets
        assert segment.keyframes[0] == 0.0
        last = max(p.pts for p in packets if p.pts is not None)
        expected = float((last - first + 3600) * time_base)
        assert abs(segment.duration.total_seconds() - expected) < 1e-5
        # Rollover on the first keyframe after 2 s, with a keyframe at least every second.
        assert segment.duration < timedelta(seconds=3.0)


@pytest.mark.slow
def test_segments_of_one_connection_join_exactly(recording: Recording) -> None:
    gap_starts = {gap.start for gap in recording.gaps}
    for previous, current in zip(recording.segments, recording.segments[1:], strict=False):
        if previous.end in gap_starts:
            continue
        assert abs((current.start - previous.end).total_seconds()) < 1e-3


@pytest.mark.slow
def test_restarting_the_camera_records_a_gap_and_recording_resumes(recording: Recording) -> None:
    segments = recording.segments
    last_before = segments[recording.segments_before_restart - 1]
    first_after = segments[recording.segments_before_restart]
    gap = next(g for g in recording.gaps if g.start == last_before.end)
    assert gap.end == first_after.start
    assert gap.reason == "camera ended the stream"
    assert len(segments) >= recording.segments_before_restart + 3


@pytest.mark.slow
def test_a_stalled_camera_is_noticed_and_recorded_as_a_gap(recording: Recording) -> None:
    last_before = recording.segments[recording.segments_before_stall - 1]
    gap = next(g for g in recording.gaps if g.start == last_before.end)
    assert gap.reason.startswith("camera stalled")
    assert len(recording.gaps) == 2
    assert len(recording.segments) > recording.segments_before_stall


@pytest.mark.slow
def test_status_after_stop(recording: Recording) -> None:
    status = recording.status
    assert status.state is RecorderState.STOPPED
    assert status.segments_written == len(recording.segments)
    assert (status.codec, status.width, status.height) == ("h264", 640, 360)
    assert status.reconnects >= 3
    assert status.last_segment_end == recording.segments[-1].end


@pytest.mark.slow
def test_a_segment_cut_in_half_still_demuxes(recording: Recording, tmp_path: Path) -> None:
    source = recording.segments_dir / recording.segments[1].path
    cut = tmp_path / "power-cut.ts"
    shutil.copyfile(source, cut)
    with cut.open("r+b") as handle:
        handle.truncate(source.stat().st_size // 2 + 77)  # not on a TS packet boundary either
    packets, _, container = packets_of(cut)
    container.close()
    full, _, full_container = packets_of(source)
    full_container.close()
    assert packets[0].is_keyframe
    assert 0 < len(packets) < len(full)
    assert [bytes(p) for p in packets[:-1]] == [bytes(p) for p in full[: len(packets) - 1]]


def test_recorder_code_never_decodes_or_encodes() -> None:
    modules = [
        edge_agent.recording.recorder,
        edge_agent.recording.recorder_process,
        edge_agent.recording.recorder_supervisor,
        edge_agent.recording.recording_session,
        edge_agent.recording.segment_writer,
        edge_agent.recording.segment_timing,
        edge_agent.recording.stream_time,
        edge_agent.recording.nal_units,
    ]
    for module in modules:
        assert module.__file__ is not None
        tree = ast.parse(Path(module.__file__).read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute):
                assert node.attr not in {"decode", "encode", "add_stream", "open_codec"}, (
                    f"{module.__name__} line {node.lineno}: {node.attr}"
                )
            if isinstance(node, ast.Import | ast.ImportFrom):
                names = [alias.name for alias in node.names]
                assert "cv2" not in names and getattr(node, "module", None) != "cv2"


def test_credentials_never_reach_the_status_or_the_log(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"rtsp://admin:s3cret@127.0.0.1:{port}/cam"
    index = SegmentIndex(None)
    recorder = CameraRecorder("cam2", lambda: url, tmp_path, index, SETTINGS)
    caplog.set_level("DEBUG")
    recorder.start()
    try:
        wait_until(lambda: recorder.status.reconnects >= 1, "a failed connection")
    finally:
        recorder.stop()
        recorder.join(10)
    status = recorder.status
    assert status.last_error is not None and "Connection refused" in status.last_error
    assert "s3cret" not in status.last_error and "admin" not in status.last_error
    assert "s3cret" not in caplog.text
    assert "camera cam2" in caplog.text
    assert status.state is RecorderState.STOPPED


@pytest.mark.slow
def test_an_h265_camera_is_recorded_the_same_way(
    rtsp_camera_factory: Callable[..., TestCamera], tmp_path: Path
) -> None:
    camera = rtsp_camera_factory(codec="h265", width=320, height=240, fps=25, gop_seconds=1.0)
    index = SegmentIndex(None)
    recorder = CameraRecorder("cam5", lambda: camera.url, tmp_path, index, SETTINGS)
    recorder.start()
    try:
        wait_until(lambda: len(index.all_segments()) >= 2, "two H.265 segments")
    finally:
        recorder.stop()
        recorder.join(30)
    for segment in index.all_segments():
        assert (segment.codec, segment.width, segment.height) == ("hevc", 320, 240)
        packets, _, container = packets_of(tmp_path / segment.path)
        assert container.streams.video[0].codec_context.name == "hevc"
        container.close()
        assert packets[0].is_keyframe and segment.keyframes[0] == 0.0


@pytest.mark.slow
def test_recorders_start_one_worker_per_enabled_camera(
    rtsp_camera: TestCamera, tmp_path: Path
) -> None:
    config = AgentConfig.model_validate(
        {
            "site_id": "site1",
            "data_dir": str(tmp_path),
            "recorder": SETTINGS.model_dump(),
            "cameras": [
                {"id": "front", "rtsp_url": rtsp_camera.url},
                {"id": "spare", "rtsp_url": rtsp_camera.url, "enabled": False},
                {"id": "onvif1", "onvif": {"host": "192.0.2.1"}},
            ],
        }
    )
    index = SegmentIndex(config.index_path)
    recorders = Recorders(config, index)
    recorders.start()
    try:
        wait_until(lambda: bool(index.all_segments("front")), "a segment from the camera")
        wait_until(
            lambda: recorders.status("onvif1").state is RecorderState.RECONNECTING,
            "the ONVIF camera without a URL provider to wait",
        )
    finally:
        assert recorders.stop_all(timeout=30) == []
    statuses = {status.camera_id: status for status in recorders.statuses()}
    assert set(statuses) == {"front", "onvif1"}
    assert all(status.state is RecorderState.STOPPED for status in statuses.values())
    assert statuses["front"].segments_written >= 1
    assert "no stream URL provider" in (statuses["onvif1"].last_error or "")
    files = list(config.segments_dir.glob("front/*/*.ts"))
    assert len(files) == statuses["front"].segments_written


def test_a_missing_gstreamer_python_fails_with_what_to_install() -> None:
    with pytest.raises(TestCameraUnavailable, match="python3-gi"):
        TestCamera(python="/nonexistent/python3").start()


def test_a_recorder_process_never_has_the_password_in_its_arguments_or_logs(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = AgentConfig.model_validate(
        {
            "site_id": "site1",
            "data_dir": str(tmp_path),
            "recorder": SETTINGS.model_dump(),
            "cameras": [{"id": "cam2", "rtsp_url": f"rtsp://admin:s3cret@127.0.0.1:{port}/cam"}],
        }
    )
    index = SegmentIndex(None)
    recorders = Recorders(config, index)
    caplog.set_level("DEBUG")
    recorders.start()
    try:
        wait_until(lambda: recorders.status("cam2").reconnects >= 2, "failed connections")
        pid = recorders.pid("cam2")
        assert pid is not None
        seen = {name: Path(f"/proc/{pid}/{name}").read_bytes() for name in ("cmdline", "environ")}
    finally:
        assert recorders.stop_all(timeout=30) == []
    assert (
        b"edge_agent.recording.recorder_process" in seen["cmdline"] and b"cam2" in seen["cmdline"]
    )
    assert all(b"s3cret" not in value for value in seen.values())
    status = recorders.status("cam2")
    assert "Connection refused" in (status.last_error or "")
    assert "s3cret" not in (status.last_error or "") and "s3cret" not in caplog.text
    # The process's log lines reach the agent's log, under their own names.
    assert any(
        r.name == "edge_agent.recording.recorder" and "camera cam2" in r.getMessage()
        for r in caplog.records
    )
