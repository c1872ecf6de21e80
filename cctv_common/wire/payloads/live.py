"""Live view signalling, WebRTC over MQTT (``sites/{site}/live/{session}/{kind}``)."""

from __future__ import annotations

from typing import Annotated, Final, Self

from pydantic import Field, model_validator

from cctv_common.wire.ids import CameraId, SessionId
from cctv_common.wire.payloads.base import Payload, PayloadPart

MAX_SDP_CHARS: Final = 64 * 1024


class IceServer(PayloadPart):
    urls: tuple[Annotated[str, Field(pattern=r"^(stun|turn|turns):", max_length=500)], ...] = Field(
        min_length=1, max_length=10, description="stun:, turn: or turns: URLs"
    )
    username: str | None = Field(default=None, max_length=200, description="TURN username")
    # repr=False: a TURN credential is a secret and must not show up in logs.
    credential: str | None = Field(
        default=None, max_length=500, repr=False, description="TURN credential"
    )


class LiveOffer(Payload):
    session_id: SessionId = Field(description="The viewing session")
    camera_id: CameraId = Field(description="Camera to show")
    sdp: str = Field(min_length=1, max_length=MAX_SDP_CHARS, description="SDP offer")
    ice_servers: tuple[IceServer, ...] = Field(
        default=(), max_length=10, description="STUN/TURN servers for the agent"
    )


class LiveAnswer(Payload):
    session_id: SessionId = Field(description="The viewing session")
    sdp: str | None = Field(
        default=None, min_length=1, max_length=MAX_SDP_CHARS, description="SDP answer"
    )
    error: str | None = Field(
        default=None, max_length=500, description="Why there is no answer, instead of sdp"
    )

    @model_validator(mode="after")
    def _sdp_or_error(self) -> Self:
        if (self.sdp is None) == (self.error is None):
            raise ValueError("a live answer carries either sdp or error, not both or neither")
        return self


class LiveCandidate(Payload):
    session_id: SessionId = Field(description="The viewing session")
    candidate: str = Field(
        max_length=2000, description="ICE candidate line; empty means end of candidates"
    )
    sdp_mid: str | None = Field(default=None, max_length=64, description="Media stream id")
    sdp_mline_index: int | None = Field(
        default=None, ge=0, le=1000, description="Index of the m= line"
    )


class LiveClose(Payload):
    session_id: SessionId = Field(description="The viewing session")
    reason: str | None = Field(default=None, max_length=500, description="Why it closed")
