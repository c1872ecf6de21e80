"""RTP payloads of H.264 (RFC 6184) and H.265 (RFC 7798) back into access units. Pure.

H.264: single NAL unit packets, STAP-A and FU-A (non-interleaved mode, which is what cameras and
NVRs send). H.265: single NAL unit packets, aggregation packets (AP) and fragmentation units
(FU), without DONL fields (``sprop-max-don-diff`` 0). The interleaved forms (STAP-B, MTAP, FU-B,
H.265 with DONL) and PACI packets give a ``DepacketizeError`` naming them.

An access unit is complete at the packet with the marker bit, or when a packet with a new RTP
timestamp arrives. Its ONVIF replay time is the first one its packets carry, its C/E/D/T flags
those of all its packets. A lost packet
(a jump in sequence numbers) loses the access unit it belongs to: it is dropped whole, never
passed on damaged, and counted with its time so that the clip's manifest can list it.

Parameter sets from the SDP (``sprop-parameter-sets``; ``sprop-vps/sps/pps``) and from the
stream are remembered; a keyframe that comes without them gets the latest ones in front, so every
keyframe can be decoded on its own. Slices are never touched.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import struct
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from edge_agent.nvr.rtp import ReplayExtension, RtpPacket

Codec = Literal["h264", "h265"]
START_CODE = b"\x00\x00\x00\x01"

# H.264 NAL unit types
H264_IDR, H264_SPS, H264_PPS = 5, 7, 8
H264_STAP_A, H264_FU_A = 24, 28
H264_INTERLEAVED = {25: "STAP-B", 26: "MTAP16", 27: "MTAP24", 29: "FU-B"}
# H.265 NAL unit types
H265_VPS, H265_SPS, H265_PPS = 32, 33, 34
H265_AP, H265_FU, H265_PACI = 48, 49, 50
H265_IRAP = range(16, 24)


class DepacketizeError(ValueError):
    """The stream uses a packetization this client does not read."""


@dataclass
class AccessUnit:
    """One frame's NAL units (without start codes) and what the stream said about its time."""

    nal_units: list[bytes]
    rtp_timestamp: int
    replay: ReplayExtension | None
    keyframe: bool = False
    first_sequence: int = 0

    def annex_b(self) -> bytes:
        return b"".join(START_CODE + unit for unit in self.nal_units)

    @property
    def size(self) -> int:
        return sum(len(unit) + 4 for unit in self.nal_units)


@dataclass(frozen=True)
class LostUnit:
    """An access unit lost in transit: its RTP timestamp and, if a packet of it said, its time."""

    rtp_timestamp: int
    replay: ReplayExtension | None
    packets_missing: int


@dataclass
class _Pending:
    timestamp: int
    first_sequence: int
    nal_units: list[bytes] = field(default_factory=list)
    fragment: bytearray | None = None
    replay: ReplayExtension | None = None
    damaged: int = 0  # packets known missing


def _merged(first: ReplayExtension | None, later: ReplayExtension) -> ReplayExtension:
    """An access unit's extension: the time of its first packet that has one, the flags of all
    (a sender marks E and T on the last packet it sends of the unit, D on the first)."""
    if first is None:
        return later
    return dataclasses.replace(
        first,
        clean_point=first.clean_point or later.clean_point,
        end_of_section=first.end_of_section or later.end_of_section,
        discontinuity=first.discontinuity or later.discontinuity,
        terminal=first.terminal or later.terminal,
    )


def nal_type(codec: Codec, unit: bytes) -> int:
    if codec == "h264":
        return unit[0] & 0x1F
    return (unit[0] >> 1) & 0x3F


def parameter_sets_from_sdp(codec: Codec, fmtp: Mapping[str, str]) -> list[bytes]:
    """The parameter sets an SDP's fmtp attribute carries, in decoding order."""
    if codec == "h264":
        names = ["sprop-parameter-sets"]
    else:
        if int(fmtp.get("sprop-max-don-diff", "0") or 0) > 0:
            raise DepacketizeError("H.265 with DONL fields (sprop-max-don-diff > 0)")
        names = ["sprop-vps", "sprop-sps", "sprop-pps"]
    units = []
    for name in names:
        for text in fmtp.get(name, "").split(","):
            if text.strip():
                try:
                    units.append(base64.b64decode(text.strip(), validate=False))
                except (binascii.Error, ValueError) as exc:
                    raise DepacketizeError(f"{name} in the SDP is not base64") from exc
    return [unit for unit in units if unit]


