"""Where a redaction preview starts feeding frames to the redactor, so that its face tracks and
following boxes are what the copy's are at the frame shown."""

from __future__ import annotations

import pytest

from hub.exhibits.derive.preview import run_in_start
from hub.exhibits.derive.redaction import FixedBox, FollowingBox, RedactionPlan


def test_faces_need_the_hold_and_detection_frames_before() -> None:
    plan = RedactionPlan(hold_frames=12, detect_every=3)
    assert run_in_start(plan, 10.0, 25.0) == pytest.approx(10.0 - 15 / 25)
    assert run_in_start(plan, 0.2, 25.0) == 0.0  # not before the first frame


def test_without_faces_fixed_boxes_need_no_run_in() -> None:
    plan = RedactionPlan(faces=False, fixed=(FixedBox((0, 0, 10, 10), 1.0, 2.0),))
    assert run_in_start(plan, 7.5, 25.0) == 7.5


def test_a_following_box_is_tracked_from_where_it_was_drawn() -> None:
    plan = RedactionPlan(
        faces=False,
        following=(FollowingBox((0, 0, 10, 10), 3.0), FollowingBox((5, 5, 10, 10), 9.0)),
    )
    assert run_in_start(plan, 7.0, 25.0) == 3.0  # the box drawn at 9 s is not shown yet
    assert run_in_start(plan, 12.0, 25.0) == 3.0
    assert run_in_start(plan, 2.0, 25.0) == 2.0
