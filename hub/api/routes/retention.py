"""The daily retention list (supervisor): due for deletion, due for review, held past date."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends

from cctv_common.clock import iso_utc
from hub.api.deps import Hub, require
from hub.domain.acl import Permission
from hub.domain.requests.retention import DueItem, RetainedKind
from hub.services.auth import Principal

router = APIRouter(prefix="/api/retention", tags=["retention"])

Decider = Annotated[Principal, Depends(require(Permission.REQUESTS_DECIDE))]


def _due(entry: DueItem, requests: dict[str, str]) -> dict[str, Any]:
    dates = entry.dates
    item = entry.item
    is_request = item.kind is RetainedKind.REQUEST
    return {
        "kind": item.kind.value,
        "id": item.item_id,
        "request_id": item.item_id if is_request else requests.get(item.item_id),
        "clip_id": None if is_request else item.item_id,
        "category": entry.item.category.value,
        "delete_on": None if dates.delete_on is None else iso_utc(dates.delete_on),
        "review_on": None if dates.review_on is None else iso_utc(dates.review_on),
        "why": dates.why,
        "overdue_seconds": int(entry.overdue_by.total_seconds()),
    }


@router.get("/due", summary="What is due for deletion or review today, and what holds keep")
async def due(hub: Hub, user: Decider) -> dict[str, Any]:
    reports = hub.service.requests.reports
    found = await reports.retention_due()
    every = (*found.due_for_deletion, *found.due_for_review, *found.held_past_date)
    clips = [e.item.item_id for e in every if e.item.kind is not RetainedKind.REQUEST]
    requests = await reports.requests_of_items(clips)
    return {
        "due_for_deletion": [_due(e, requests) for e in found.due_for_deletion],
        "due_for_review": [_due(e, requests) for e in found.due_for_review],
        "held_past_date": [_due(e, requests) for e in found.held_past_date],
    }
