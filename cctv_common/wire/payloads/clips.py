"""Clip upload: the offer (agent -> hub on ``sites/{site}/clips/{clip}/manifest``) and the hub's
ack (hub -> agent on ``.../ack``, hub-signed). Chunks themselves are raw bytes, not payloads."""

from __future__ import annotations

import math
from typing import ClassVar, Final, Literal, Self

from pydantic import Field, field_validator, model_validator

from cctv_common.evidence.manifest import MAX_MANIFEST_BYTES
from cctv_common.wire.ids import ClipId, JobId
from cctv_common.wire.payloads.base import (
    ChunkRanges,
    Payload,
    Sha256,
    ed25519_signature,
)
from cctv_common.wire.topics import MAX_CHUNK_INDEX

# A clip offer carries the whole signed manifest (up to MAX_MANIFEST_BYTES: a 24 h clip lists
# thousands of source segments) plus one SHA-256 per chunk, so it gets a larger limit. It is still
# far below the broker's max_packet_size (16 MiB).
MAX_CLIP_OFFER_BYTES: Final = 4 * 1024 * 1024
MIN_CHUNK_SIZE: Final = 64 * 1024
MAX_CHUNK_SIZE: Final = 8 * 1024 * 1024
MAX_CLIP_BYTES: Final = MAX_CHUNK_SIZE * (MAX_CHUNK_INDEX + 1)


class ClipOffer(Payload):
    """The manifest message: the signed manifest and how the clip is cut into chunks."""

    MAX_BYTES: ClassVar[int] = MAX_CLIP_OFFER_BYTES

    clip_id: ClipId = Field(description="The clip being offered")
    job_id: JobId = Field(description="The job it answers")
    manifest: str = Field(
        min_length=2,
        max_length=MAX_MANIFEST_BYTES,
        description="Canonical manifest JSON exactly as signed, decoded as UTF-8",
    )
    signature: str = Field(
        min_length=1, max_length=200, description="Base64 Ed25519 signature over the manifest"
    )
    key_id: str = Field(
        pattern=r"^[0-9a-f]{16}$", description="Agent key id: 16 hex of SHA-256 of the public key"
    )
    clip_bytes: int = Field(ge=1, le=MAX_CLIP_BYTES, description="Size of the clip file")
    clip_sha256: Sha256 = Field(description="SHA-256 of the whole clip file")
    chunk_size: int = Field(
        ge=MIN_CHUNK_SIZE, le=MAX_CHUNK_SIZE, description="Bytes per chunk (the last may be less)"
    )
    chunk_count: int = Field(
        ge=1, le=MAX_CHUNK_INDEX + 1, description="ceil(clip_bytes / chunk_size)"
    )
    chunk_sha256: tuple[Sha256, ...] = Field(description="SHA-256 of each chunk, in order")

    @field_validator("signature")
    @classmethod
    def _signature(cls, value: str) -> str:
        return ed25519_signature(value)

    @model_validator(mode="after")
    def _chunks(self) -> Self:
        expected = math.ceil(self.clip_bytes / self.chunk_size)
        if self.chunk_count != expected:
            raise ValueError(
                f"chunk_count {self.chunk_count} does not match ceil(clip_bytes / chunk_size)"
                f" = {expected}"
            )
        if len(self.chunk_sha256) != self.chunk_count:
            raise ValueError(
                f"chunk_sha256 has {len(self.chunk_sha256)} entries, chunk_count is"
                f" {self.chunk_count}"
            )
        return self

    def manifest_bytes(self) -> bytes:
        """The exact bytes that were signed."""
        return self.manifest.encode("utf-8")

    def chunk_length(self, index: int) -> int:
        """How many bytes chunk ``index`` must have (the last one holds the remainder)."""
        if not 0 <= index < self.chunk_count:
            raise IndexError(f"chunk {index} is not within 0..{self.chunk_count - 1}")
        return min(self.chunk_size, self.clip_bytes - index * self.chunk_size)


class ClipAck(Payload):
    """The hub's answer to a clip offer; it travels signed by the hub (``HubSigned``)."""

    clip_id: ClipId = Field(description="The clip this is about")
    offer_sha256: Sha256 = Field(
        description="SHA-256 of the offer payload this answers: an agent acts only on answers"
        " to an offer it sent"
    )
    state: Literal["receiving", "stored", "rejected"] = Field(description="What the hub did")
    held: ChunkRanges = Field(default=(), description="Chunk ranges the hub holds and verified")
    missing: ChunkRanges | None = Field(default=None, description="Chunk ranges the hub wants next")
    reason: str | None = Field(default=None, max_length=500, description="Why, when rejected")
    evidence_sha256: Sha256 | None = Field(
        default=None, description="SHA-256 of the stored evidence, when stored"
    )

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.state == "rejected" and not self.reason:
            raise ValueError("a rejected clip must say why (reason)")
        if self.state == "stored" and self.evidence_sha256 is None:
            raise ValueError("a stored clip must carry evidence_sha256")
        return self
