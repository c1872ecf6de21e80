"""The site's upload cap as the hub sets it (hub -> agent on ``sites/{site}/settings/uplink``,
retained, hub-signed, like hold orders).

While in force it replaces the cap of the agent's config (``[uplink] max_mbps`` and
``[[uplink.cap]]``); ``cleared`` hands the site back to its config. The agent keeps the newest
order by ``set_at``: a replayed older one changes nothing.
"""

from __future__ import annotations

from typing import Final, Self

from pydantic import Field, model_validator

from cctv_common.uplink_cap import CapWindow, InvalidCap
from cctv_common.wire.payloads.base import Payload, PayloadPart, UtcTime

MAX_CAP_WINDOWS: Final = 32
MAX_MBPS: Final = 100_000.0


class CapWindowPart(PayloadPart):
    days: str = Field(max_length=40, description='"mon-fri", "sat,sun", "daily"...')
    start: str = Field(max_length=5, description="Local time HH:MM the window starts")
    end: str = Field(max_length=5, description="Local time HH:MM it ends (before start: next day)")
    mbps: float = Field(gt=0, le=MAX_MBPS, description="Cap in Mbit/s during the window")

    @model_validator(mode="after")
    def _readable(self) -> Self:
        try:
            self.window()
        except InvalidCap as exc:
            raise ValueError(str(exc)) from exc
        return self

    def window(self) -> CapWindow:
        return CapWindow.parse(self.days, self.start, self.end, self.mbps)


class UplinkCap(Payload):
    max_mbps: float | None = Field(
        default=None, gt=0, le=MAX_MBPS, description="Cap at all times, Mbit/s (None: no cap)"
    )
    windows: tuple[CapWindowPart, ...] = Field(
        default=(), max_length=MAX_CAP_WINDOWS, description="Lower caps at given local hours"
    )
    set_at: UtcTime = Field(description="When the hub set it (the newest wins)")
    set_by: str = Field(max_length=128, description="Who set it at the hub")
    cleared: bool = Field(default=False, description="True: the site's own config applies again")
