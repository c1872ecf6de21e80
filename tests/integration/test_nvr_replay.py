"""Retrieval from an NVR against the test NVR (devkit.nvr): real SOAP over HTTP, real RTSP/RTP
from GStreamer's ONVIF server with the 0xABAC extension, real MP4s checked with PyAV."""

from __future__ import annotations

import asyncio
import json
import re
from datetime import datetime, timedelta
from pathlib import Path

import av
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from cctv_common.evidence.manifest import GapCause
from cctv_common.evidence.signing import public_key_pem
from cctv_common.evidence.verify import main as verify_main
from cctv_onvif import OnvifClient, OnvifTarget, SearchSettings
from devkit.nvr import TestNvr
from devkit.nvr.store import load_recordings
from edge_agent.cli import main as agent_main
from edge_agent.config_nvr import NvrChannelConfig, NvrConfig
from edge_agent.nvr.retrieve import NvrRetrievalFailed, retrieve_from_nvr, search_nvr
from hub.services.ingest.clip_probe import probe_clip
from tests.support.nvr_fixtures import HOLE, T0

pytestmark = pytest.mark.slow

SLICES = {"h264": set(range(1, 6)), "h265": set(range(0, 32))}


def nvr_config(nvr: TestNvr, tmp_path: Path, protocol: str = "onvif") -> NvrConfig:
    password_file = tmp_path / "nvr.password"
    password_file.write_text(nvr.password + "\n")
    password_file.chmod(0o600)
    return NvrConfig(
        id="nvr-1",
        host=nvr.host,
        port=nvr.onvif_port,
        rtsp_port=nvr.rtsp_port or 554,
        user=nvr.user,
        password_file=password_file,
        protocol=protocol,  # type: ignore[arg-type]
        channels=[
            NvrChannelConfig(camera="cam-1", channel=1, name="High St north"),
            NvrChannelConfig(camera="cam-9", channel=2),
        ],
    )


def nal_type(codec: str, unit: bytes) -> int:
    return unit[0] & 0x1F if codec == "h264" else (unit[0] >> 1) & 0x3F


def annex_b_slices(codec: str, data: bytes) -> list[bytes]:
    units = [u.rstrip(b"\x00") for u in re.split(b"\x00\x00\x01", data) if u.strip(b"\x00")]
    return [u for u in units if nal_type(codec, u) in SLICES[codec]]


def mp4_frames(path: Path, codec: str) -> list[tuple[float, list[bytes]]]:
    """(seconds from the first frame, slice NAL units) of every sample (length-prefixed)."""
    frames = []
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        for packet in container.demux(stream):
            if packet.size == 0:
                continue
            data, position, slices = bytes(packet), 0, []
            while position + 4 <= len(data):
                size = int.from_bytes(data[position : position + 4], "big")
                unit = data[position + 4 : position + 4 + size]
                if nal_type(codec, unit) in SLICES[codec]:
                    slices.append(unit)
                position += 4 + size
            assert packet.pts is not None and packet.time_base is not None
            frames.append((float(packet.pts * packet.time_base), slices))
    return frames


def recorded_frames(root: Path, token: str, first: datetime, last: datetime) -> list:
    recording = load_recordings(root)[token]
    first_ns, last_ns = round(first.timestamp() * 1e9), round(last.timestamp() * 1e9)
    found = []
    for span in recording.spans:
        for unit in span.units:
            if first_ns - 500_000 <= unit.time_ns <= last_ns + 500_000:
                data = recording.read(span, unit)
                found.append((unit.time_ns, annex_b_slices(recording.codec, data)))
    return found


def retrieve(config: NvrConfig, camera: str, start: datetime, end: datetime, out: Path, **kw):  # type: ignore[no-untyped-def]
    key = Ed25519PrivateKey.generate()
    clip = asyncio.run(retrieve_from_nvr(config, camera, start, end, out, key, "site-1", **kw))
    (out / "key.pem").write_text(public_key_pem(key))
    return clip


def assert_identical(nvr_root: Path, token: str, clip_path: Path, codec: str, manifest) -> int:  # type: ignore[no-untyped-def]
    ours = mp4_frames(clip_path, codec)
    theirs = recorded_frames(nvr_root, token, manifest.nvr.first_frame, manifest.nvr.last_frame)
    assert len(ours) == len(theirs) == manifest.frames
    start_ns = manifest.delivered.start.timestamp() * 1e9
    for (offset, slices), (time_ns, recorded) in zip(ours, theirs, strict=True):
        assert slices == recorded  # the NVR's slices, byte for byte
        assert abs(start_ns + offset * 1e9 - time_ns) < 100_000  # the NVR's time, to 0.1 ms
    return len(ours)


