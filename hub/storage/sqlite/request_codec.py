"""A checked footage request, its decision and a disclosure entry as JSON text and back.

The request is stored whole, as filed, in one JSON column (``requests.body``); the columns beside
it (state, requester, urgency...) are what the hub looks things up by.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from cctv_common.clock import iso_utc
from hub.domain.request_records import DecisionRecord
from hub.domain.requests.decision import DecisionKind
from hub.domain.requests.disclosure import DisclosedItem, DisclosureEntry
from hub.domain.requests.request import (
    CameraChoice,
    CameraRef,
    FootageRequest,
    IncidentWindow,
    LawfulBasis,
    NvrChannelRef,
    Officer,
    Urgency,
)
from hub.storage.sqlite.rows import json_text


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def camera_data(camera: CameraChoice) -> dict[str, Any]:
    if isinstance(camera, CameraRef):
        return {"site_id": camera.site_id, "camera_id": camera.camera_id}
    return {"site_id": camera.site_id, "nvr_id": camera.nvr_id, "channel": camera.channel}


def camera_of(data: dict[str, Any]) -> CameraChoice:
    if "nvr_id" in data:
        return NvrChannelRef(data["site_id"], data["nvr_id"], int(data["channel"]))
    return CameraRef(data["site_id"], data["camera_id"])


def window_data(window: IncidentWindow) -> dict[str, str]:
    return {"start": iso_utc(window.start), "end": iso_utc(window.end)}


def window_of(data: dict[str, str]) -> IncidentWindow:
    return IncidentWindow(_time(data["start"]), _time(data["end"]))


def request_json(request: FootageRequest) -> str:
    officer = request.officer
    return json_text(
        {
            "officer": {
                "force": officer.force,
                "name": officer.name,
                "rank": officer.rank,
                "collar_number": officer.collar_number,
                "contact": officer.contact,
            },
            "crime_reference": request.crime_reference,
            "incident_log": request.incident_log,
            "offence": request.offence,
            "lawful_basis": request.lawful_basis.value,
            "urgency": request.urgency.value,
            "window": window_data(request.window),
            "cameras": [camera_data(camera) for camera in request.cameras],
            "notes": request.notes,
            "ripa": request.ripa,
            "requested_by": request.requested_by,
            "filed_by": request.filed_by,
            "colleagues": list(request.colleagues),
            "received_at": iso_utc(request.received_at),
        }
    )


def request_of(text: str) -> FootageRequest:
    data = json.loads(text)
    officer = data["officer"]
    return FootageRequest(
        officer=Officer(
            force=officer["force"],
            name=officer["name"],
            rank=officer["rank"],
            collar_number=officer["collar_number"],
            contact=officer["contact"],
        ),
        crime_reference=data["crime_reference"],
        incident_log=data["incident_log"],
        offence=data["offence"],
        lawful_basis=LawfulBasis(data["lawful_basis"]),
        urgency=Urgency(data["urgency"]),
        window=window_of(data["window"]),
        cameras=tuple(camera_of(camera) for camera in data["cameras"]),
        notes=data["notes"],
        ripa=bool(data["ripa"]),
        requested_by=data["requested_by"],
        filed_by=data["filed_by"],
        colleagues=tuple(data["colleagues"]),
        received_at=_time(data["received_at"]),
    )


def decision_json(decision: DecisionRecord) -> str:
    return json_text(
        {
            "outcome": decision.outcome.value,
            "decided_by": decision.decided_by,
            "decided_at": iso_utc(decision.decided_at),
            "reason": decision.reason,
            "cameras": [camera_data(camera) for camera in decision.cameras],
            "window": None if decision.window is None else window_data(decision.window),
            "rule": decision.rule,
        }
    )


def decision_of(text: str | None) -> DecisionRecord | None:
    if text is None:
        return None
    data = json.loads(text)
    return DecisionRecord(
        outcome=DecisionKind(data["outcome"]),
        decided_by=data["decided_by"],
        decided_at=_time(data["decided_at"]),
        reason=data["reason"],
        cameras=tuple(camera_of(camera) for camera in data["cameras"]),
        window=None if data["window"] is None else window_of(data["window"]),
        rule=data["rule"],
    )


def entry_json(entry: DisclosureEntry) -> str:
    return json_text(
        {
            "number": entry.number,
            "disclosed_at": iso_utc(entry.disclosed_at),
            "request": entry.request,
            "recipient_name": entry.recipient_name,
            "recipient_organisation": entry.recipient_organisation,
            "also_to": list(entry.also_to),
            "purpose": entry.purpose,
            "lawful_basis": entry.lawful_basis.value,
            "disclosed_by": entry.disclosed_by,
            "items": [
                {
                    "item_id": item.item_id,
                    "sha256": item.sha256,
                    "camera": item.camera,
                    "window": window_data(item.window),
                }
                for item in entry.items
            ],
        }
    )


def entry_of(text: str) -> DisclosureEntry:
    data = json.loads(text)
    return DisclosureEntry(
        number=int(data["number"]),
        disclosed_at=_time(data["disclosed_at"]),
        request=data["request"],
        recipient_name=data["recipient_name"],
        recipient_organisation=data["recipient_organisation"],
        also_to=tuple(data["also_to"]),
        purpose=data["purpose"],
        lawful_basis=LawfulBasis(data["lawful_basis"]),
        disclosed_by=data["disclosed_by"],
        items=tuple(
            DisclosedItem(
                item["item_id"], item["sha256"], item["camera"], window_of(item["window"])
            )
            for item in data["items"]
        ),
    )
