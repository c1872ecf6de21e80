"""Pure parts of NVR retrieval: RTP and the ONVIF extension, depacketizing, RTSP framing and
authentication, SDP, decode times, gaps, channel matching, vendor URLs and config."""

from __future__ import annotations

import re
import struct
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from cctv_common.evidence.manifest import GapCause
from cctv_onvif import RecordingInfo
from edge_agent.config import parse_config
from edge_agent.config_nvr import NvrChannelConfig, NvrConfig, NvrPasswordError
from edge_agent.nvr.depacketize import DepacketizeError, Depacketizer
from edge_agent.nvr.gaps import replay_gaps
from edge_agent.nvr.interleaved import InterleavedParser
from edge_agent.nvr.mux import decode_ticks
from edge_agent.nvr.replay import SpooledUnit, clock_range
from edge_agent.nvr.retrieve import match_recording, vendor_uri
from edge_agent.nvr.rtp import RtpError, parse_rtp, rtcp_has_bye
from edge_agent.nvr.rtsp_messages import (
    RtspProtocolError,
    RtspUrl,
    digest_authorization,
    parse_challenges,
)
from edge_agent.nvr.sdp import SdpError, parse_sdp
from tests.support.paths import REPO

T0 = datetime(2026, 1, 10, 10, 0, tzinfo=UTC)
NTP_T0 = (int(T0.timestamp()) + 2_208_988_800) << 32


def rtp(
    payload: bytes,
    seq: int,
    ts: int = 9000,
    marker: bool = True,
    ntp: int | None = None,
    flags: int = 0,
    padding: int = 0,
) -> bytes:
    first = 0x80 | (0x10 if ntp is not None else 0) | (0x20 if padding else 0)
    data = struct.pack("!BBHII", first, (0x80 if marker else 0) | 96, seq, ts, 1234)
    if ntp is not None:
        data += struct.pack("!HHQBBH", 0xABAC, 3, ntp, flags, 7, 0)
    data += payload
    if padding:
        data += b"\x00" * (padding - 1) + bytes([padding])
    return data


def test_rtp_with_the_onvif_replay_extension() -> None:
    half = 1 << 31
    packet = parse_rtp(rtp(b"\x65abc", 5, ntp=NTP_T0 | half, flags=0x80 | 0x40 | 0x10, padding=3))
    assert (packet.sequence, packet.timestamp, packet.marker, packet.payload) == (
        5,
        9000,
        True,
        b"\x65abc",
    )
    assert packet.replay is not None
    assert packet.replay.utc == T0 + timedelta(seconds=0.5)
    assert (packet.replay.clean_point, packet.replay.end_of_section) == (True, True)
    assert (packet.replay.discontinuity, packet.replay.terminal, packet.replay.cseq) == (
        False,
        True,
        7,
    )


HEADER = struct.pack("!BBHII", 0x80, 96, 1, 9000, 1234)


@pytest.mark.parametrize(
    "data",
    [
        b"\x80",  # shorter than a header
        b"\x40" + HEADER[1:],  # version 1
        b"\x90" + HEADER[1:] + b"\xab\xac\x00\x09",  # extension longer than the packet
        b"\xa0" + HEADER[1:] + b"\x09",  # padding longer than the packet
        b"\x90" + HEADER[1:] + b"\xab\xac\x00\x01abcd",  # a 0xABAC extension of 4 bytes
    ],
)
def test_malformed_rtp_is_an_rtp_error(data: bytes) -> None:
    with pytest.raises(RtpError):
        parse_rtp(data)


def test_rtcp_bye_is_seen_in_a_compound_packet() -> None:
    sender_report = struct.pack("!BBH", 0x80, 200, 6) + b"\x00" * 24
    bye = struct.pack("!BBHI", 0x81, 203, 1, 1234)
    assert rtcp_has_bye(sender_report + bye) and not rtcp_has_bye(sender_report)


