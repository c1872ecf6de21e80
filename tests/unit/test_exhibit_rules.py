"""Exhibit numbering and derive orders: pure rules (hub.domain.exhibit_numbers,
hub.domain.derived_items)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from hub.domain.acl import Permission
from hub.domain.custody import CustodyAction
from hub.domain.derived_items import (
    DerivedItem,
    DerivedState,
    DeriveOrder,
    DeriveRefused,
    RedactionBox,
    check_order,
    custody_action,
    derived_references,
    permission_for,
)
from hub.domain.exhibit_numbers import PatternError, assign, check_pattern, initials

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("name", "username", "expected"),
    [
        ("Jane Smith", "js", "JS"),
        ("Mary-Ann O'Neil", "x", "MAO"),
        ("", "pc.jones", "PJ"),
        ("", "", "X"),
        ("sgt  alan   b  cooper", "u", "SABC"),
    ],
)
def test_initials(name: str, username: str, expected: str) -> None:
    assert initials(name, username) == expected


def test_references_continue_the_producers_sequence_and_skip_taken_ones() -> None:
    taken = {"JS/3"}
    refs = assign(
        "{initials}/{seq}",
        clip_ids=["a", "b", "c"],
        request="R-2026-0001",
        producer="jsmith",
        display_name="Jane Smith",
        last_seq=1,
        taken=taken.__contains__,
        now=NOW,
    )
    assert [(r.clip_id, r.reference) for r in refs] == [("a", "JS/2"), ("b", "JS/4"), ("c", "JS/5")]
    assert all(r.producer == "jsmith" and r.request == "R-2026-0001" for r in refs)


def test_a_pattern_with_the_request_and_year() -> None:
    (ref,) = assign(
        "{request}-{initials}{seq}",
        clip_ids=["a"],
        request="R-2026-0007",
        producer="sup",
        display_name="Ann Lee",
        last_seq=0,
        taken=lambda _: False,
        now=NOW,
    )
    assert ref.reference == "R-2026-0007-AL1"


@pytest.mark.parametrize(
    ("pattern", "says"),
    [
        ("{initials}", "must include {seq}"),
        ("{who}/{seq}", "names who"),
        ("{initials}/{seq", "reference pattern"),
        ("**{seq}", "makes"),
    ],
)
def test_a_bad_pattern_is_refused(pattern: str, says: str) -> None:
    with pytest.raises(PatternError, match=None) as caught:
        check_pattern(pattern)
    assert says in str(caught.value)


def test_who_may_order_and_how_it_is_logged() -> None:
    assert permission_for("redact") is Permission.EVIDENCE_MANAGE
    assert permission_for("h264") is Permission.FOOTAGE_DOWNLOAD
    assert custody_action("redact") is CustodyAction.REDACT
    assert custody_action("timestamp") is CustodyAction.DERIVE


def test_an_order_names_every_problem() -> None:
    order = DeriveOrder(
        "redact",
        "",
        True,
        (
            RedactionBox(0, 0, 0, 10),
            RedactionBox(300, 200, 50, 50),
            RedactionBox(1, 1, 5, 5, from_s=4, to_s=2),
            RedactionBox(1, 1, 5, 5, at_s=float("nan"), follow=True),
        ),
    )
    with pytest.raises(DeriveRefused) as caught:
        check_order(order, width=320, height=240)
    text = str(caught.value)
    assert "needs a reason" in text
    assert "box 1 must have a positive size" in text
    assert "box 2 (300,200 50x50) reaches outside the 320x240 frame" in text
    assert "box 3 must end after it starts" in text
    assert "box 4: times are seconds" in text


def test_a_good_order_is_trimmed_and_planned() -> None:
    box = RedactionBox(10, 10, 20, 20, follow=True, at_s=1.5)
    order = check_order(
        DeriveOrder("redact", "  bystander  ", False, (box,)), width=320, height=240
    )
    assert order.reason == "bystander"
    assert order.plan() == {"operation": "redact", "faces": False, "boxes": [box.as_dict()]}
    assert check_order(DeriveOrder("h264"), width=0, height=0).plan() == {"operation": "h264"}
    with pytest.raises(DeriveRefused, match="not one of"):
        check_order(DeriveOrder("sharpen"), width=320, height=240)


def _item(n: int, operation: str, state: DerivedState = DerivedState.READY) -> DerivedItem:
    return DerivedItem(
        id=f"DRV-{n:032x}",
        clip_id="c",
        source_sha256="0" * 64,
        operation=operation,
        state=state,
        created_by="s",
        created_at=NOW + timedelta(minutes=n),
        reason="",
        plan={},
    )


def test_derived_items_are_numbered_after_their_master_per_operation() -> None:
    items = [
        _item(3, "redact"),
        _item(1, "h264"),
        _item(2, "redact", DerivedState.FAILED),
        _item(4, "redact"),
        _item(5, "timestamp", DerivedState.WORKING),
    ]
    named = [(i.id[-1], ref) for i, ref in derived_references("JS/1", items)]
    assert named == [("1", "JS/1/W1"), ("3", "JS/1/R1"), ("4", "JS/1/R2")]
