"""RTP packets (RFC 3550) and the ONVIF replay header extension. Pure.

The ONVIF Streaming Specification (section 6.3) puts the recording's wall-clock time of every
access unit in an RTP header extension with profile 0xABAC, at least three 32-bit words::

    NTP timestamp (64 bits: seconds since 1900, fraction of a second)
    C E D T mbz(4) | CSeq (low byte of the PLAY's CSeq) | padding (16 bits)

C: the access unit is a clean point (a keyframe). E: the last access unit of a contiguous stretch
of recording. D: the first access unit after a discontinuity (a hole in the recording, or the
start of the stream). T: the last access unit of the range asked for (the end of the replay).

aiortc's ``RtpPacket.parse`` is not used: it keeps only the RFC 8285 one- and two-byte header
extensions that WebRTC names, and drops a 0xABAC extension.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

ONVIF_EXTENSION_PROFILE = 0xABAC
NTP_UNIX_OFFSET_SECONDS = 2_208_988_800  # 1900-01-01 to 1970-01-01
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_HEADER = struct.Struct("!BBHII")


class RtpError(ValueError):
    """A packet that is not RTP as RFC 3550 defines it."""


@dataclass(frozen=True, slots=True)
class ReplayExtension:
    """The ONVIF replay extension of one packet."""

    ntp: int  # 64-bit NTP timestamp
    clean_point: bool  # C
    end_of_section: bool  # E
    discontinuity: bool  # D
    terminal: bool  # T
    cseq: int

    @property
    def unix_ns(self) -> int:
        seconds, fraction = self.ntp >> 32, self.ntp & 0xFFFFFFFF
        return (seconds - NTP_UNIX_OFFSET_SECONDS) * 1_000_000_000 + (
            (fraction * 1_000_000_000 + (1 << 31)) >> 32
        )

    @property
    def utc(self) -> datetime:
        """The time, to the microsecond."""
        return utc_from_ns(self.unix_ns)


@dataclass(frozen=True, slots=True)
class RtpPacket:
    payload_type: int
    marker: bool
    sequence: int
    timestamp: int
    ssrc: int
    payload: bytes
    replay: ReplayExtension | None = None


def utc_from_ns(unix_ns: int) -> datetime:
    return _EPOCH + timedelta(microseconds=round(unix_ns / 1000))


def parse_rtp(data: bytes) -> RtpPacket:
    """One RTP packet; raises RtpError for anything that is not one."""
    if len(data) < _HEADER.size:
        raise RtpError(f"RTP packet of {len(data)} bytes is shorter than its header")
    first, second, sequence, timestamp, ssrc = _HEADER.unpack_from(data)
    if first >> 6 != 2:
        raise RtpError(f"RTP version {first >> 6}, not 2")
    position = _HEADER.size + 4 * (first & 0x0F)
    end = len(data)
    if first & 0x20:  # padding: the last byte says how much
        if end <= position or data[-1] == 0 or data[-1] > end - position:
            raise RtpError("RTP padding longer than the packet")
        end -= data[-1]
    replay = None
    if first & 0x10:
        if end < position + 4:
            raise RtpError("RTP header extension cut short")
        profile, words = struct.unpack_from("!HH", data, position)
        body = position + 4
        position = body + 4 * words
        if position > end:
            raise RtpError("RTP header extension longer than the packet")
        if profile == ONVIF_EXTENSION_PROFILE:
            replay = _parse_replay(data[body:position])
    if position > end:
        raise RtpError("RTP header longer than the packet")
    return RtpPacket(
        payload_type=second & 0x7F,
        marker=bool(second & 0x80),
        sequence=sequence,
        timestamp=timestamp,
        ssrc=ssrc,
        payload=bytes(data[position:end]),
        replay=replay,
    )


def _parse_replay(body: bytes) -> ReplayExtension:
    if len(body) < 12:
        raise RtpError(f"ONVIF replay extension of {len(body)} bytes, not at least 12")
    ntp, flags, cseq = struct.unpack_from("!QBB", body)
    return ReplayExtension(
        ntp=ntp,
        clean_point=bool(flags & 0x80),
        end_of_section=bool(flags & 0x40),
        discontinuity=bool(flags & 0x20),
        terminal=bool(flags & 0x10),
        cseq=cseq,
    )


def is_rtcp(data: bytes) -> bool:
    """RTCP packet types 200-204 sit where RTP has marker and payload type (RFC 5761)."""
    return len(data) >= 2 and 200 <= data[1] <= 204


def rtcp_has_bye(data: bytes) -> bool:
    """Whether a compound RTCP packet holds a BYE (the sender ended the stream)."""
    position = 0
    while position + 4 <= len(data):
        packet_type = data[position + 1]
        length = struct.unpack_from("!H", data, position + 2)[0]
        if packet_type == 203:
            return True
        position += 4 * (length + 1)
    return False