def test_h264_single_stap_a_and_fu_a_make_access_units_with_parameter_sets() -> None:
    sps, pps, idr = b"\x67sps", b"\x68pps", b"\x65" + b"i" * 3000
    depacketizer = Depacketizer("h264", [sps, pps])
    stap = (
        b"\x18" + struct.pack("!H", 4) + b"\x09\x10\x00\x00" + struct.pack("!H", 6) + b"\x06sei1a"
    )
    assert depacketizer.push(parse_rtp(rtp(stap, 1, marker=False, ntp=NTP_T0))) == []
    fu = [idr[1:1000], idr[1000:2000], idr[2000:]]
    headers = [0x80 | 5, 5, 0x40 | 5]
    for n, (part, header) in enumerate(zip(fu, headers, strict=True)):
        done = depacketizer.push(parse_rtp(rtp(bytes([0x7C, header]) + part, 2 + n, marker=n == 2)))
    (unit,) = done
    assert unit.keyframe and unit.replay is not None and unit.replay.unix_ns == T0.timestamp() * 1e9
    assert unit.nal_units == [sps, pps, b"\x09\x10\x00\x00", b"\x06sei1a", b"\x65" + b"i" * 3000]
    (delta,) = depacketizer.push(parse_rtp(rtp(b"\x41p", 5, ts=12600)))
    assert not delta.keyframe and delta.nal_units == [b"\x41p"]


def test_a_lost_packet_loses_its_access_unit_whole() -> None:
    depacketizer = Depacketizer("h264")
    depacketizer.push(parse_rtp(rtp(b"\x7c\x85" + b"a" * 10, 1, marker=False, ntp=NTP_T0)))
    # packet 2 (the middle of the fragmented IDR) never arrives
    assert depacketizer.push(parse_rtp(rtp(b"\x7c\x45" + b"c" * 10, 3))) == []
    assert depacketizer.lost_packets == 1
    (lost,) = depacketizer.lost
    assert lost.replay is not None and lost.replay.ntp == NTP_T0
    (after,) = depacketizer.push(parse_rtp(rtp(b"\x41p", 4, ts=12600)))
    assert after.nal_units == [b"\x41p"]


def test_h265_aggregation_and_fragmentation_units() -> None:
    vps, sps, pps = b"\x40\x01v", b"\x42\x01s", b"\x44\x01p"
    depacketizer = Depacketizer("h265")
    ap = b"\x60\x01" + b"".join(struct.pack("!H", len(u)) + u for u in (vps, sps, pps))
    depacketizer.push(parse_rtp(rtp(ap, 1, marker=False)))
    idr_header = bytes([19 << 1, 1])
    fu_header = bytes([49 << 1, 1])
    depacketizer.push(parse_rtp(rtp(fu_header + bytes([0x80 | 19]) + b"one", 2, marker=False)))
    (unit,) = depacketizer.push(parse_rtp(rtp(fu_header + bytes([0x40 | 19]) + b"two", 3)))
    assert unit.keyframe and unit.nal_units == [vps, sps, pps, idr_header + b"onetwo"]


def test_interleaved_packetization_is_refused_by_name() -> None:
    with pytest.raises(DepacketizeError, match="STAP-B"):
        Depacketizer("h264").push(parse_rtp(rtp(b"\x19\x00\x01", 1)))


def test_interleaved_parser_splits_frames_and_sets_messages_aside() -> None:
    parser = InterleavedParser("nvr")
    frame = b"$\x00\x00\x03abc"
    answer = b"RTSP/1.0 200 OK\r\nCSeq: 5\r\nContent-Length: 2\r\n\r\nok"
    stream = frame + answer + b"$\x01\x00\x02xy"
    frames = []
    for index in range(0, len(stream), 5):  # arrives in pieces
        frames += parser.feed(stream[index : index + 5])
    assert frames == [(0, b"abc"), (1, b"xy")]
    assert [(m.status, m.headers["cseq"]) for m in parser.messages] == [(200, "5")]
    with pytest.raises(RtspProtocolError):
        InterleavedParser("nvr").feed(b"garbage that is not RTSP\r\n\r\n")


