"""Retention categories, holds and the daily list of what is due for deletion or review."""

from __future__ import annotations

from datetime import timedelta

import pytest

from hub.domain.requests.retention import (
    DeletionRefused,
    RetainedItem,
    RetainedKind,
    RetentionCategory,
    RetentionPolicy,
    check_deletion,
    daily_list,
    retention_dates,
)
from tests.support.request_kit import NOW

RELEASED = NOW - timedelta(days=40)
NFA = RetentionCategory.NO_FURTHER_ACTION
UI = RetentionCategory.UNDER_INVESTIGATION
CHARGED = RetentionCategory.CHARGED
CLIP = RetainedKind.EVIDENCE_ITEM
REQ = RetainedKind.REQUEST


def item(item_id: str, category: RetentionCategory, **changes: object) -> RetainedItem:
    values: dict[str, object] = {"released_at": RELEASED}
    values.update(changes)
    return RetainedItem(CLIP, item_id, category, **values)  # type: ignore[arg-type]


def test_no_further_action_is_31_days_after_release() -> None:
    dates = retention_dates(item("c1", NFA), RetentionPolicy())
    assert dates.delete_on == RELEASED + timedelta(days=31)
    assert dates.review_on is None
    assert dates.why == "no further action: 31 days after release on Monday 22 January 2024"


def test_charged_has_no_date_until_the_case_ends() -> None:
    assert retention_dates(item("c1", CHARGED), RetentionPolicy()).delete_on is None
    ended = NOW - timedelta(days=2)
    dates = retention_dates(item("c1", CHARGED, case_ended_at=ended), RetentionPolicy())
    assert dates.delete_on == ended + timedelta(days=31)
    assert dates.why.startswith("charged: 31 days after the case ended on")


def test_under_investigation_is_reviewed_never_deleted_by_date() -> None:
    dates = retention_dates(item("c1", UI), RetentionPolicy())
    assert dates.delete_on is None
    assert dates.review_on == RELEASED + timedelta(days=90)
    chosen = NOW + timedelta(days=7)
    assert (
        retention_dates(item("c1", UI, review_date=chosen), RetentionPolicy()).review_on == chosen
    )


def test_an_item_not_released_runs_no_date() -> None:
    dates = retention_dates(item("c1", NFA, released_at=None), RetentionPolicy())
    assert (dates.delete_on, dates.why) == (None, "not released yet: no date runs")


def test_the_daily_list_splits_due_held_and_review() -> None:
    items = [
        item("due-1", NFA),  # released 40 days ago: 9 days overdue
        item("due-2", NFA, released_at=NOW - timedelta(days=35)),
        item("held", NFA),
        item("not-yet", NFA, released_at=NOW - timedelta(days=3)),
        item("review", UI, review_date=NOW - timedelta(hours=1)),
        item("review-later", UI),
        item("charged", CHARGED),
        item("ended", CHARGED, case_ended_at=NOW - timedelta(days=31)),
        RetainedItem(REQ, "R-3", NFA, released_at=RELEASED),
    ]
    found = daily_list(items, held={(CLIP, "held")}, now=NOW)
    assert [(e.item.item_id, e.overdue_by.days) for e in found.due_for_deletion] == [
        ("due-1", 9),
        ("R-3", 9),
        ("due-2", 4),
        ("ended", 0),
    ]
    assert [e.item.item_id for e in found.held_past_date] == ["held"]
    assert [e.item.item_id for e in found.due_for_review] == ["review"]
    assert not found.empty


def test_a_hold_on_a_request_does_not_hold_an_item_of_the_same_id() -> None:
    found = daily_list([item("R-3", NFA)], held={(REQ, "R-3")}, now=NOW)
    assert len(found.due_for_deletion) == 1


def test_the_policy_is_configurable_and_an_empty_list_is_empty() -> None:
    found = daily_list(
        [item("c1", NFA)], held=(), now=NOW, policy=RetentionPolicy(no_further_action=timedelta(60))
    )
    assert found.empty


def test_deletion_needs_a_reason_and_no_hold() -> None:
    clip = item("c1", NFA)
    with pytest.raises(DeletionRefused, match="evidence item c1 is under a legal hold"):
        check_deletion(clip, held={(CLIP, "c1")}, deleted_by="sup-1", reason="x" * 20, now=NOW)
    with pytest.raises(DeletionRefused, match="needs a reason of at least 10"):
        check_deletion(clip, held=(), deleted_by="sup-1", reason=" expired ", now=NOW)
    with pytest.raises(DeletionRefused, match="control character"):
        check_deletion(clip, held=(), deleted_by="sup-1", reason="retention\x00 ended", now=NOW)
    with pytest.raises(DeletionRefused, match="the deleting user"):
        check_deletion(clip, held=(), deleted_by="a b", reason="retention ended", now=NOW)
    done = check_deletion(clip, held=(), deleted_by="sup-1", reason=" retention ended ", now=NOW)
    assert (done.reason, done.early, done.deleted_at) == ("retention ended", False, NOW)


def test_early_deletion_is_marked() -> None:
    young = item("c1", NFA, released_at=NOW - timedelta(days=1))
    assert check_deletion(
        young, held=(), deleted_by="sup-1", reason="captured the wrong camera", now=NOW
    ).early
    assert check_deletion(
        item("c2", CHARGED), held=(), deleted_by="sup-1", reason="case discontinued", now=NOW
    ).early
