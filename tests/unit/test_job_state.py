"""JobState: every allowed move and every refused one, spelled out, so a change to the table is a
change to this test too."""

from __future__ import annotations

import itertools

import pytest

from cctv_common.wire.job_state import (
    AGENT_STATES,
    FINAL_STATES,
    TRANSITIONS,
    JobState,
    can_move,
    is_final,
    sql_check,
)

D, Q, C, U, S, F = (
    JobState.DISPATCHED,
    JobState.QUEUED,
    JobState.CUTTING,
    JobState.UPLOADING,
    JobState.STORED,
    JobState.FAILED,
)

ALLOWED = {
    # The agent reports where it is; a dispatched job may be reported at any stage, since the
    # hub may have missed earlier reports (a broker that was away), and the hub stores or fails.
    (D, Q), (D, C), (D, U), (D, S), (D, F),
    (Q, Q), (Q, C), (Q, U), (Q, S), (Q, F),
    # A cut interrupted by a restart is cut again: cutting -> queued.
    (C, Q), (C, C), (C, U), (C, S), (C, F),
    # Once a clip is offered there is no going back to cutting.
    (U, U), (U, S), (U, F),
    # A failed job may get a new reason, or a clip that arrives and verifies late.
    (F, F), (F, S),
}  # fmt: skip


@pytest.mark.parametrize("move", sorted(ALLOWED))
def test_allowed_moves(move: tuple[JobState, JobState]) -> None:
    assert can_move(*move)


REFUSED = sorted(set(itertools.product(JobState, JobState)) - ALLOWED)


@pytest.mark.parametrize("move", REFUSED)
def test_every_other_move_is_refused(move: tuple[JobState, JobState]) -> None:
    assert not can_move(*move)


def test_the_table_is_exactly_the_allowed_moves() -> None:
    assert {(a, b) for a, targets in TRANSITIONS.items() for b in targets} == ALLOWED
    assert set(TRANSITIONS) == set(JobState)


def test_nothing_goes_back_to_dispatched_and_nothing_leaves_stored() -> None:
    assert all(not can_move(state, D) for state in JobState)
    assert all(not can_move(S, state) for state in JobState)


def test_names_that_are_not_states_are_refused() -> None:
    assert not can_move("queued", "cancelled")
    assert not can_move("cancelled", "queued")
    assert can_move("queued", "cutting")  # the wire's and the database's plain strings work


def test_final_and_agent_states() -> None:
    assert FINAL_STATES == {S, F}
    assert [state for state in JobState if is_final(state)] == [S, F]
    assert is_final("stored") and not is_final("uploading")
    assert set(JobState) - AGENT_STATES == {D}


def test_the_sql_check_names_every_state() -> None:
    assert sql_check() == (
        "state IN ('dispatched', 'queued', 'cutting', 'uploading', 'stored', 'failed')"
    )
