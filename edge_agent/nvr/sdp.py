"""The video track of an SDP description (RFC 4566) as an NVR's DESCRIBE answer gives it. Pure."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urljoin

from edge_agent.nvr.depacketize import Codec

ENCODINGS: dict[str, Codec] = {"H264": "h264", "H265": "h265", "HEVC": "h265"}


class SdpError(ValueError):
    """The description has no video track this client can replay."""


@dataclass(frozen=True)
class VideoTrack:
    codec: Codec
    payload_type: int
    clock_rate: int
    control: str  # absolute URL for SETUP
    fmtp: dict[str, str]
    channel: int = 0  # interleaved RTP channel (RTCP on channel + 1)


def parse_sdp(text: str, base: str) -> VideoTrack:
    """The first H.264 or H.265 video track; its control URL resolved against ``base``."""
    session_control = ""
    media: list[list[str]] = []
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("m="):
            media.append([line])
        elif media:
            media[-1].append(line)
        elif line.startswith("a=control:"):
            session_control = line[len("a=control:") :].strip()
    found = []
    for lines in media:
        fields = lines[0][2:].split()
        if len(fields) < 4 or fields[0] != "video":
            continue
        rtpmaps: dict[int, tuple[str, int]] = {}
        fmtps: dict[int, dict[str, str]] = {}
        control = ""
        for line in lines[1:]:
            if line.startswith("a=rtpmap:"):
                number, _, rest = line[len("a=rtpmap:") :].partition(" ")
                name, _, rate = rest.partition("/")
                if number.isdigit():
                    rtpmaps[int(number)] = (name.upper(), int(rate.split("/")[0] or 90000))
            elif line.startswith("a=fmtp:"):
                number, _, rest = line[len("a=fmtp:") :].partition(" ")
                if number.isdigit():
                    fmtps[int(number)] = _fmtp(rest)
            elif line.startswith("a=control:"):
                control = line[len("a=control:") :].strip()
        for payload in fields[3:]:
            if not payload.isdigit() or int(payload) not in rtpmaps:
                continue
            name, clock_rate = rtpmaps[int(payload)]
            if name in ENCODINGS:
                found.append(
                    VideoTrack(
                        ENCODINGS[name],
                        int(payload),
                        clock_rate,
                        _resolve(base, session_control, control),
                        fmtps.get(int(payload), {}),
                    )
                )
    if not found:
        raise SdpError("the stream has no H.264 or H.265 video track")
    return found[0]


def _fmtp(text: str) -> dict[str, str]:
    params = {}
    for item in text.split(";"):
        name, _, value = item.strip().partition("=")
        if name:
            params[name.strip().lower()] = value.strip()
    return params


def _resolve(base: str, session_control: str, control: str) -> str:
    if not control or control == "*":
        return base
    if control.lower().startswith("rtsp://"):
        return control
    root = base if session_control in ("", "*") else urljoin(base, session_control)
    return urljoin(root if root.endswith("/") else root + "/", control)
