"""The site checks an agent reports in its status (``SiteStatus.checks``): the same lines
``cctv-provision check`` prints, one per check (``edge_agent/health/checks.py``)."""

from __future__ import annotations

from typing import Final, Literal

from pydantic import Field

from cctv_common.wire.payloads.base import PayloadPart

MAX_HEALTH_CHECKS: Final = 2048

TimeSyncState = Literal["synchronised", "unsynchronised", "unknown"]


class HealthCheck(PayloadPart):
    check: Literal["camera", "clock", "stream", "broker", "disk", "time-sync"] = Field(
        description="What was checked"
    )
    subject: str = Field(
        min_length=1, max_length=300, description="The camera id, 'box' or the broker's address"
    )
    verdict: Literal["OK", "WARN", "FAIL"] = Field(description="The check's verdict")
    figure: str = Field(max_length=500, description="What was measured, in words")
