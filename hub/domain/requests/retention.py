"""How long a request and its evidence items are kept, and the daily list of what is due.

Each request and evidence item has a retention category, set when the requester records the
outcome (or by a supervisor):

- no further action: deleted 31 days after release;
- under investigation: never deleted by date; reviewed on its review date (90 days after release
  unless a person sets another), when a person decides what next;
- charged: kept until the case ends (no date until then), deleted 31 days after it ends.

Any item may also carry a review date set by a person. A legal hold keeps an item past its date:
it is listed as "held past its date" instead of "due for deletion", and cannot be deleted until the
hold is lifted. Deletion is always a supervisor's act with a reason, never automatic.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Final

from hub.domain.requests import text, wording

MIN_DELETION_REASON: Final = 10


class RetentionCategory(StrEnum):
    NO_FURTHER_ACTION = "no_further_action"
    UNDER_INVESTIGATION = "under_investigation"
    CHARGED = "charged"

    @property
    def label(self) -> str:
        return self.value.replace("_", " ")


class RetainedKind(StrEnum):
    REQUEST = "request"
    EVIDENCE_ITEM = "evidence item"
    OUTSIDE_ITEM = "outside item"  # footage from elsewhere (an upload link), kept like clips


@dataclass(frozen=True)
class RetentionPolicy:
    no_further_action: timedelta = timedelta(days=31)  # after release
    review_after: timedelta = timedelta(days=90)  # under investigation, after release
    after_case_ends: timedelta = timedelta(days=31)  # charged


@dataclass(frozen=True)
class RetainedItem:
    kind: RetainedKind
    item_id: str  # "R-12", or an evidence item's clip id
    category: RetentionCategory
    released_at: datetime | None  # None: not released yet, so no date runs
    review_date: datetime | None = None  # set by a person
    case_ended_at: datetime | None = None  # charged: when the case ended

    @property
    def key(self) -> tuple[RetainedKind, str]:
        return (self.kind, self.item_id)

    @property
    def label(self) -> str:
        return f"{self.kind.value} {self.item_id}"


@dataclass(frozen=True)
class RetentionDates:
    delete_on: datetime | None
    review_on: datetime | None
    why: str  # "no further action: 31 days after release on Saturday 2 March 2024"


def retention_dates(item: RetainedItem, policy: RetentionPolicy) -> RetentionDates:
    """When ``item`` is due for deletion and for review under its category, and why."""
    if item.released_at is None:
        return RetentionDates(None, item.review_date, "not released yet: no date runs")
    released = wording.long_date(item.released_at)
    category = item.category
    if category is RetentionCategory.NO_FURTHER_ACTION:
        days = policy.no_further_action.days
        return RetentionDates(
            item.released_at + policy.no_further_action,
            item.review_date,
            f"no further action: {_days(days)} after release on {released}",
        )
    if category is RetentionCategory.UNDER_INVESTIGATION:
        review = item.review_date or item.released_at + policy.review_after
        why = f"under investigation: review on {wording.long_date(review)}"
        return RetentionDates(None, review, why)
    if item.case_ended_at is None:
        return RetentionDates(None, item.review_date, "charged: kept until the case ends")
    days = policy.after_case_ends.days
    ended = wording.long_date(item.case_ended_at)
    return RetentionDates(
        item.case_ended_at + policy.after_case_ends,
        item.review_date,
        f"charged: {_days(days)} after the case ended on {ended}",
    )


@dataclass(frozen=True)
class DueItem:
    item: RetainedItem
    dates: RetentionDates
    overdue_by: timedelta  # since the date it became due


@dataclass(frozen=True)
class DailyRetentionList:
    due_for_deletion: tuple[DueItem, ...]
    due_for_review: tuple[DueItem, ...]
    held_past_date: tuple[DueItem, ...]  # due for deletion but under a legal hold

    @property
    def empty(self) -> bool:
        return not (self.due_for_deletion or self.due_for_review or self.held_past_date)


def daily_list(
    items: Iterable[RetainedItem],
    *,
    held: Collection[tuple[RetainedKind, str]],
    now: datetime,
    policy: RetentionPolicy | None = None,
) -> DailyRetentionList:
    """What is due today: most overdue first in each list."""
    rules = policy or RetentionPolicy()
    deletion: list[DueItem] = []
    review: list[DueItem] = []
    kept: list[DueItem] = []
    for item in items:
        dates = retention_dates(item, rules)
        if dates.delete_on is not None and dates.delete_on <= now:
            entry = DueItem(item, dates, now - dates.delete_on)
            (kept if item.key in held else deletion).append(entry)
        elif dates.review_on is not None and dates.review_on <= now:
            review.append(DueItem(item, dates, now - dates.review_on))

    def ordered(entries: list[DueItem]) -> tuple[DueItem, ...]:
        return tuple(sorted(entries, key=lambda e: (-e.overdue_by, e.item.kind, e.item.item_id)))

    return DailyRetentionList(ordered(deletion), ordered(review), ordered(kept))


class DeletionRefused(ValueError):
    """A deletion that may not happen; the message says why."""


@dataclass(frozen=True)
class DeletionDecision:
    item: RetainedItem
    deleted_by: str
    deleted_at: datetime
    reason: str
    early: bool  # before its retention date (or with no date): the reason says why


def check_deletion(
    item: RetainedItem,
    *,
    held: Collection[tuple[RetainedKind, str]],
    deleted_by: str,
    reason: str,
    now: datetime,
    policy: RetentionPolicy | None = None,
) -> DeletionDecision:
    """A supervisor's deletion of ``item``, or ``DeletionRefused``: under a hold, no reason."""
    if item.key in held:
        raise DeletionRefused(f"{item.label} is under a legal hold: lift the hold first")
    cleaned = reason.strip()
    if len(cleaned) < MIN_DELETION_REASON:
        raise DeletionRefused(
            f"deleting {item.label} needs a reason of at least {MIN_DELETION_REASON} characters"
        )
    problem = text.paragraph("the reason", cleaned, max_length=2000) or text.username_problem(
        "the deleting user", deleted_by
    )
    if problem:
        raise DeletionRefused(problem)
    dates = retention_dates(item, policy or RetentionPolicy())
    early = dates.delete_on is None or now < dates.delete_on
    return DeletionDecision(item, deleted_by, now, cleaned, early)


def _days(count: int) -> str:
    return "1 day" if count == 1 else f"{count} days"
