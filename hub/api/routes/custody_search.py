"""The custody log searched by item, user, time and action, as JSON or CSV (auditor,
supervisor). ``/api/audit`` stays as it was for older clients."""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Response

from hub.api.deps import Hub, require
from hub.domain.acl import Permission
from hub.services.auth import Principal
from hub.services.custody_search import CustodyQuery, search

router = APIRouter(prefix="/api", tags=["custody"])

Auditor = Annotated[Principal, Depends(require(Permission.AUDIT_READ))]
Text = Annotated[str | None, Query(max_length=120)]


def _query(
    item: str | None,
    user: str | None,
    start: datetime | None,
    end: datetime | None,
    action: str | None,
) -> CustodyQuery:
    return CustodyQuery(item=item, user=user, start=start, end=end, action=action)


@router.get("/custody", summary="Custody log rows matching item, user, time and action")
async def custody(
    hub: Hub,
    who: Auditor,
    item: Text = None,
    user: Text = None,
    action: Text = None,
    start: Annotated[datetime | None, Query(alias="from")] = None,
    end: Annotated[datetime | None, Query(alias="to")] = None,
    limit: Annotated[int, Query(ge=1, le=10000)] = 1000,
) -> dict[str, Any]:
    rows = await search(hub.service.custody, _query(item, user, start, end, action), limit)
    return {"rows": [row.as_dict() for row in rows]}


def _cell(value: str) -> str:
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


@router.get("/custody.csv", summary="The same rows as CSV")
async def custody_csv(
    hub: Hub,
    who: Auditor,
    item: Text = None,
    user: Text = None,
    action: Text = None,
    start: Annotated[datetime | None, Query(alias="from")] = None,
    end: Annotated[datetime | None, Query(alias="to")] = None,
    limit: Annotated[int, Query(ge=1, le=100000)] = 10000,
) -> Response:
    rows = await search(hub.service.custody, _query(item, user, start, end, action), limit)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(["seq", "at", "actor", "action", "subject", "detail", "prev_hash", "hash"])
    for row in rows:
        writer.writerow(
            [
                row.seq,
                row.at,
                _cell(row.actor),
                row.action,
                _cell(row.subject),
                _cell(json.dumps(row.detail, sort_keys=True)),
                row.prev_hash,
                row.hash,
            ]
        )
    return Response(
        "\ufeff" + out.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="custody-log.csv"'},
    )
