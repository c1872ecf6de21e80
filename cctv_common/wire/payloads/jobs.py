"""Jobs (hub -> agent on ``sites/{site}/jobs/{job}``, retained, hub-signed) and their progress
(agent -> hub on ``.../progress``)."""

from __future__ import annotations

from datetime import timedelta
from typing import Final, Literal, Self

from pydantic import Field, field_validator, model_validator

from cctv_common.clock import iso_utc
from cctv_common.wire.ids import CameraId, ClipId, JobId
from cctv_common.wire.job_state import AGENT_STATES, JobState
from cctv_common.wire.payloads.base import Payload, UtcTime

MAX_JOB_WINDOW: Final = timedelta(hours=24)
# Where an agent takes a job's footage from (docs/nvr.md): ``auto`` the ring buffer where it
# covers the window, else an NVR that does; ``buffer`` or ``nvr`` only that.
FootageSource = Literal["auto", "buffer", "nvr"]


class Job(Payload):
    job_id: JobId = Field(description="The hub's id for this clip job")
    camera_id: CameraId = Field(description="Camera to cut the clip from")
    start: UtcTime = Field(description="Requested window start (UTC)")
    end: UtcTime = Field(description="Requested window end (UTC), after start, at most 24 h on")
    priority: int = Field(default=5, ge=0, le=9, description="0 lowest .. 9 most urgent")
    reason: str = Field(max_length=500, description="Why the footage is wanted, e.g. crime ref")
    requested_by: str | None = Field(
        default=None, max_length=200, description="Who asked, for the agent's log"
    )
    source: FootageSource | None = Field(
        default=None,
        description="Where to take the footage from: auto (also when absent, so agents that"
        " predate it read the job): the ring buffer where it covers the window, else an NVR"
        " that does; buffer; or nvr",
    )

    @model_validator(mode="after")
    def _window(self) -> Self:
        if self.end <= self.start:
            raise ValueError(
                f"job window end {iso_utc(self.end)} is not after start {iso_utc(self.start)}"
            )
        if self.end - self.start > MAX_JOB_WINDOW:
            raise ValueError(
                f"job window is {(self.end - self.start).total_seconds() / 3600:g} h,"
                " over the 24 h limit: split the request"
            )
        return self


class JobProgress(Payload):
    job_id: JobId = Field(description="The job this is about")
    state: JobState = Field(description="Where the job is at the agent (never dispatched)")
    percent: int = Field(default=0, ge=0, le=100, description="Progress of the current state")
    clip_id: ClipId | None = Field(default=None, description="The clip, once cut")
    error: str | None = Field(
        default=None, max_length=1000, description="Why it failed; required when failed"
    )
    sent_at: UtcTime = Field(description="When the agent sent this")

    @field_validator("state")
    @classmethod
    def _reported(cls, state: JobState) -> JobState:
        if state not in AGENT_STATES:
            raise ValueError(f"{state} is the hub's state for a job, not one an agent reports")
        return state

    @model_validator(mode="after")
    def _error_when_failed(self) -> Self:
        if self.state is JobState.FAILED and not self.error:
            raise ValueError("a failed job must say why (error)")
        return self
