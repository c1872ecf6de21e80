"""Snapshots for the hub's camera picker (hub -> agent request, agent -> hub reply, on
``sites/{site}/snapshots/{request}/{request,reply}``)."""

from __future__ import annotations

import base64
import binascii
from datetime import datetime
from typing import Annotated, ClassVar, Final, Literal, Self

from pydantic import AfterValidator, Field, field_validator, model_validator

from cctv_common.wire.ids import ID_PATTERN, MAX_ID_LENGTH, CameraId, validate_id
from cctv_common.wire.payloads.base import Payload, UtcTime

# A snapshot reply carries one JPEG, base64-encoded (4/3 larger): 8 MiB holds a JPEG of just under
# 6 MiB (1 KiB is left for the other fields), more than a 4K camera's snapshot at high quality,
# and is half the broker's max_packet_size.
MAX_SNAPSHOT_REPLY_BYTES: Final = 8 * 1024 * 1024
MAX_SNAPSHOT_JPEG_BYTES: Final = 6 * 1024 * 1024 - 1024
JPEG_MAGIC: Final = b"\xff\xd8"


def _request(value: str) -> str:
    return validate_id("snapshot request", value)


SnapshotSource = Literal["onvif", "rtsp-keyframe"]
RequestId = Annotated[
    str,
    AfterValidator(_request),
    Field(
        description=f"Snapshot request id: letters, digits, _ and -, at most {MAX_ID_LENGTH}",
        json_schema_extra={"pattern": ID_PATTERN, "minLength": 1, "maxLength": MAX_ID_LENGTH},
    ),
]


class SnapshotRequest(Payload):
    request_id: RequestId = Field(description="The hub's id for this request; the reply repeats it")
    camera_id: CameraId = Field(description="Camera whose current picture is wanted")


class SnapshotReply(Payload):
    """A camera's current picture, or why there is none. A preview for choosing cameras, never
    evidence: it is not hashed into any manifest, and one taken from an RTSP keyframe is
    re-encoded."""

    MAX_BYTES: ClassVar[int] = MAX_SNAPSHOT_REPLY_BYTES

    request_id: RequestId = Field(description="The request this answers")
    camera_id: CameraId = Field(description="The camera it shows")
    jpeg_b64: str | None = Field(
        default=None,
        min_length=4,
        max_length=MAX_SNAPSHOT_REPLY_BYTES,
        description="The JPEG image, base64 (standard alphabet, padded); absent with error",
    )
    source: SnapshotSource | None = Field(
        default=None,
        description="onvif: the camera's own snapshot (GetSnapshotUri); rtsp-keyframe: one "
        "keyframe of its stream, decoded and encoded as JPEG by the agent",
    )
    taken_at: UtcTime | None = Field(default=None, description="When the agent got the image")
    error: str | None = Field(
        default=None, max_length=1000, description="Why there is no image, instead of jpeg_b64"
    )

    @field_validator("jpeg_b64")
    @classmethod
    def _jpeg(cls, value: str | None) -> str | None:
        if value is None:
            return value
        try:
            raw = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise ValueError("jpeg_b64 is not base64") from exc
        if not raw.startswith(JPEG_MAGIC):
            raise ValueError("jpeg_b64 is not a JPEG image")
        if len(raw) > MAX_SNAPSHOT_JPEG_BYTES:
            raise ValueError(f"the JPEG is {len(raw)} bytes, over {MAX_SNAPSHOT_JPEG_BYTES}")
        return value

    @model_validator(mode="after")
    def _image_or_error(self) -> Self:
        if (self.jpeg_b64 is None) == (self.error is None):
            raise ValueError(
                "a snapshot reply carries either jpeg_b64 or error, not both or neither"
            )
        if self.jpeg_b64 is not None and (self.source is None or self.taken_at is None):
            raise ValueError("a snapshot reply with an image must say its source and taken_at")
        return self

    @classmethod
    def with_image(
        cls,
        request_id: str,
        camera_id: str,
        jpeg: bytes,
        source: SnapshotSource,
        taken_at: datetime,
    ) -> SnapshotReply:
        """A reply carrying an image (validated like one parsed from the wire)."""
        return cls.model_validate(
            {
                "request_id": request_id,
                "camera_id": camera_id,
                "jpeg_b64": base64.b64encode(jpeg).decode("ascii"),
                "source": source,
                "taken_at": taken_at,
            }
        )

    def jpeg(self) -> bytes | None:
        """The image's bytes (None for an error reply)."""
        return None if self.jpeg_b64 is None else base64.b64decode(self.jpeg_b64)
