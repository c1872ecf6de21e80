"""The rules of tus 1.0.0 (https://tus.io/protocols/resumable-upload) as the hub serves it: core,
creation, termination and expiration (no deferred length, no concatenation, no checksum).

Headers in, decisions out: the route turns ``UploadRefused`` into the status it names.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from typing import Final

from hub.domain.uploads.links import UploadRefused

TUS_VERSION: Final = "1.0.0"
TUS_EXTENSIONS: Final = "creation,termination,expiration"
OFFSET_CONTENT_TYPE: Final = "application/offset+octet-stream"
MAX_METADATA: Final = 16 * 1024
UPLOAD_ID_PATTERN: Final = re.compile(r"[0-9a-f]{32}")
_KEY: Final = re.compile(r"[A-Za-z0-9_.-]{1,64}")
_NUMBER: Final = re.compile(r"[0-9]{1,19}")


def check_version(header: str | None) -> None:
    """Every request but OPTIONS names the version (412 otherwise)."""
    if header != TUS_VERSION:
        raise UploadRefused(412, f"Tus-Resumable {TUS_VERSION} is required")


def parse_length(header: str | None, name: str) -> int:
    if header is None or _NUMBER.fullmatch(header.strip()) is None:
        raise UploadRefused(400, f"{name} must be a non-negative whole number")
    return int(header.strip())


def parse_metadata(header: str | None) -> dict[str, bytes]:
    """``Upload-Metadata: key base64,key2 base64``: keys unique, values base64 (may be empty)."""
    if not header:
        return {}
    if len(header) > MAX_METADATA:
        raise UploadRefused(400, "Upload-Metadata is too long")
    out: dict[str, bytes] = {}
    for pair in header.split(","):
        parts = pair.strip().split(" ")
        if len(parts) > 2 or _KEY.fullmatch(parts[0]) is None:
            raise UploadRefused(400, "Upload-Metadata is malformed")
        if parts[0] in out:
            raise UploadRefused(400, f"Upload-Metadata gives {parts[0]!r} twice")
        try:
            out[parts[0]] = base64.b64decode(parts[1], validate=True) if len(parts) == 2 else b""
        except (binascii.Error, ValueError) as exc:
            raise UploadRefused(400, f"Upload-Metadata {parts[0]!r} is not base64") from exc
    return out


_SAFE_NAME: Final = re.compile(r"[^\w .()+-]", re.UNICODE)


def clean_filename(raw: bytes) -> str:
    """The name the uploader's device gave, for people to read: never a path (the hub stores
    bytes under their SHA-256), so separators and control characters are replaced."""
    name = raw.decode("utf-8", errors="replace").replace("\\", "/").rsplit("/", 1)[-1]
    name = _SAFE_NAME.sub("_", name).strip(" .")
    return name[:200] or "unnamed"


@dataclass(frozen=True)
class PatchCheck:
    offset: int  # where the bytes go


def check_patch(
    *, content_type: str | None, offset_header: str | None, offset: int, length: int
) -> PatchCheck:
    """A PATCH may only continue at the server's offset, with the tus content type."""
    if (content_type or "").split(";")[0].strip().lower() != OFFSET_CONTENT_TYPE:
        raise UploadRefused(415, f"Content-Type must be {OFFSET_CONTENT_TYPE}")
    claimed = parse_length(offset_header, "Upload-Offset")
    if claimed != offset:
        raise UploadRefused(409, f"Upload-Offset {claimed} is not the upload's offset {offset}")
    if offset >= length:
        raise UploadRefused(409, "the upload is already complete")
    return PatchCheck(offset)


def check_content_length(header: str | None, offset: int, length: int) -> None:
    """A body that would run past Upload-Length is refused before it is read (413)."""
    if header is None:
        return
    declared = parse_length(header, "Content-Length")
    if offset + declared > length:
        raise UploadRefused(
            413, f"{declared} bytes at offset {offset} would pass the upload's length {length}"
        )
