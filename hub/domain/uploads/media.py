"""What an uploaded file is, by its first bytes (never by its name): the video containers and
picture formats the hub takes. A video is then opened with PyAV by the service to be sure.

``sniff`` looks at up to ``HEAD_BYTES`` from the start: ISO BMFF (``ftyp``: MP4, MOV, HEIC),
Matroska (EBML header with doc type ``matroska``), AVI (``RIFF....AVI ``), MPEG-TS (sync byte
0x47 every 188 bytes), JPEG and PNG. Anything else is ``None``: refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Final

HEAD_BYTES: Final = 4096
TS_PACKET: Final = 188


class MediaKind(StrEnum):
    VIDEO = "video"
    PICTURE = "picture"


@dataclass(frozen=True)
class MediaType:
    mime: str
    kind: MediaKind
    label: str  # "MP4 video"


MP4: Final = MediaType("video/mp4", MediaKind.VIDEO, "MP4 video")
MOV: Final = MediaType("video/quicktime", MediaKind.VIDEO, "QuickTime (MOV) video")
MKV: Final = MediaType("video/x-matroska", MediaKind.VIDEO, "Matroska (MKV) video")
AVI: Final = MediaType("video/x-msvideo", MediaKind.VIDEO, "AVI video")
TS: Final = MediaType("video/mp2t", MediaKind.VIDEO, "MPEG-TS video")
JPEG: Final = MediaType("image/jpeg", MediaKind.PICTURE, "JPEG picture")
PNG: Final = MediaType("image/png", MediaKind.PICTURE, "PNG picture")
HEIC: Final = MediaType("image/heic", MediaKind.PICTURE, "HEIC picture")
ALL: Final = (MP4, MOV, MKV, AVI, TS, JPEG, PNG, HEIC)
ACCEPTED: Final = "MP4, MOV, MKV, AVI or MPEG-TS video, or JPEG, PNG or HEIC pictures"

_HEIC_BRANDS: Final = frozenset({b"heic", b"heix", b"heim", b"heis", b"mif1", b"msf1", b"hevc"})
_QT_BRANDS: Final = frozenset({b"qt  "})


def by_mime(mime: str) -> MediaType | None:
    return next((media for media in ALL if media.mime == mime), None)


def _ftyp(head: bytes) -> MediaType | None:
    if len(head) < 12 or head[4:8] != b"ftyp":
        return None
    size = int.from_bytes(head[0:4], "big")
    major = head[8:12]
    end = min(len(head), size if 16 <= size <= 4096 else 16)
    brands = {major} | {head[i : i + 4] for i in range(16, end - 3, 4)}
    if major in _HEIC_BRANDS or (brands & _HEIC_BRANDS and not brands & {b"isom", b"mp41"}):
        return HEIC
    if major in _QT_BRANDS:
        return MOV
    return MP4


def _matroska(head: bytes) -> MediaType | None:
    if not head.startswith(b"\x1a\x45\xdf\xa3"):
        return None
    # The EBML header names its doc type: "matroska" (WebM's "webm" is not on the list).
    return MKV if b"matroska" in head[:64] else None


def _transport_stream(head: bytes) -> bool:
    packets = len(head) // TS_PACKET
    if packets < 2:
        return False
    return all(head[i * TS_PACKET] == 0x47 for i in range(min(packets, 8)))


def sniff(head: bytes) -> MediaType | None:
    """The media type of a file starting with ``head`` (at least its first 4 KiB, or the whole
    file when smaller), or None when it is none of those the hub takes."""
    if head.startswith(b"\xff\xd8\xff"):
        return JPEG
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return PNG
    if head[0:4] == b"RIFF" and head[8:12] == b"AVI ":
        return AVI
    found = _ftyp(head) or _matroska(head)
    if found is not None:
        return found
    if _transport_stream(head):
        return TS
    return None
