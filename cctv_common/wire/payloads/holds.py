"""Legal holds (hub -> agent on ``sites/{site}/holds/{hold}``, retained, hub-signed) and the
agent's confirmation of what it has pinned (``SiteStatus.holds``).

A hold tells the agent to keep a camera's segments over a window past its ring buffer's
overwrite, so footage asked for in a footage request survives while the request is handled. The
same message with ``lifted`` true lets the agent forget the hold again. Holds are idempotent on
their id: a replayed genuine order changes nothing.
"""

from __future__ import annotations

from typing import Final, Self

from pydantic import Field, model_validator

from cctv_common.clock import iso_utc
from cctv_common.wire.ids import CameraId
from cctv_common.wire.payloads.base import Payload, PayloadPart, UtcTime

MAX_HELD_WINDOWS: Final = 1024
HOLD_ID_FIELD: Final = Field(
    pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$",
    min_length=1,
    max_length=64,
    description="The hub's id for this hold",
)


class HoldOrder(Payload):
    hold_id: str = HOLD_ID_FIELD
    camera_id: CameraId = Field(description="Camera whose footage is held")
    window_start: UtcTime = Field(description="Start of the held window (UTC)")
    window_end: UtcTime = Field(description="End of the held window (UTC), after the start")
    reason_ref: str = Field(
        max_length=100, description="What the hold is for, e.g. the footage request R-2026-0001"
    )
    placed_at: UtcTime = Field(description="When the hub placed the hold")
    lifted: bool = Field(default=False, description="True: the hold is lifted; unpin")

    @model_validator(mode="after")
    def _window(self) -> Self:
        if self.window_end <= self.window_start:
            raise ValueError(
                f"hold window end {iso_utc(self.window_end)} is not after start "
                f"{iso_utc(self.window_start)}"
            )
        return self


class HeldWindow(PayloadPart):
    """A hold the agent has pinned, reported in its status so the hub knows it is in force."""

    hold_id: str = HOLD_ID_FIELD
    camera_id: CameraId = Field(description="Camera whose footage is held")
    window_start: UtcTime = Field(description="Start of the held window (UTC)")
    window_end: UtcTime = Field(description="End of the held window (UTC)")
