"""The disclosure log and the partners' dashboard (supervisor, auditor), each with a CSV."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Response

from cctv_common.clock import iso_utc
from hub.api.deps import Hub, require
from hub.domain.acl import Permission
from hub.domain.requests.dashboard import DashboardFigures, Turnaround, dashboard_csv
from hub.domain.requests.disclosure import export_csv
from hub.services.auth import Principal

router = APIRouter(prefix="/api", tags=["disclosures"])

Reader = Annotated[Principal, Depends(require(Permission.DASHBOARD_READ))]
CSV = "text/csv; charset=utf-8"


@router.get("/disclosures", summary="The disclosure log, entries in number order")
async def disclosures(hub: Hub, user: Reader) -> dict[str, Any]:
    entries = await hub.service.requests.reports.disclosures()
    return {
        "entries": [
            {
                "number": e.number,
                "released_at": iso_utc(e.disclosed_at),
                "request_id": e.request,
                "recipient": e.recipient_name,
                "organisation": e.recipient_organisation,
                "also_to": list(e.also_to),
                "purpose": e.purpose,
                "lawful_basis": e.lawful_basis.value,
                "released_by": e.disclosed_by,
                "items": [{"clip_id": i.item_id, "sha256": i.sha256} for i in e.items],
            }
            for e in entries
        ]
    }


@router.get("/disclosures.csv", summary="The disclosure log as CSV (one row per item)")
async def disclosures_csv(hub: Hub, user: Reader) -> Response:
    entries = await hub.service.requests.reports.disclosures()
    return Response(
        export_csv(entries, bom=True),
        media_type=CSV,
        headers={"Content-Disposition": 'attachment; filename="disclosure-log.csv"'},
    )


def _hours(turn: Turnaround) -> dict[str, Any]:
    def h(value: Any) -> float | None:
        return None if value is None else round(value.total_seconds() / 3600, 2)

    return {"count": turn.count, "median_h": h(turn.median), "p90_h": h(turn.p90)}


async def _figures(hub: Hub, start: datetime | None, end: datetime | None) -> DashboardFigures:
    figures, _, _ = await hub.service.requests.reports.dashboard(start, end)
    return figures


@router.get("/dashboard", summary="Requests per month and district, turnaround, outcomes")
async def get_dashboard(
    hub: Hub,
    user: Reader,
    start: Annotated[datetime | None, Query(alias="from")] = None,
    end: Annotated[datetime | None, Query(alias="to")] = None,
) -> dict[str, Any]:
    figures, released_per_month, declined_per_month = await hub.service.requests.reports.dashboard(
        start, end
    )
    return {
        "total": figures.total,
        "per_month": [
            {
                "month": month,
                "requests": count,
                "released": released_per_month.get(month, 0),
                "declined": declined_per_month.get(month, 0),
            }
            for month, count in figures.per_month
        ],
        "per_district": [{"district": d, "requests": n} for d, n in figures.per_district],
        "turnaround": {
            "to_approval": _hours(figures.request_to_approval),
            "approval_to_release": _hours(figures.approval_to_release),
            "to_release": _hours(figures.request_to_release),
        },
        "outcomes": {outcome.value: count for outcome, count in figures.outcomes},
        "declined": [
            {"request_id": d.reference, "district": d.district, "reason": d.reason}
            for d in figures.declined
        ],
        "ripa": figures.ripa_flagged,
    }


@router.get("/dashboard.csv", summary="The dashboard's figures as CSV")
async def get_dashboard_csv(
    hub: Hub,
    user: Reader,
    start: Annotated[datetime | None, Query(alias="from")] = None,
    end: Annotated[datetime | None, Query(alias="to")] = None,
) -> Response:
    figures = await _figures(hub, start, end)
    return Response(
        dashboard_csv(figures, bom=True),
        media_type=CSV,
        headers={"Content-Disposition": 'attachment; filename="partners-dashboard.csv"'},
    )
