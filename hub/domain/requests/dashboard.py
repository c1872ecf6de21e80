"""The partners' performance dashboard (the CCTV Joint Executive's report), from request records.

Requests per month (UK local month) and per district or partner; turnaround from request to
approval, approval to release and request to release (median and 90th percentile, in minutes);
outcomes the requesters recorded; declines with their reasons; requests flagged RIPA. The CSV is
the same figures in long form (section, key, value), so its columns never change.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Final

from hub.domain.requests import wording
from hub.domain.requests.csv_text import Cell, csv_bytes

CSV_COLUMNS: Final = ("section", "key", "value")


class Outcome(StrEnum):
    """What the footage led to, as the requester records it."""

    FURTHER_ENQUIRIES = "further_lines_of_enquiry"
    CHARGE = "charge"
    NOTHING = "nothing"
    NOT_RECORDED = "not_recorded"

    @property
    def label(self) -> str:
        return self.value.replace("_", " ")


@dataclass(frozen=True)
class RequestFacts:
    """What the dashboard needs of one request; storage builds these."""

    reference: str
    district: str  # the partner council (or district) whose cameras were asked for
    received_at: datetime
    approved_at: datetime | None = None  # approved or partly approved
    released_at: datetime | None = None
    declined_reason: str | None = None  # set when declined
    outcome: Outcome = Outcome.NOT_RECORDED
    ripa: bool = False


@dataclass(frozen=True)
class Turnaround:
    count: int
    median: timedelta | None
    p90: timedelta | None


@dataclass(frozen=True)
class Declined:
    reference: str
    district: str
    reason: str


@dataclass(frozen=True)
class DashboardFigures:
    total: int
    per_month: tuple[tuple[str, int], ...]  # ("2024-03", 12), in month order
    per_district: tuple[tuple[str, int], ...]  # most requests first
    request_to_approval: Turnaround
    approval_to_release: Turnaround
    request_to_release: Turnaround
    outcomes: tuple[tuple[Outcome, int], ...]  # of released requests; every outcome, enum order
    declined: tuple[Declined, ...]
    ripa_flagged: int


def percentile(values: Sequence[timedelta], fraction: float) -> timedelta | None:
    """Linear interpolation between closest ranks (numpy's default; Excel's PERCENTILE.INC)."""
    if not values:
        return None
    ordered = sorted(values)
    position = (len(ordered) - 1) * fraction
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def turnaround(spans: Iterable[timedelta]) -> Turnaround:
    kept = [span for span in spans if span >= timedelta(0)]
    return Turnaround(len(kept), percentile(kept, 0.5), percentile(kept, 0.9))


def _month(moment: datetime) -> str:
    return wording.local(moment).strftime("%Y-%m")


def dashboard(records: Iterable[RequestFacts]) -> DashboardFigures:
    facts = list(records)
    months = Counter(_month(f.received_at) for f in facts)
    districts = Counter(f.district or "(none)" for f in facts)
    outcomes = Counter(f.outcome for f in facts if f.released_at is not None)
    return DashboardFigures(
        total=len(facts),
        per_month=tuple(sorted(months.items())),
        per_district=tuple(sorted(districts.items(), key=lambda kv: (-kv[1], kv[0]))),
        request_to_approval=turnaround(
            f.approved_at - f.received_at for f in facts if f.approved_at
        ),
        approval_to_release=turnaround(
            f.released_at - f.approved_at for f in facts if f.approved_at and f.released_at
        ),
        request_to_release=turnaround(
            f.released_at - f.received_at for f in facts if f.released_at
        ),
        outcomes=tuple((outcome, outcomes.get(outcome, 0)) for outcome in Outcome),
        declined=tuple(
            Declined(f.reference, f.district, f.declined_reason)
            for f in sorted(facts, key=lambda f: f.received_at)
            if f.declined_reason is not None
        ),
        ripa_flagged=sum(1 for f in facts if f.ripa),
    )


def _minutes(span: timedelta | None) -> Cell:
    return None if span is None else round(span.total_seconds() / 60, 1)


def _rows(figures: DashboardFigures) -> Iterable[Sequence[Cell]]:
    yield ("total", "requests", figures.total)
    for month, count in figures.per_month:
        yield ("requests per month", month, count)
    for district, count in figures.per_district:
        yield ("requests per district", district, count)
    for name, stats in (
        ("request to approval", figures.request_to_approval),
        ("approval to release", figures.approval_to_release),
        ("request to release", figures.request_to_release),
    ):
        yield (f"turnaround {name}", "count", stats.count)
        yield (f"turnaround {name}", "median minutes", _minutes(stats.median))
        yield (f"turnaround {name}", "90th percentile minutes", _minutes(stats.p90))
    for outcome, count in figures.outcomes:
        yield ("outcomes", outcome.label, count)
    yield ("declined", "count", len(figures.declined))
    for item in figures.declined:
        yield ("declined reason", f"{item.reference} ({item.district})", item.reason)
    yield ("RIPA", "flagged", figures.ripa_flagged)


def dashboard_csv(figures: DashboardFigures, *, bom: bool = False) -> bytes:
    return csv_bytes(CSV_COLUMNS, _rows(figures), bom=bom)