def test_digest_authorization_rfc2617_example() -> None:
    challenge = parse_challenges(
        (
            'Digest realm="testrealm@host.com", qop="auth,auth-int", '
            'nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", opaque="5ccc069c403ebaf9f0171e9517f40e41"',
            'Basic realm="x"',
        )
    )
    header = digest_authorization(
        challenge["digest"], "GET", "/dir/index.html", "Mufasa", "Circle Of Life", 1, "0a4f113b"
    )
    assert 'response="6629fae49393a05397450978507c4ef1"' in header
    assert "basic" in challenge


def test_rtsp_url_keeps_credentials_out_of_the_url() -> None:
    url = RtspUrl.parse("rtsp://admin:s3cret@10.0.0.9/Streaming/tracks/101?starttime=x")
    assert url.url == "rtsp://10.0.0.9/Streaming/tracks/101?starttime=x"
    assert (url.user, url.password, url.port) == ("admin", "s3cret", 554)
    assert "s3cret" not in repr(url)


def test_sdp_video_track() -> None:
    sdp = (
        "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=x\r\na=control:*\r\nm=audio 0 RTP/AVP 0\r\n"
        "a=control:audio\r\nm=video 0 RTP/AVP 96\r\na=rtpmap:96 H265/90000\r\n"
        "a=fmtp:96 sprop-vps=QAE=;sprop-sps=QgE=;sprop-pps=RAE=\r\na=control:stream=0\r\n"
    )
    track = parse_sdp(sdp, "rtsp://nvr/replay/REC1/")
    assert (track.codec, track.payload_type, track.clock_rate) == ("h265", 96, 90000)
    assert track.control == "rtsp://nvr/replay/REC1/stream=0"
    assert track.fmtp["sprop-vps"] == "QAE="
    with pytest.raises(SdpError):
        parse_sdp("v=0\r\nm=video 0 RTP/AVP 26\r\na=rtpmap:26 JPEG/90000\r\n", "rtsp://x/")


def test_clock_range() -> None:
    end = T0 + timedelta(seconds=61.25)
    assert clock_range(T0, end) == "clock=20260110T100000.000Z-20260110T100101.250Z"


def test_decode_ticks() -> None:
    assert decode_ticks([0, 3600, 7200]) == [0, 3600, 7200]
    # I P B B in decode order (presentation 0, 3, 1, 2 frames): never after its own pts
    pts = [0, 10800, 3600, 7200]
    dts = decode_ticks(pts)
    assert all(d <= p for d, p in zip(dts, pts, strict=True))
    assert dts == sorted(set(dts)) and len(set(dts)) == 4


def unit(seconds: float, end: bool = False, discont: bool = False) -> SpooledUnit:
    return SpooledUnit(0, 1, round((T0.timestamp() + seconds) * 1e9), False, 0, end, discont)


def test_gaps_before_between_and_after() -> None:
    frames = [unit(s / 25) for s in range(0, 50)] + [unit(4 + s / 25) for s in range(0, 25)]
    frames[49] = unit(49 / 25, end=True)
    frames[50] = unit(4, discont=True)
    gaps = replay_gaps(
        (T0 - timedelta(seconds=3), T0 + timedelta(seconds=8)),
        frames,
        [],
        (T0, T0 + timedelta(seconds=5)),
        40_000_000,
        1_000_000_000,
    )
    assert [(g.start, g.end, g.cause) for g in gaps] == [
        (T0 - timedelta(seconds=3), T0, GapCause.NVR_NOT_RECORDED),
        (T0 + timedelta(seconds=2), T0 + timedelta(seconds=4), GapCause.NVR_NOT_RECORDED),
        (T0 + timedelta(seconds=5), T0 + timedelta(seconds=8), GapCause.NVR_NOT_RECORDED),
    ]
    assert "E/D flags" in gaps[1].reason and "search gives" in gaps[0].reason


def info(token: str, source: str) -> RecordingInfo:
    return RecordingInfo(token, source, "", "", "", "", None, None, "", ())


