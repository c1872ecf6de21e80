"""What the hub tells a site (jobs, holds, clip acks) travels signed by the hub's key; see
``cctv_common.wire.hub_signing`` for what is signed and how it is checked."""

from __future__ import annotations

from typing import ClassVar, Final

from pydantic import Field, field_validator

from cctv_common.wire.payloads.base import MAX_PAYLOAD_BYTES, Payload, ed25519_signature

# A hub-signed message carries its body as a JSON string, in which every quote is escaped.
MAX_HUB_SIGNED_BYTES: Final = 2 * MAX_PAYLOAD_BYTES + 1024


class HubSigned(Payload):
    """A payload signed with the hub's Ed25519 key and bound to the topic it is published on."""

    MAX_BYTES: ClassVar[int] = MAX_HUB_SIGNED_BYTES

    body: str = Field(
        min_length=2,
        max_length=MAX_PAYLOAD_BYTES,
        description="The signed payload's JSON (a Job, ClipAck, ...), exactly as signed",
    )
    key_id: str = Field(
        pattern=r"^[0-9a-f]{16}$", description="Hub key id: 16 hex of SHA-256 of the public key"
    )
    signature: str = Field(
        min_length=1,
        max_length=200,
        description="Base64 Ed25519 signature over the topic and the body (see hub_signing)",
    )

    @field_validator("signature")
    @classmethod
    def _signature(cls, value: str) -> str:
        return ed25519_signature(value)
