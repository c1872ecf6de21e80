"""The data controller's decision: what it holds, which clip jobs it makes, and what it refuses."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

import pytest

from hub.domain.requests.decision import (
    ClipJobSpec,
    ControllerDecision,
    DecisionKind,
    DecisionRefused,
    HoldPlace,
    decide,
)
from hub.domain.requests.request import IncidentWindow, Urgency
from hub.domain.requests.states import IllegalTransition, RequestState
from tests.support.request_kit import CAM1, CAM2, CAM3, NOW, footage_request

REQUEST = footage_request(urgency="priority")
ASKED = REQUEST.window


def decision(kind: DecisionKind, **changes: object) -> ControllerDecision:
    values: dict[str, object] = {"decided_by": "sup-1", "decided_at": NOW, "reason": ""}
    values.update(changes)
    return ControllerDecision(kind, **values)  # type: ignore[arg-type]


def test_approve_all_holds_at_edge_and_hub_and_makes_one_job_per_camera() -> None:
    outcome = decide("R-7", REQUEST, RequestState.SUBMITTED, decision(DecisionKind.APPROVE))
    assert outcome.state is RequestState.APPROVED
    assert outcome.cameras == (CAM1, CAM2) and outcome.window == ASKED
    assert [(h.camera, h.place) for h in outcome.holds] == [
        (CAM1, HoldPlace.EDGE),
        (CAM1, HoldPlace.HUB),
        (CAM2, HoldPlace.EDGE),
        (CAM2, HoldPlace.HUB),
    ]
    assert {h.window for h in outcome.holds} == {ASKED}
    assert outcome.holds[0].site_id == "town-centre"
    assert outcome.clip_jobs == tuple(
        ClipJobSpec("R-7", camera, ASKED, Urgency.PRIORITY, NOW, "dc-smith")
        for camera in (CAM1, CAM2)
    )
    assert outcome.summary.startswith("approved by sup-1: town-centre/cam-1, town-centre/cam-2, ")


def test_approve_part_narrows_cameras_and_window_and_keeps_the_reason() -> None:
    narrower = IncidentWindow(ASKED.start + timedelta(minutes=5), ASKED.end - timedelta(minutes=5))
    outcome = decide(
        "R-7",
        REQUEST,
        RequestState.SUBMITTED,
        decision(
            DecisionKind.APPROVE_PART,
            cameras=(CAM2,),
            window=narrower,
            reason="cam-1 faces a private garden",
        ),
    )
    assert outcome.state is RequestState.PARTLY_APPROVED
    assert outcome.cameras == (CAM2,) and outcome.window == narrower
    assert len(outcome.holds) == 2 and len(outcome.clip_jobs) == 1
    assert outcome.decision.reason == "cam-1 faces a private garden"
    assert outcome.summary.endswith("(cam-1 faces a private garden)")


def test_a_part_approval_of_everything_is_an_approval() -> None:
    outcome = decide(
        "R-7",
        REQUEST,
        RequestState.SUBMITTED,
        decision(DecisionKind.APPROVE_PART, cameras=(CAM2, CAM1), reason="all of it after all"),
    )
    assert outcome.state is RequestState.APPROVED
    assert outcome.cameras == (CAM1, CAM2)


def test_decline_needs_a_reason_and_makes_nothing() -> None:
    with pytest.raises(DecisionRefused, match="a decline needs a reason of at least 10"):
        decide(
            "R-7", REQUEST, RequestState.SUBMITTED, decision(DecisionKind.DECLINE, reason=" no ")
        )
    outcome = decide(
        "R-7",
        REQUEST,
        RequestState.SUBMITTED,
        decision(DecisionKind.DECLINE, reason="  Not proportionate to the offence. "),
    )
    assert outcome.state is RequestState.DECLINED
    assert outcome.holds == () and outcome.clip_jobs == () and outcome.window is None
    assert outcome.summary == "declined by sup-1: Not proportionate to the offence."


def test_part_approval_needs_a_reason() -> None:
    with pytest.raises(DecisionRefused, match="a part approval needs a reason"):
        decide(
            "R-7",
            REQUEST,
            RequestState.SUBMITTED,
            decision(DecisionKind.APPROVE_PART, cameras=(CAM1,)),
        )


def test_a_camera_not_asked_for_is_refused() -> None:
    with pytest.raises(DecisionRefused, match="camera town-centre/cam-3 was not asked for"):
        decide(
            "R-7",
            REQUEST,
            RequestState.SUBMITTED,
            decision(DecisionKind.APPROVE_PART, cameras=(CAM3,), reason="only the third one"),
        )


def test_a_repeated_camera_is_refused() -> None:
    with pytest.raises(DecisionRefused, match="approved twice"):
        decide(
            "R-7",
            REQUEST,
            RequestState.SUBMITTED,
            decision(DecisionKind.APPROVE_PART, cameras=(CAM1, CAM1), reason="only the first one"),
        )


@pytest.mark.parametrize(
    ("start", "end", "expected"),
    [
        (ASKED.start - timedelta(minutes=1), ASKED.end, "is not inside the window asked for"),
        (ASKED.start, ASKED.end + timedelta(seconds=1), "is not inside the window asked for"),
        (ASKED.end, ASKED.start, "ends at or before it starts"),
        (ASKED.start.replace(tzinfo=None), ASKED.end, "has no time zone"),
    ],
)
def test_a_window_outside_the_one_asked_is_refused(
    start: datetime, end: datetime, expected: str
) -> None:
    with pytest.raises(DecisionRefused, match=expected):
        decide(
            "R-7",
            REQUEST,
            RequestState.SUBMITTED,
            decision(
                DecisionKind.APPROVE_PART,
                window=IncidentWindow(start, end),
                reason="narrower window",
            ),
        )


@pytest.mark.parametrize("state", [s for s in RequestState if s is not RequestState.SUBMITTED])
def test_only_a_request_awaiting_a_decision_can_be_decided(state: RequestState) -> None:
    for kind, reason in ((DecisionKind.APPROVE, ""), (DecisionKind.DECLINE, "not proportionate")):
        with pytest.raises(IllegalTransition):
            decide("R-7", REQUEST, state, decision(kind, reason=reason))


def test_nobody_decides_a_request_they_own_or_filed() -> None:
    filed_for = replace(REQUEST, filed_by="op-1")
    for user in ("dc-smith", "op-1"):
        with pytest.raises(DecisionRefused, match="cannot decide it: another data controller"):
            decide(
                "R-7",
                filed_for,
                RequestState.SUBMITTED,
                decision(DecisionKind.APPROVE, decided_by=user),
            )


def test_hostile_reason_and_decider_are_refused() -> None:
    with pytest.raises(DecisionRefused, match="control character"):
        decide(
            "R-7",
            REQUEST,
            RequestState.SUBMITTED,
            decision(DecisionKind.DECLINE, reason="not proportionate\x1b[31m"),
        )
    with pytest.raises(DecisionRefused, match="at most 2000"):
        decide(
            "R-7",
            REQUEST,
            RequestState.SUBMITTED,
            decision(DecisionKind.DECLINE, reason="x" * 2001),
        )
    with pytest.raises(DecisionRefused, match="the deciding user"):
        decide(
            "R-7", REQUEST, RequestState.SUBMITTED, decision(DecisionKind.APPROVE, decided_by="")
        )


def test_a_rule_decision_names_the_rule() -> None:
    outcome = decide(
        "R-7",
        REQUEST,
        RequestState.SUBMITTED,
        decision(
            DecisionKind.APPROVE,
            decided_by="hub",
            rule="routine-short",
            reason="auto-approved by rule 'routine-short'",
        ),
    )
    assert outcome.summary.startswith("approved by rule 'routine-short': ")
