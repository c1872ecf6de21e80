"""The partners' dashboard: counts, turnaround percentiles, outcomes, declines, RIPA, and CSV."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

from hub.domain.requests.dashboard import (
    CSV_COLUMNS,
    Outcome,
    RequestFacts,
    dashboard,
    dashboard_csv,
    percentile,
    turnaround,
)


def when(month: int, day: int, hour: int = 12) -> datetime:
    return datetime(2024, month, day, hour, tzinfo=UTC)


def minutes(n: float) -> timedelta:
    return timedelta(minutes=n)


FACTS = [
    RequestFacts(
        "R-1",
        "Stevenage",
        when(2, 29, 23) + minutes(30),  # 29 Feb 23:30 UTC = 29 Feb local (GMT)
        approved_at=when(3, 1, 0),
        released_at=when(3, 1, 1),
        outcome=Outcome.CHARGE,
    ),
    RequestFacts(
        "R-2",
        "Stevenage",
        when(3, 31, 0) + minutes(30),  # 31 Mar 00:30 UTC: BST from 01:00, still March
        approved_at=when(3, 31, 0) + minutes(40),
        released_at=when(3, 31, 2),
        outcome=Outcome.FURTHER_ENQUIRIES,
        ripa=True,
    ),
    RequestFacts(
        "R-3", "Hertsmere", when(3, 31, 23) + minutes(30), declined_reason="Not CCTV area"
    ),
    RequestFacts("R-4", "", when(4, 2), approved_at=when(4, 2) + minutes(20)),
    RequestFacts("R-5", "Hertsmere", when(4, 3), approved_at=when(4, 3), released_at=when(4, 4)),
]


def test_counts_per_month_in_uk_local_time_and_per_district() -> None:
    figures = dashboard(FACTS)
    assert figures.total == 5
    # 31 Mar 23:30 UTC is 1 Apr 00:30 BST.
    assert figures.per_month == (("2024-02", 1), ("2024-03", 1), ("2024-04", 3))
    assert figures.per_district == (("Hertsmere", 2), ("Stevenage", 2), ("(none)", 1))


def test_turnaround_median_and_90th_percentile() -> None:
    figures = dashboard(FACTS)
    approval = figures.request_to_approval
    # R-1 30 min, R-2 10 min, R-4 20 min, R-5 0 min
    assert approval.count == 4
    assert approval.median == minutes(15)
    assert approval.p90 == minutes(27)
    assert figures.approval_to_release.count == 3
    assert figures.request_to_release.median == minutes(90)


def test_outcomes_of_released_requests_declines_and_ripa() -> None:
    figures = dashboard(FACTS)
    assert dict(figures.outcomes) == {
        Outcome.FURTHER_ENQUIRIES: 1,
        Outcome.CHARGE: 1,
        Outcome.NOTHING: 0,
        Outcome.NOT_RECORDED: 1,
    }
    assert [(d.reference, d.reason) for d in figures.declined] == [("R-3", "Not CCTV area")]
    assert figures.ripa_flagged == 1


def test_percentile_edges() -> None:
    assert percentile([], 0.9) is None
    assert percentile([minutes(7)], 0.9) == minutes(7)
    assert percentile([minutes(n) for n in range(1, 11)], 0.9) == minutes(9.1)
    assert turnaround([minutes(-5), minutes(5)]).count == 1  # clock went backwards: left out


def test_empty_dashboard() -> None:
    figures = dashboard([])
    assert figures.total == 0 and figures.request_to_release.median is None
    rows = list(csv.reader(io.StringIO(dashboard_csv(figures).decode(), newline="")))
    assert ["turnaround request to release", "median minutes", ""] in rows


def test_csv_long_form_with_hostile_reason_defused() -> None:
    facts = [*FACTS, RequestFacts("R-6", "=evil()", when(4, 5), declined_reason="-1+1 @x")]
    data = dashboard_csv(dashboard(facts))
    rows = list(csv.reader(io.StringIO(data.decode("utf-8"), newline="")))
    assert tuple(rows[0]) == CSV_COLUMNS
    assert ["total", "requests", "6"] in rows
    assert ["requests per month", "2024-04", "4"] in rows
    assert ["turnaround request to approval", "median minutes", "15.0"] in rows
    assert ["outcomes", "further lines of enquiry", "1"] in rows
    assert ["declined", "count", "2"] in rows
    assert ["declined reason", "R-6 (=evil())", "'-1+1 @x"] in rows
    assert ["requests per district", "'=evil()", "1"] in rows
    assert ["RIPA", "flagged", "1"] in rows
    assert all(len(row) == 3 for row in rows)
