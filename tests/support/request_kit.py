"""Builders for footage-request tests: a valid draft, a catalogue, a checked request."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from hub.domain.requests.request import CameraRef, FootageRequest, NvrChannelRef
from hub.domain.requests.validation import CameraCatalogue, RequestDraft, check_request

# A Saturday in March, before the clocks change: UK local time is UTC.
NOW: Final = datetime(2024, 3, 2, 9, 0, tzinfo=UTC)
CAM1: Final = CameraRef("town-centre", "cam-1")
CAM2: Final = CameraRef("town-centre", "cam-2")
CAM3: Final = CameraRef("town-centre", "cam-3")
NVR4: Final = NvrChannelRef("bus-station", "nvr-1", 4)
CATALOGUE: Final = CameraCatalogue(
    cameras=frozenset({CAM1, CAM2, CAM3}), nvr_channels=frozenset({NVR4})
)


def at(hour: int, minute: int = 0, *, day: int = 2) -> datetime:
    return datetime(2024, 3, day, hour, minute, tzinfo=UTC)


def draft(**changes: Any) -> RequestDraft:
    base = RequestDraft(
        force="Cleveland Police",
        officer_name="Jane Smith",
        rank="DC",
        collar_number="4521",
        contact="jane.smith@cleveland.police.uk",
        crime_reference="CR/012345/24",
        incident_log="",
        offence="Assault occasioning actual bodily harm",
        lawful_basis="dpa2018-part3-s35",
        urgency="routine",
        start=NOW - timedelta(hours=3),
        end=NOW - timedelta(hours=2, minutes=30),
        cameras=(CAM1, CAM2),
        notes="Male in a red jacket, outside the bank.",
        ripa=False,
        colleagues=("dc-brown",),
    )
    return replace(base, **changes)


def footage_request(**changes: Any) -> FootageRequest:
    return check_request(
        draft(**changes), catalogue=CATALOGUE, requested_by="dc-smith", filed_by="dc-smith", now=NOW
    )