class Depacketizer:
    """Feeds RTP packets in, takes complete access units out (see the module docstring)."""

    def __init__(self, codec: Codec, parameter_sets: list[bytes] | None = None) -> None:
        self.codec = codec
        self.lost_packets = 0
        self.lost: list[LostUnit] = []
        self._pending: _Pending | None = None
        self._next_sequence: int | None = None
        self._parameter_sets: dict[int, bytes] = {}
        for unit in parameter_sets or []:
            self._remember(unit)

    # -- input ----------------------------------------------------------------------------

    def push(self, packet: RtpPacket) -> list[AccessUnit]:
        done: list[AccessUnit] = []
        missing = 0
        if self._next_sequence is not None and packet.sequence != self._next_sequence:
            missing = (packet.sequence - self._next_sequence) & 0xFFFF
            if missing > 0x8000:  # an old or repeated packet: ignore it
                return done
            self.lost_packets += missing
        self._next_sequence = (packet.sequence + 1) & 0xFFFF
        pending = self._pending
        if pending is not None and pending.timestamp != packet.timestamp:
            if missing:  # the missing packets may have held this unit's end
                pending.damaged += missing
                missing = 0
            done.extend(self._finish())
        if self._pending is None:
            self._pending = _Pending(packet.timestamp, packet.sequence)
        pending = self._pending
        pending.damaged += missing
        if missing and pending.fragment is not None:
            pending.fragment = None
        if packet.replay is not None:
            pending.replay = _merged(pending.replay, packet.replay)
        self._payload(pending, packet.payload)
        if packet.marker:
            done.extend(self._finish())
        return done

    def flush(self) -> list[AccessUnit]:
        return self._finish()

    # -- payload formats --------------------------------------------------------------------

    def _payload(self, pending: _Pending, payload: bytes) -> None:
        if not payload:
            return
        if self.codec == "h264":
            self._h264(pending, payload)
        else:
            self._h265(pending, payload)

    def _h264(self, pending: _Pending, payload: bytes) -> None:
        kind = payload[0] & 0x1F
        if 1 <= kind <= 23:
            pending.nal_units.append(payload)
        elif kind == H264_STAP_A:
            self._aggregate(pending, payload[1:])
        elif kind == H264_FU_A:
            if len(payload) < 3:
                pending.damaged += 1
                return
            header = payload[1]
            self._fragment(
                pending, bytes([(payload[0] & 0xE0) | (header & 0x1F)]), header, payload[2:]
            )
        elif kind in H264_INTERLEAVED:
            raise DepacketizeError(
                f"H.264 {H264_INTERLEAVED[kind]} packets (interleaved mode) are not supported"
            )
        # Types 0, 30 and 31 are reserved: ignored, as RFC 6184 asks.

    def _h265(self, pending: _Pending, payload: bytes) -> None:
        if len(payload) < 3:
            pending.damaged += 1
            return
        kind = (payload[0] >> 1) & 0x3F
        if kind < H265_AP:
            pending.nal_units.append(payload)
        elif kind == H265_AP:
            self._aggregate(pending, payload[2:])
        elif kind == H265_FU:
            header = payload[2]
            first = bytes([(payload[0] & 0x81) | ((header & 0x3F) << 1), payload[1]])
            self._fragment(pending, first, header, payload[3:])
        elif kind == H265_PACI:
            raise DepacketizeError("H.265 PACI packets are not supported")

    def _aggregate(self, pending: _Pending, body: bytes) -> None:
        position = 0
        while position + 2 <= len(body):
            (size,) = struct.unpack_from("!H", body, position)
            position += 2
            if size == 0 or position + size > len(body):
                pending.damaged += 1
                return
            pending.nal_units.append(body[position : position + size])
            position += size

    def _fragment(self, pending: _Pending, nal_header: bytes, header: int, body: bytes) -> None:
        start, end = bool(header & 0x80), bool(header & 0x40)
        if start:
            if pending.fragment is not None:
                pending.damaged += 1  # a fragment that never ended
            pending.fragment = bytearray(nal_header)
        elif pending.fragment is None:
            pending.damaged += 1  # its start was lost
            return
        pending.fragment += body
        if end:
            pending.nal_units.append(bytes(pending.fragment))
            pending.fragment = None

    # -- output -----------------------------------------------------------------------------

    def _finish(self) -> list[AccessUnit]:
        pending, self._pending = self._pending, None
        if pending is None:
            return []
        if pending.fragment is not None:
            pending.damaged += 1
        if pending.damaged or not pending.nal_units:
            if pending.damaged:
                self.lost.append(LostUnit(pending.timestamp, pending.replay, pending.damaged))
            return []
        units = pending.nal_units
        for unit in units:
            self._remember(unit)
        keyframe = self._is_keyframe(units)
        if keyframe:
            units = self._with_parameter_sets(units)
        return [
            AccessUnit(units, pending.timestamp, pending.replay, keyframe, pending.first_sequence)
        ]

    def _is_keyframe(self, units: list[bytes]) -> bool:
        if self.codec == "h264":
            return any(nal_type("h264", unit) == H264_IDR for unit in units)
        return any(nal_type("h265", unit) in H265_IRAP for unit in units)

    def _parameter_set_types(self) -> tuple[int, ...]:
        if self.codec == "h264":
            return (H264_SPS, H264_PPS)
        return (H265_VPS, H265_SPS, H265_PPS)

    def _remember(self, unit: bytes) -> None:
        if unit:
            kind = nal_type(self.codec, unit)
            if kind in self._parameter_set_types():
                self._parameter_sets[kind] = unit

    def _with_parameter_sets(self, units: list[bytes]) -> list[bytes]:
        present = {nal_type(self.codec, unit) for unit in units}
        missing = [
            self._parameter_sets[kind]
            for kind in self._parameter_set_types()
            if kind not in present and kind in self._parameter_sets
        ]
        return missing + units if missing else units

    @property
    def parameter_sets(self) -> list[bytes]:
        return [
            self._parameter_sets[kind]
            for kind in self._parameter_set_types()
            if kind in self._parameter_sets
        ]
