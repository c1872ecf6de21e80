"""Every pair of request states: the table allows exactly the moves written out here, and refuses
the rest with a message that says what the request is."""

from __future__ import annotations

from itertools import product

import pytest

from hub.domain.requests.states import (
    FINAL,
    TRANSITIONS,
    IllegalTransition,
    RequestState,
    allowed,
    check_transition,
)

S = RequestState
# Written out by hand, apart from the table, so a change to either is caught.
LEGAL = {
    (S.SUBMITTED, S.APPROVED),
    (S.SUBMITTED, S.PARTLY_APPROVED),
    (S.SUBMITTED, S.DECLINED),
    (S.SUBMITTED, S.WITHDRAWN),
    (S.APPROVED, S.FULFILLING),
    (S.APPROVED, S.WITHDRAWN),
    (S.PARTLY_APPROVED, S.FULFILLING),
    (S.PARTLY_APPROVED, S.WITHDRAWN),
    (S.FULFILLING, S.READY),
    (S.FULFILLING, S.WITHDRAWN),
    (S.READY, S.RELEASED),
    (S.READY, S.FULFILLING),
    (S.RELEASED, S.CLOSED),
    (S.RELEASED, S.EXPIRED),
    (S.CLOSED, S.EXPIRED),
    (S.CLOSED, S.DELETED),
    (S.EXPIRED, S.CLOSED),
    (S.EXPIRED, S.DELETED),
    (S.DECLINED, S.DELETED),
    (S.WITHDRAWN, S.DELETED),
}


@pytest.mark.parametrize(("current", "target"), list(product(S, S)))
def test_every_pair(current: RequestState, target: RequestState) -> None:
    if (current, target) in LEGAL:
        assert check_transition("R-1", current, target) is target
        assert allowed(current, target)
    else:
        with pytest.raises(IllegalTransition) as caught:
            check_transition("R-1", current, target)
        assert not allowed(current, target)
        message = str(caught.value)
        assert message.startswith(f"request R-1 is {'already ' if current is target else ''}")
        assert (caught.value.current, caught.value.target) == (current, target)


def test_the_table_covers_every_state() -> None:
    assert set(TRANSITIONS) == set(S)


def test_the_issue_message() -> None:
    with pytest.raises(IllegalTransition) as caught:
        check_transition("R-12", S.RELEASED, S.APPROVED)
    assert str(caught.value) == "request R-12 is released; it is not awaiting a decision"


def test_decided_twice_message() -> None:
    with pytest.raises(IllegalTransition, match="R-3 is declined; it is not awaiting a decision"):
        check_transition("R-3", S.DECLINED, S.APPROVED)
    with pytest.raises(IllegalTransition, match="R-3 is already approved"):
        check_transition("R-3", S.APPROVED, S.APPROVED)


def test_release_of_a_request_still_being_fulfilled() -> None:
    with pytest.raises(IllegalTransition) as caught:
        check_transition("R-4", S.FULFILLING, S.RELEASED)
    assert str(caught.value) == (
        "request R-4 is fulfilling; it is not ready for release (every clip stored and verified)"
    )


def test_deleted_is_the_only_final_state_and_every_state_can_reach_it() -> None:
    assert FINAL == {S.DELETED}
    for start in S:
        seen, todo = {start}, [start]
        while todo:
            for nxt in TRANSITIONS[todo.pop()]:
                if nxt not in seen:
                    seen.add(nxt)
                    todo.append(nxt)
        assert S.DELETED in seen, start


def test_labels() -> None:
    assert S.SUBMITTED.label == "awaiting a decision"
    assert S.PARTLY_APPROVED.label == "partly approved"
