"""The little the recorder reads of an H.264/H.265 access unit: where its pictures start. Pure.

RTSP packets from FFmpeg carry Annex-B NAL units (start codes). Two packets with the same
decode timestamp are either two parts of one picture (a camera that sends a keyframe as several
slices, each after its own parameter sets) or two pictures whose timestamps are stuck. The first
slice of a picture says so in its first bit: ``first_mb_in_slice`` is 0 (H.264, coded ue(v), so
the bit is 1) or ``first_slice_segment_in_pic_flag`` is 1 (H.265). Nothing is decoded.

``slice_payloads`` gives the bytes of a packet's slices (no parameter sets or SEI, which a server
may repeat or leave out per client), which the tests and the benchmark use to find a camera's
frames in recorded segments.
"""

from __future__ import annotations

from collections.abc import Iterator

H264_SLICE_TYPES = frozenset(range(1, 6))  # non-IDR (1) ... IDR (5)
HEVC_SLICE_TYPES = frozenset(range(0, 32))  # every VCL NAL unit type


def nal_units(data: bytes) -> Iterator[bytes]:
    """The NAL units of an Annex-B byte string, without their start codes."""
    start = data.find(b"\x00\x00\x01")
    while start >= 0:
        begin = start + 3
        end = data.find(b"\x00\x00\x01", begin)
        unit = data[begin : len(data) if end < 0 else end]
        if end >= 0:
            # A four-byte start code leaves its leading zero at the end of the unit before.
            unit = unit.rstrip(b"\x00")
        if unit:
            yield unit
        start = end


def _is_slice(unit: bytes, codec: str) -> bool:
    if codec == "h264":
        return (unit[0] & 0x1F) in H264_SLICE_TYPES
    return len(unit) > 2 and ((unit[0] >> 1) & 0x3F) in HEVC_SLICE_TYPES


def starts_picture(data: bytes, codec: str) -> bool | None:
    """Whether the packet's first slice begins a new picture; None when it cannot be told.

    None for codecs other than H.264/H.265 and for packets without a slice (e.g. only
    parameter sets).
    """
    if codec not in ("h264", "hevc"):
        return None
    header = 1 if codec == "h264" else 2
    for unit in nal_units(data):
        if _is_slice(unit, codec) and len(unit) > header:
            return bool(unit[header] & 0x80)
    return None


def slice_payloads(data: bytes, codec: str = "h264") -> bytes:
    """The packet's slice NAL units joined: the picture itself, without in-band headers."""
    return b"".join(unit for unit in nal_units(data) if _is_slice(unit, codec))
