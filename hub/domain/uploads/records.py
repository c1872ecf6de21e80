"""What the hub keeps of uploads from outside: a tus upload in progress, and the outside item
it becomes once whole, checked and stored ("not from a site agent")."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Final

OUTSIDE_SOURCE: Final = "not from a site agent"
OUTSIDE_PREFIX: Final = "OUT-"


class TusState(StrEnum):
    RECEIVING = "receiving"
    STORED = "stored"  # whole, checked, an outside item
    REFUSED = "refused"  # not a video or picture, or unreadable: bytes deleted
    TERMINATED = "terminated"  # the uploader cancelled it (tus termination)
    DISCARDED = "discarded"  # never finished before its link ended: bytes deleted


def new_upload_id() -> str:
    return secrets.token_hex(16)


def new_outside_id() -> str:
    return OUTSIDE_PREFIX + secrets.token_hex(8)


@dataclass(frozen=True)
class TusUpload:
    id: str
    link_id: str
    request: str
    filename: str
    declared_type: str  # what the uploader's browser said; never trusted
    statement: dict[str, Any]
    length: int
    offset: int
    state: TusState
    created_at: datetime
    updated_at: datetime
    uploader_ip: str
    error: str | None = None
    outside_id: str | None = None


@dataclass(frozen=True)
class OutsideItem:
    id: str
    request: str
    link_id: str
    upload_id: str
    filename: str
    media_type: str
    kind: str  # "video" | "picture"
    size: int
    sha256: str
    store_key: str
    statement: dict[str, Any]
    uploaded_at: datetime
    uploader_ip: str
    receipt: bytes  # canonical JSON the hub signed
    receipt_signature: str  # base64 Ed25519 by the hub's key
    source: str = OUTSIDE_SOURCE
    deleted_at: datetime | None = None  # its bytes removed (retention or a supervisor)
