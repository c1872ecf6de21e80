"""Camera events (agent -> hub on ``sites/{site}/events``): stored motion and tamper, in batches."""

from __future__ import annotations

import re
from typing import Annotated, Final, Literal

from pydantic import AfterValidator, Field, field_validator

from cctv_common.wire.ids import CameraId
from cctv_common.wire.payloads.base import Payload, PayloadPart, UtcTime

MAX_EVENTS_PER_MESSAGE: Final = 100
MAX_EVENT_DATA_ITEMS: Final = 16
MAX_EVENT_KEY_CHARS: Final = 64
MAX_EVENT_VALUE_CHARS: Final = 200
EVENT_KEY_PATTERN: Final = r"^[A-Za-z0-9_.:-]+$"
CameraEventKind = Literal["motion", "tamper"]


def _event_data(value: dict[str, str]) -> dict[str, str]:
    if len(value) > MAX_EVENT_DATA_ITEMS:
        raise ValueError(f"data has {len(value)} items, over {MAX_EVENT_DATA_ITEMS}")
    for key, item in value.items():
        if not 1 <= len(key) <= MAX_EVENT_KEY_CHARS or not re.match(EVENT_KEY_PATTERN, key):
            raise ValueError(
                f"data key {key[:40]!r} is not 1..{MAX_EVENT_KEY_CHARS} letters, digits, _ . : -"
            )
        if len(item) > MAX_EVENT_VALUE_CHARS:
            raise ValueError(f"data {key} is over {MAX_EVENT_VALUE_CHARS} characters")
    return value


class CameraEventItem(PayloadPart):
    """One stored camera event. Its id is the agent's digest of its content, so the same event
    sent twice (after a restart or an outage) has the same id and the hub keeps it once."""

    event_id: str = Field(
        pattern=r"^[0-9a-f]{32}$", description="32 lowercase hex, unique per event of the site"
    )
    camera_id: CameraId = Field(description="Camera within the site")
    at: UtcTime = Field(description="When it happened, on the agent's clock (UTC)")
    kind: CameraEventKind = Field(description="motion or tamper")
    active: bool = Field(description="Whether it began (true) or ended (false)")
    topic: str = Field(min_length=1, max_length=200, description="The ONVIF topic it came on")
    data: Annotated[dict[str, str], AfterValidator(_event_data)] = Field(
        default_factory=dict,
        description=f"The notification's items (at most {MAX_EVENT_DATA_ITEMS}, short strings)",
    )


class CameraEvents(Payload):
    events: tuple[CameraEventItem, ...] = Field(
        min_length=1,
        max_length=MAX_EVENTS_PER_MESSAGE,
        description="Stored events, oldest first, each sent until the broker took it",
    )
    sent_at: UtcTime = Field(description="When the agent sent this")

    @field_validator("events")
    @classmethod
    def _unique_ids(cls, events: tuple[CameraEventItem, ...]) -> tuple[CameraEventItem, ...]:
        ids = [event.event_id for event in events]
        if len(set(ids)) != len(ids):
            raise ValueError("an event id appears more than once")
        return events
