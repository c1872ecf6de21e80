"""The little live view reads of H.264 bytes, and its one continuous 90 kHz timeline. Pure.

What the source's thread guarantees about every packet it hands out rests on these: Annex-B
(start codes), a keyframe that carries its SPS and PPS, and pts/dts on one timeline that survives
reconnects. They work on bytes, so they are tested on bytes.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Final

VIDEO_CLOCK: Final = 90_000
VIDEO_TIME_BASE: Final = Fraction(1, VIDEO_CLOCK)
# Stamp used between two connections and for packets without a pts, when the stream gives no rate.
DEFAULT_FRAME_TICKS: Final = VIDEO_CLOCK // 25

NAL_IDR: Final = 5
NAL_SPS: Final = 7
NAL_PPS: Final = 8
NAL_AUD: Final = 9
START_CODE: Final = b"\x00\x00\x00\x01"

# Codec names as FFmpeg spells them -> why live view refuses them.
_H265_REASON: Final = (
    "streams H.265 (HEVC), which browsers cannot play over WebRTC; for live view give the camera's "
    'H.264 sub stream (live_rtsp_url, or an ONVIF live_profile such as "sub")'
)
REFUSED_CODECS: Final[dict[str, str]] = {"hevc": _H265_REASON, "h265": _H265_REASON}


def nal_unit_types(data: bytes) -> list[int]:
    """Types of the NAL units of an Annex-B buffer, in order (emulation prevention keeps 00 00 01
    out of NAL payloads, so every occurrence is a start code)."""
    types = []
    i = data.find(b"\x00\x00\x01")
    while i != -1 and i + 3 < len(data):
        types.append(data[i + 3] & 0x1F)
        i = data.find(b"\x00\x00\x01", i + 3)
    return types


def split_annexb(data: bytes) -> list[bytes]:
    """The NAL units of an Annex-B buffer, without their start codes."""
    units = []
    i = data.find(b"\x00\x00\x01")
    while i != -1:
        start = i + 3
        i = data.find(b"\x00\x00\x01", start)
        end = len(data) if i == -1 else i
        # A 4-byte start code leaves its leading zero at the end of the previous unit.
        unit = data[start:end].rstrip(b"\x00") if i != -1 else data[start:end]
        if unit:
            units.append(unit)
    return units


def is_annexb(data: bytes) -> bool:
    return data.startswith((b"\x00\x00\x01", b"\x00\x00\x00\x01"))


def parameter_sets_from_avcc(extradata: bytes) -> bytes:
    """SPS and PPS of an ISO/IEC 14496-15 ``avcC`` record, as Annex-B; b"" when malformed."""
    if len(extradata) < 7 or extradata[0] != 1:
        return b""
    out = bytearray()
    pos = 5
    try:
        for count_mask in (0x1F, 0xFF):  # numOfSequenceParameterSets, numOfPictureParameterSets
            count = extradata[pos] & count_mask
            pos += 1
            for _ in range(count):
                length = int.from_bytes(extradata[pos : pos + 2], "big")
                pos += 2
                unit = extradata[pos : pos + length]
                if len(unit) != length:
                    return b""
                out += START_CODE + unit
                pos += length
    except IndexError:
        return b""
    return bytes(out)


def parameter_sets(data: bytes) -> bytes:
    """The SPS and PPS found in an Annex-B buffer (or an avcC record), as Annex-B."""
    if not is_annexb(data):
        return parameter_sets_from_avcc(data)
    units = [u for u in split_annexb(data) if u[0] & 0x1F in (NAL_SPS, NAL_PPS)]
    types = {u[0] & 0x1F for u in units}
    if types != {NAL_SPS, NAL_PPS}:
        return b""
    return b"".join(START_CODE + u for u in units)


def with_parameter_sets(data: bytes, types: list[int], sets: bytes) -> bytes:
    """``data`` with ``sets`` put in front of the IDR slice when it lacks an SPS or a PPS.

    An access unit delimiter must stay first, so the sets go right after a leading one.
    """
    if NAL_IDR not in types or (NAL_SPS in types and NAL_PPS in types) or not sets:
        return data
    if types and types[0] == NAL_AUD:
        second = data.find(b"\x00\x00\x01", data.find(b"\x00\x00\x01") + 3)
        if second != -1:
            if data[second - 1] == 0:
                second -= 1
            return data[:second] + sets + data[second:]
    return sets + data


class Timeline:
    """Maps each connection's timestamps onto one continuous 90 kHz timeline.

    The first stamped packet of a connection follows the previous connection's last one by one
    frame; a packet without a timestamp follows the previous packet by one frame.
    """

    def __init__(self) -> None:
        self._offset: int | None = None
        self._last: int | None = None
        self.frame_ticks = DEFAULT_FRAME_TICKS

    def new_connection(self, frame_ticks: int | None = None) -> None:
        self._offset = None
        if frame_ticks is not None and frame_ticks > 0:
            self.frame_ticks = frame_ticks

    def stamp(self, ticks: int | None) -> int:
        follow = 0 if self._last is None else self._last + self.frame_ticks
        if ticks is None:
            out = follow
        else:
            if self._offset is None:
                self._offset = follow - ticks
            out = ticks + self._offset
        self._last = out
        return out


def to_ticks(value: int | None, time_base: Fraction | None) -> int | None:
    if value is None or time_base is None:
        return value
    if time_base == VIDEO_TIME_BASE:
        return value
    return round(value * time_base * VIDEO_CLOCK)


def refusal_for_codec(codec: str) -> str | None:
    """Why live view cannot forward ``codec`` (FFmpeg's name), or None for H.264."""
    if codec == "h264":
        return None
    return REFUSED_CODECS.get(codec, f"streams {codec}; live view forwards the camera's H.264 only")
