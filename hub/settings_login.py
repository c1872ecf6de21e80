"""The hub's ``[login]`` settings: login throttling."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class LoginSettings(BaseModel):
    """Login throttling: an exponential delay per client address and per user name."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    free_failures: int = Field(
        default=5, ge=1, le=100, description="Failed logins allowed before any delay"
    )
    first_delay_seconds: float = Field(
        default=2.0, gt=0, le=3600, description="Delay after the first failure beyond the free ones"
    )
    max_delay_seconds: float = Field(
        default=900.0, gt=0, le=24 * 3600, description="The delay doubles up to this"
    )
    forget_after_hours: float = Field(
        default=24.0, gt=0, le=24 * 30, description="Failures older than this are forgotten"
    )
    max_tracked_addresses: int = Field(
        default=10_000,
        ge=100,
        le=1_000_000,
        description="Client addresses remembered at most (the oldest are forgotten first)",
    )