def test_search_finds_the_recordings_and_maps_them_to_cameras(
    test_nvr: TestNvr, tmp_path: Path
) -> None:
    test_nvr.soap.page_size = 1  # one recording per page: the client must page
    found = asyncio.run(search_nvr(nvr_config(test_nvr, tmp_path)))
    by_camera = {item.camera: item for item in found}
    assert set(by_camera) == {"cam-1", "cam-9"}
    ch1 = by_camera["cam-1"].recording
    assert ch1.token == "REC-CH1" and ch1.source_id == "VideoSource_1"
    assert ch1.video_tracks[0].data_from == T0
    assert ch1.video_tracks[0].data_to == T0 + timedelta(seconds=22)
    assert test_nvr.soap.calls.count("GetRecordingSearchResults") == 2
    with OnvifClient(
        OnvifTarget("nvr", test_nvr.host, test_nvr.onvif_port, test_nvr.user, test_nvr.password)
    ) as client:
        summary = client.get_recording_summary()
        assert (summary.data_from, summary.recordings) == (T0, 2)
        assert client.get_recording_information("REC-CH2").tracks[0].data_to == T0 + timedelta(
            seconds=6
        )
        # A search left unfinished is ended (EndSearch), never leaked on the NVR.
        client.find_recordings(SearchSettings(max_pages=1))
        assert test_nvr.soap.calls[-1] == "EndSearch" and not test_nvr.soap.searches


def test_replayed_clip_is_the_nvrs_bitstream_with_its_frame_times(
    test_nvr: TestNvr, nvr_recordings: Path, tmp_path: Path
) -> None:
    start, end = T0 + timedelta(seconds=2.5), T0 + timedelta(seconds=8)
    out = tmp_path / "clip"
    clip = retrieve(nvr_config(test_nvr, tmp_path), "cam-1", start, end, out)
    manifest = clip.manifest
    assert manifest.nvr is not None
    assert manifest.nvr.method == "onvif-replay"
    assert manifest.nvr.time_source == "onvif-rtp-extension"
    assert (manifest.nvr.recording_token, manifest.nvr.track_token) == ("REC-CH1", "VIDEO001")
    assert manifest.nvr.manufacturer == "DevKit" and manifest.nvr.serial == "NVR0001"
    assert manifest.nvr.rate_control is False
    # Starts on the keyframe at or before the start (one a second), ends before the end.
    assert manifest.delivered.start == T0 + timedelta(seconds=2)
    assert manifest.delivered.end == end
    assert manifest.gaps == ()
    assert assert_identical(nvr_recordings, "REC-CH1", clip.clip_path, "h264", manifest) == 150
    # The hub's ingest probe (decodes the first and last GOP) takes it like a ring-buffer clip.
    probed = probe_clip(clip.clip_path, "h264", 640, 360)
    assert (probed.packets, probed.first_gop_frames) == (150, 25)
    assert "password" not in json.dumps(json.loads(clip.manifest_bytes))
    assert test_nvr.password not in clip.manifest_bytes.decode()
    assert verify_main([str(out), "--public-key", str(out / "key.pem")]) == 0


def test_a_hole_in_the_recording_is_a_gap_from_the_replay_flags(
    test_nvr: TestNvr, nvr_recordings: Path, tmp_path: Path
) -> None:
    start, end = T0 + timedelta(seconds=10), T0 + timedelta(seconds=19)
    clip = retrieve(nvr_config(test_nvr, tmp_path), "cam-1", start, end, tmp_path / "hole")
    manifest = clip.manifest
    assert manifest.nvr is not None and manifest.nvr.sections == 2
    assert [(g.start, g.end, g.cause) for g in manifest.gaps] == [
        (HOLE[0], HOLE[1], GapCause.NVR_NOT_RECORDED)
    ]
    assert "E/D flags" in manifest.gaps[0].reason
    assert_identical(nvr_recordings, "REC-CH1", clip.clip_path, "h264", manifest)


def test_h265_replay(test_nvr: TestNvr, nvr_recordings: Path, tmp_path: Path) -> None:
    start, end = T0 + timedelta(seconds=1), T0 + timedelta(seconds=4)
    clip = retrieve(nvr_config(test_nvr, tmp_path), "cam-9", start, end, tmp_path / "hevc")
    assert (clip.manifest.codec, clip.manifest.width, clip.manifest.height) == ("h265", 320, 240)
    assert assert_identical(nvr_recordings, "REC-CH2", clip.clip_path, "h265", clip.manifest) == 75


