"""Searching the custody log (auditor, supervisor): by item (a clip, job, request or user id),
by user, by time and by action. The log is read in pages in ``seq`` order and filtered here."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from cctv_common.clock import iso_utc
from hub.domain.custody import CustodyEvent
from hub.services.custody import CustodyLog

PAGE = 5000


@dataclass(frozen=True)
class CustodyQuery:
    item: str | None = None  # "clip-1", "R-2026-0001", or a whole subject "clip:clip-1"
    user: str | None = None
    start: datetime | None = None
    end: datetime | None = None
    action: str | None = None

    def matches(self, row: CustodyEvent) -> bool:
        if self.item and self.item != row.subject and row.subject.partition(":")[2] != self.item:
            return False
        if self.user and row.actor != self.user:
            return False
        if self.action and row.action != self.action:
            return False
        if self.start and row.at < iso_utc(self.start):
            return False
        return not (self.end and row.at >= iso_utc(self.end))


async def search(log: CustodyLog, query: CustodyQuery, limit: int) -> list[CustodyEvent]:
    found: list[CustodyEvent] = []
    after = 0
    while len(found) < limit:
        page = await log.arows(after_seq=after, limit=PAGE)
        if not page:
            break
        found += [row for row in page if query.matches(row)]
        after = page[-1].seq
    return found[:limit]
