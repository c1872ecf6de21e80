"""Bodies of the footage-request API (docs/requests.md, the issue 11 contract) and the JSON it
answers with. Times travel as ISO 8601 UTC with ``Z``; a time without a zone is refused."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from cctv_common.clock import iso_utc
from hub.api.schemas import JobOut
from hub.domain.custody import CustodyEvent
from hub.domain.request_records import HoldRecord, RequestRecord
from hub.domain.requests.coverage import BufferSpan, CameraCoverage
from hub.domain.requests.request import CameraChoice, CameraRef
from hub.domain.requests.validation import RequestDraft
from hub.services.requests.reports import RequestDetail

ACTION_WORDS = {
    "request_filed": "request filed",
    "decide": "decision",
    "hold": "hold placed",
    "hold_confirmed": "hold in force at the site",
    "dispatch_refused": "a camera could not be served",
    "request_state": "moved on",
    "disclose": "released",
    "outcome": "outcome recorded",
    "retention": "retention set",
    "release": "hold lifted",
}


class _RequestBody(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CameraIn(_RequestBody):
    site_id: str = Field(min_length=1, max_length=64)
    camera_id: str = Field(min_length=1, max_length=64)


class RequestIn(_RequestBody):
    force: str = Field(default="", max_length=200)
    officer_name: str = Field(default="", max_length=200)
    rank: str = Field(default="", max_length=200)
    collar_number: str = Field(default="", max_length=40)
    contact: str = Field(default="", max_length=320)
    crime_reference: str = Field(default="", max_length=100)
    incident_log: str = Field(default="", max_length=100)
    offence: str = Field(default="", max_length=400)
    lawful_basis: str = Field(default="", max_length=40)
    urgency: str = Field(default="routine", max_length=40)
    window_start: datetime | None = None
    window_end: datetime | None = None
    cameras: list[CameraIn] = Field(default_factory=list, max_length=64)
    notes: str = Field(default="", max_length=5000)
    ripa: bool = False
    colleagues: list[str] = Field(default_factory=list, max_length=40)
    on_behalf_of: str | None = Field(
        default=None, max_length=64, description="Operator filing for this police user"
    )

    def cameras_asked(self) -> tuple[CameraChoice, ...]:
        return tuple(CameraRef(c.site_id, c.camera_id) for c in self.cameras)

    def draft(self) -> RequestDraft:
        return RequestDraft(
            force=self.force,
            officer_name=self.officer_name,
            rank=self.rank,
            collar_number=self.collar_number,
            contact=self.contact,
            crime_reference=self.crime_reference,
            incident_log=self.incident_log,
            offence=self.offence,
            lawful_basis=self.lawful_basis,
            urgency=self.urgency,
            start=self.window_start,
            end=self.window_end,
            cameras=self.cameras_asked(),
            notes=self.notes,
            ripa=self.ripa,
            colleagues=tuple(self.colleagues),
        )


class DecisionIn(_RequestBody):
    outcome: Literal["approve", "approve_part", "decline"]
    reason: str = Field(default="", max_length=2000)
    cameras: list[CameraIn] | None = Field(default=None, max_length=64)
    window_start: datetime | None = None
    window_end: datetime | None = None


class WindowIn(_RequestBody):
    window_start: datetime
    window_end: datetime


class RecipientIn(_RequestBody):
    name: str = Field(min_length=1, max_length=200)
    organisation: str = Field(min_length=1, max_length=200)
    email: str = Field(default="", max_length=320)


class ReleaseIn(_RequestBody):
    recipients: list[RecipientIn] = Field(default_factory=list, max_length=20)
    purpose: str = Field(min_length=1, max_length=500)


class OutcomeIn(_RequestBody):
    outcome: Literal["further_enquiries", "charge", "nfa", "other"]
    note: str = Field(default="", max_length=2000)


class RetentionIn(_RequestBody):
    category: Literal["no_further_action", "under_investigation", "charged"]
    review_at: datetime | None = None
    case_closed_at: datetime | None = None


class DeletionIn(_RequestBody):
    reason: str = Field(min_length=1, max_length=2000)


def _t(moment: datetime | None) -> str | None:
    return None if moment is None else iso_utc(moment)


def camera_out(camera: CameraChoice) -> dict[str, Any]:
    if isinstance(camera, CameraRef):
        return {"site_id": camera.site_id, "camera_id": camera.camera_id, "label": camera.label}
    return {"site_id": camera.site_id, "nvr_id": camera.nvr_id, "channel": camera.channel}


def summary(record: RequestRecord) -> dict[str, Any]:
    request = record.request
    return {
        "id": record.reference,
        "state": record.state.value,
        "state_label": record.state.label,
        "urgency": request.urgency.value,
        "requested_by": request.requested_by,
        "officer_name": request.officer.name,
        "force": request.officer.force,
        "crime_reference": request.crime_reference,
        "incident_log": request.incident_log,
        "offence": request.offence,
        "window_start": _t(request.window.start),
        "window_end": _t(request.window.end),
        "cameras": [camera_out(c) for c in request.cameras],
        "ripa": request.ripa,
        "created_at": _t(request.received_at),
        "decided_at": _t(record.decision.decided_at if record.decision else None),
        "released_at": _t(record.released_at),
        "updated_at": _t(record.updated_at),
    }


def hold_out(hold: HoldRecord) -> dict[str, Any]:
    return {
        "id": hold.id,
        "site_id": hold.site_id,
        "camera_id": hold.camera_id,
        "window_start": _t(hold.window.start),
        "window_end": _t(hold.window.end),
        "placed_at": _t(hold.placed_at),
        "edge_confirmed_at": _t(hold.edge_confirmed_at),
        "lifted_at": _t(hold.lifted_at),
    }


def _estimate(job: JobOut, now: datetime) -> int | None:
    """Seconds left, from the pace so far; None before there is a pace or after the end."""
    if job.ended or job.percent <= 0:
        return None
    spent = (now - job.created_at).total_seconds()
    return max(0, round(spent * (100 - job.percent) / job.percent))


def timeline(rows: list[CustodyEvent]) -> list[dict[str, Any]]:
    return [
        {
            "at": row.at,
            "what": ACTION_WORDS.get(row.action, row.action),
            "by": row.actor,
            "detail": row.detail,
        }
        for row in rows
    ]


def detail_out(found: RequestDetail, now: datetime) -> dict[str, Any]:
    record, request = found.record, found.record.request
    decision = record.decision
    jobs = []
    for job in found.jobs:
        out = JobOut.of(job, found.deliveries.get(job.clip_id or ""))
        data = out.model_dump(mode="json")
        data["estimate_seconds_left"] = _estimate(out, now)
        jobs.append(data)
    by_job = {item.job_id: item for item in found.items}
    return {
        **summary(record),
        "rank": request.officer.rank,
        "collar_number": request.officer.collar_number,
        "contact": request.officer.contact,
        "lawful_basis": request.lawful_basis.value,
        "lawful_basis_label": request.lawful_basis.label,
        "notes": request.notes,
        "colleagues": list(request.colleagues),
        "filed_by": request.filed_by,
        "decision": None
        if decision is None
        else {
            "outcome": decision.outcome.value,
            "by": decision.decided_by,
            "reason": decision.reason,
            "window_start": _t(decision.window.start if decision.window else None),
            "window_end": _t(decision.window.end if decision.window else None),
            "cameras": [camera_out(c) for c in decision.cameras],
            "rule": decision.rule,
        },
        "holds": [hold_out(h) for h in found.holds],
        "jobs": jobs,
        "camera_progress": [
            {
                "site_id": site_id,
                "camera_id": camera_id,
                "parts_stored": parts.stored,
                "parts_total": parts.total,
                "percent": parts.percent,
                "estimate_seconds_left": parts.estimate_seconds_left,
                "complete": parts.complete,
            }
            for (site_id, camera_id), parts in found.parts.items()
        ],
        "unserved": found.unserved,
        "items": [
            {
                "clip_id": item.clip_id,
                "job_id": item.job_id,
                "camera_id": item.camera_id,
                "site_id": item.site_id,
                "sha256": item.sha256,
                "verified": item.deleted_at is None,
                "legal_hold": item.legal_hold,
                "deleted_at": _t(item.deleted_at),
                "exhibit_reference": found.exhibit_refs.get(item.clip_id),
                "delivery": next((j["delivery"] for j in jobs if j["job_id"] == item.job_id), None),
            }
            for item in by_job.values()
        ],
        "releases": [
            {
                "disclosure_number": e.number,
                "recipient": e.recipient_name,
                "organisation": e.recipient_organisation,
                "released_at": _t(e.disclosed_at),
            }
            for e in found.releases
        ],
        "retention": {
            "category": record.retention_category.value,
            "delete_after": _t(found.retention.delete_on),
            "review_at": _t(found.retention.review_on),
            "why": found.retention.why,
        },
        "outcome": None
        if record.outcome is None
        else {"outcome": record.outcome.value, "note": record.outcome_note},
        "timeline": timeline(found.timeline),
    }


def coverage_out(
    coverage: tuple[CameraCoverage, ...], spans: dict[CameraChoice, list[BufferSpan] | None]
) -> dict[str, Any]:
    cameras = []
    for item in coverage:
        known = spans.get(item.camera)
        cameras.append(
            {
                **camera_out(item.camera),
                "camera_name": item.camera.label,
                "buffer_start": _t(min(s.start for s in known)) if known else None,
                "buffer_end": _t(max(s.end for s in known)) if known else None,
                "spans": [
                    {"start": _t(s.start), "end": _t(s.end), "source": s.source}
                    for s in sorted(known or (), key=lambda s: s.start)
                ],
                "warning": "; ".join(item.messages) or None,
                "missing_seconds": int(item.missing_length.total_seconds()),
            }
        )
    return {"cameras": cameras}