def test_keyframes_only_when_asked(test_nvr: TestNvr, tmp_path: Path) -> None:
    start, end = T0, T0 + timedelta(seconds=5)
    clip = retrieve(
        nvr_config(test_nvr, tmp_path), "cam-1", start, end, tmp_path / "i", frames="intra"
    )
    assert clip.manifest.frames == 5


def test_a_server_without_replay_support_gives_a_clear_error(
    nvr_recordings: Path, tmp_path: Path
) -> None:
    with TestNvr(nvr_recordings, replay_support=False) as nvr:
        out = tmp_path / "refused"
        with pytest.raises(NvrRetrievalFailed, match=r"does not support onvif-replay .*551"):
            retrieve(nvr_config(nvr, tmp_path), "cam-1", T0, T0 + timedelta(seconds=3), out)
        assert not out.exists()  # nothing half-written


def test_basic_auth_and_a_wrong_password(nvr_recordings: Path, tmp_path: Path) -> None:
    with TestNvr(nvr_recordings, rtsp_auth="basic") as nvr:
        config = nvr_config(nvr, tmp_path, protocol="hikvision")
        clip = retrieve(config, "cam-1", T0, T0 + timedelta(seconds=2), tmp_path / "basic")
        assert clip.manifest.frames == 50
        assert config.password_file is not None
        config.password_file.write_text("wrong\n")
        with pytest.raises(NvrRetrievalFailed, match="refused the user name or password"):
            retrieve(config, "cam-1", T0, T0 + timedelta(seconds=2), tmp_path / "x")


@pytest.mark.parametrize("protocol", ["hikvision", "dahua"])
def test_vendor_playback_urls_are_marked_in_the_manifest(
    test_nvr: TestNvr, nvr_recordings: Path, tmp_path: Path, protocol: str
) -> None:
    start, end = T0 + timedelta(seconds=3), T0 + timedelta(seconds=6)
    out = tmp_path / protocol
    clip = retrieve(nvr_config(test_nvr, tmp_path, protocol), "cam-1", start, end, out)
    manifest = clip.manifest
    assert manifest.nvr is not None
    assert manifest.nvr.method == f"{protocol}-playback"
    assert manifest.nvr.time_source == "request-start-plus-rtp-clock"
    assert manifest.frames == 75 and manifest.delivered.start == start
    assert_identical(nvr_recordings, "REC-CH1", clip.clip_path, "h264", manifest)
    assert verify_main([str(out), "--public-key", str(out / "key.pem")]) == 0


def test_cli_nvr_search_and_nvr_cut(
    test_nvr: TestNvr, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "nvr.password").write_text(test_nvr.password)
    (tmp_path / "nvr.password").chmod(0o600)
    config = tmp_path / "agent.toml"
    config.write_text(
        f"""
site_id = "site-1"
data_dir = "{tmp_path / "data"}"
[[nvrs]]
id = "nvr-1"
host = "{test_nvr.host}"
port = {test_nvr.onvif_port}
user = "{test_nvr.user}"
password_file = "{tmp_path / "nvr.password"}"
[[nvrs.channels]]
camera = "cam-1"
channel = 1
"""
    )
    assert agent_main(["nvr-search", "--config", str(config)]) == 0
    printed = capsys.readouterr().out
    assert "REC-CH1  source VideoSource_1  -> camera cam-1 (channel 1)" in printed
    assert "REC-CH2  source VideoSource_2  -> unmapped" in printed
    assert "2026-01-10T10:00:00+00:00 to 2026-01-10T10:00:22+00:00" in printed
    out = tmp_path / "usb"
    args = ["nvr-cut", "--config", str(config), "--camera", "cam-1", "--out", str(out)]
    assert (
        agent_main([*args, "--start", "2026-01-10T10:00:11Z", "--end", "2026-01-10T10:00:17Z"]) == 0
    )
    printed = capsys.readouterr().out
    assert "gap:       2026-01-10T10:00:12+00:00 to 2026-01-10T10:00:16+00:00" in printed
    assert verify_main([str(out), "--public-key", str(out / "agent_public_key.pem")]) == 0
    # A window outside the NVR's recording is retrieved with the gap named, not refused.
    assert (
        agent_main(
            [
                "nvr-cut",
                "--config",
                str(config),
                "--camera",
                "cam-2",
                "--out",
                str(tmp_path / "o"),
                "--start",
                "2026-01-10T10:00:00Z",
                "--end",
                "2026-01-10T10:00:01Z",
            ]
        )
        == 2
    )
    assert "records camera 'cam-2'" in capsys.readouterr().err
