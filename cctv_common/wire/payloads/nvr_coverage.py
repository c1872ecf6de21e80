"""What an NVR holds of a camera, as the agent reports it in its status (issue 13, phase 2).

Each camera's ``CameraStatus.nvr`` lists, per NVR channel mapped to the camera, the spans the
NVR's recording search found. Bounded: at most ``MAX_NVR_SPANS`` spans per channel (the agent
merges touching spans first and keeps the newest; ``truncated`` says older ones were left out)
and ``MAX_NVR_CHANNELS`` channels per camera. All fields are optional to older agents: a status
without ``nvr`` parses as before.
"""

from __future__ import annotations

from typing import Final, Literal, Self

from pydantic import Field, model_validator

from cctv_common.wire.ids import CameraId
from cctv_common.wire.payloads.base import PayloadPart, UtcTime

MAX_NVR_SPANS: Final = 32
MAX_NVR_CHANNELS: Final = 8

NvrMethod = Literal["onvif-replay", "hikvision-playback", "dahua-playback"]


class NvrSpan(PayloadPart):
    start: UtcTime = Field(description="First recorded moment of the span (NVR clock, UTC)")
    end: UtcTime = Field(description="Last recorded moment of the span (NVR clock, UTC)")

    @model_validator(mode="after")
    def _order(self) -> Self:
        if self.end < self.start:
            raise ValueError("an NVR span ends before it starts")
        return self


class NvrChannelCoverage(PayloadPart):
    nvr_id: CameraId = Field(description="The NVR's id in the agent's config")
    nvr_name: str = Field(default="", max_length=200, description="The NVR's human name")
    channel: int = Field(ge=1, le=1024, description="The NVR's channel number")
    method: NvrMethod = Field(description="How a clip is retrieved from this NVR")
    spans: tuple[NvrSpan, ...] = Field(
        default=(), max_length=MAX_NVR_SPANS, description="Recorded spans, oldest first"
    )
    truncated: bool = Field(
        default=False, description="True: older spans were left out to keep the status small"
    )
    searched_at: UtcTime | None = Field(default=None, description="When the search answered")
    error: str | None = Field(
        default=None, max_length=300, description="Why the last search failed, if it did"
    )

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        for before, after in zip(self.spans, self.spans[1:], strict=False):
            if after.start < before.start:
                raise ValueError("NVR spans are not in time order")
        return self
