"""The hub's records in domain terms: what storage returns and workflow code reads.

Plain frozen dataclasses with no I/O; ``hub.storage`` maps them to and from its rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

from cctv_common.wire.chunk_ranges import Range
from cctv_common.wire.job_state import JobState, is_final
from cctv_common.wire.payloads import FootageSource
from hub.domain.acl import Role


class NotFound(LookupError):
    """No row with this id."""


@dataclass(frozen=True)
class SiteRecord:
    id: str
    name: str
    public_key_pem: str
    key_id: str
    state: str
    status: dict[str, Any] | None
    last_seen: datetime | None
    registered_at: datetime
    registered_by: str


@dataclass(frozen=True)
class CameraRecord:
    site_id: str
    camera_id: str
    state: str
    status: dict[str, Any]
    buffer_start: datetime | None
    buffer_end: datetime | None
    codec: str | None
    width: int | None
    height: int | None
    updated_at: datetime


@dataclass(frozen=True)
class ClipJob:
    id: str
    site_id: str
    camera_id: str
    start: datetime
    end: datetime
    reason: str
    priority: int
    requested_by: str
    state: JobState
    percent: int
    error: str | None
    clip_id: str | None
    created_at: datetime
    updated_at: datetime
    # Where the agent takes the footage from; "auto" (the agent's choice) for jobs made before
    # it could be asked.
    source: FootageSource = "auto"

    @property
    def is_terminal(self) -> bool:
        return is_final(self.state)


@dataclass(frozen=True)
class UploadRecord:
    clip_id: str
    site_id: str
    job_id: str
    offer: str  # the ClipOffer payload as received (JSON text)
    clip_sha256: str
    clip_bytes: int
    chunk_count: int
    chunk_size: int
    held: tuple[Range, ...]
    state: str
    reason: str | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class EvidenceItem:
    clip_id: str
    sha256: str
    store_key: str
    site_id: str
    camera_id: str
    job_id: str
    requested_by: str
    manifest: str  # the exact signed bytes, decoded as UTF-8
    signature: str
    key_id: str
    bytes: int
    delivered_start: datetime
    delivered_end: datetime
    codec: str
    width: int
    height: int
    stored_at: datetime
    category: str = "unclassified"
    retention_until: datetime | None = None
    legal_hold: bool = False
    deleted_at: datetime | None = None  # a deleted item keeps its row; its bytes are gone
    deleted_by: str | None = None


@dataclass(frozen=True)
class UserRecord:
    username: str
    role: Role
    password_hash: str
    source: str
    disabled: bool
    display_name: str = ""
    email: str = ""
    force: str = ""
    collar_number: str = ""


@dataclass(frozen=True)
class CameraEventRecord:
    site_id: str
    event_id: str
    camera_id: str
    at: datetime
    kind: str
    active: bool
    topic: str
    data: dict[str, str]
    received_at: datetime


class StoredClipKey(NamedTuple):
    """What identifies a stored clip's bytes and job (a delivery is worked out once per key)."""

    clip_id: str
    sha256: str
    job_id: str


@dataclass(frozen=True)
class DeliveryFacts:
    """The parts of a stored clip's signed manifest its delivery is worked out from (JSON)."""

    clip_id: str
    requested: Any
    delivered: Any
    gaps: Any
    frames: Any
    nvr: Any = None  # the manifest's ``nvr`` part: where a clip retrieved from an NVR came from


@dataclass(frozen=True)
class EvidenceCheck:
    store_key: str
    checked_at: datetime
    ok: bool
    problem: str | None
    checked_by: str

    def fresh(self, now: datetime, max_age_seconds: float) -> bool:
        """A passed check recent enough to serve on (a failed one is never fresh)."""
        return self.ok and (now - self.checked_at).total_seconds() <= max_age_seconds


@dataclass(frozen=True)
class StoredObject:
    """One object in the store, with the items (clips) that are its bytes."""

    store_key: str
    sha256: str
    bytes: int
    clip_ids: tuple[str, ...]
    checked_at: datetime | None


@dataclass(frozen=True)
class ThrottleEntry:
    kind: str  # "address" or "user"
    key: str
    failures: int
    last_failure: datetime
    next_allowed: datetime