def test_matching_recordings_to_channels() -> None:
    recordings = [info("RecordMediaProfile000", "VideoSource_1"), info("CH2-REC", "uri:xyz")]
    assert match_recording(NvrChannelConfig(camera="a", channel=1), recordings) is recordings[0]
    assert match_recording(NvrChannelConfig(camera="a", channel=2), recordings) is recordings[1]
    by_source = NvrChannelConfig(camera="a", channel=9, source_id="uri:xyz")
    assert match_recording(by_source, recordings) is recordings[1]
    assert match_recording(NvrChannelConfig(camera="a", channel=7), recordings) is None


def test_vendor_urls_cover_the_window_in_whole_seconds() -> None:
    nvr = NvrConfig(id="n", host="10.0.0.9", protocol="hikvision")
    start, end = T0 + timedelta(seconds=1.5), T0 + timedelta(seconds=9.2)
    assert vendor_uri(nvr, 3, start, end) == (
        "rtsp://10.0.0.9:554/Streaming/tracks/301?starttime=20260110T100001Z"
        "&endtime=20260110T100010Z"
    )
    dahua = nvr.model_copy(update={"protocol": "dahua", "rtsp_port": 8554})
    assert vendor_uri(dahua, 2, start, end) == (
        "rtsp://10.0.0.9:8554/cam/playback?channel=2&starttime=2026_01_10_10_00_01"
        "&endtime=2026_01_10_10_00_10"
    )


def test_nvr_config(tmp_path: Path) -> None:
    secret = tmp_path / "nvr.password"
    secret.write_text("s3cret\n")
    secret.chmod(0o600)
    config = parse_config(
        f"""
site_id = "s"
data_dir = "/tmp/x"
[[nvrs]]
id = "nvr-1"
host = "10.0.0.9"
user = "agent"
password_file = "{secret}"
[[nvrs.channels]]
camera = "cam-1"
channel = 1
"""
    )
    nvr = config.nvrs[0]
    assert nvr.password() == "s3cret" and "s3cret" not in repr(config)
    assert config.nvr_channels("cam-1")[0][1].channel == 1
    missing = nvr.model_copy(update={"password_file": tmp_path / "none"})
    with pytest.raises(NvrPasswordError, match="cannot read password file"):
        missing.password()


def test_nvr_password_file_open_to_other_users_or_empty_is_refused(tmp_path: Path) -> None:
    """The rule camera password files follow (``edge_agent.secret_files``): a password others
    can read is refused, not used, and the message names the fix without the password."""
    secret = tmp_path / "nvr.password"
    secret.write_text("s3cret\n")
    nvr = NvrConfig(id="nvr-1", host="10.0.0.9", password_file=secret)
    for mode in (0o644, 0o602):
        secret.chmod(mode)
        with pytest.raises(NvrPasswordError) as refused:
            nvr.password()
        assert "nvrs.nvr-1" in str(refused.value) and "readable by every user" in str(refused.value)
        assert f"chmod 600 {secret}" in str(refused.value) and "s3cret" not in str(refused.value)
    secret.chmod(0o640)  # the agent's group may read it (a credential shared with its unit)
    assert nvr.password() == "s3cret"
    secret.write_text("\n")
    with pytest.raises(NvrPasswordError, match="is empty"):
        nvr.password()


def test_the_deploy_example_documents_every_nvr_field(tmp_path: Path) -> None:
    example = REPO / "deploy" / "agent.example.toml"
    text = example.read_text(encoding="utf-8")
    block = text[text.index("# [[nvrs]]") :]
    uncommented = "\n".join(
        line.removeprefix("# ") if re.match(r"# (\[|[a-z_]+ = )", line) else line
        for line in block.splitlines()
    )
    config = parse_config(text.replace(block, uncommented))
    nvr = config.nvrs[0]
    for name, field in [*NvrConfig.model_fields.items(), *NvrChannelConfig.model_fields.items()]:
        assert f"{name} =" in block or name == "channels", f"{name} is not in the example"
        assert field.description or name in ("id", "name", "channels")
    assert nvr.channels[0].camera == "cam-1" and nvr.protocol == "onvif"
