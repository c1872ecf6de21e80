"""Where a request is in its life, and the only moves it may make: one table, checked everywhere.

    submitted --approve--> approved ---------\\
        |  \\---approve part--> partly approved --> fulfilling <--> ready --> released
        |---decline--> declined                                              |      |
        \\---withdraw--> withdrawn                               closed <-----/      |
                                                                  |   \\--> expired <-/
    declined, withdrawn, closed, expired --delete (supervisor, with a reason)--> deleted

``fulfilling -> ready`` when every clip job is stored and verified; ``ready -> fulfilling`` when an
operator re-runs or extends a camera's job; ``closed`` when the requester records the outcome (the
retention category then decides when it expires); ``expired -> closed`` when a review keeps it.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Final


class RequestState(StrEnum):
    SUBMITTED = "submitted"
    APPROVED = "approved"
    PARTLY_APPROVED = "partly_approved"
    DECLINED = "declined"
    WITHDRAWN = "withdrawn"
    FULFILLING = "fulfilling"
    READY = "ready"
    RELEASED = "released"
    CLOSED = "closed"
    EXPIRED = "expired"
    DELETED = "deleted"

    @property
    def label(self) -> str:
        """How a person says it: "awaiting a decision", "partly approved"."""
        return _LABELS.get(self, self.value.replace("_", " "))


_LABELS: Final = {RequestState.SUBMITTED: "awaiting a decision"}

_S = RequestState
TRANSITIONS: Final[dict[RequestState, frozenset[RequestState]]] = {
    _S.SUBMITTED: frozenset({_S.APPROVED, _S.PARTLY_APPROVED, _S.DECLINED, _S.WITHDRAWN}),
    _S.APPROVED: frozenset({_S.FULFILLING, _S.WITHDRAWN}),
    _S.PARTLY_APPROVED: frozenset({_S.FULFILLING, _S.WITHDRAWN}),
    _S.DECLINED: frozenset({_S.DELETED}),
    _S.WITHDRAWN: frozenset({_S.DELETED}),
    _S.FULFILLING: frozenset({_S.READY, _S.WITHDRAWN}),
    _S.READY: frozenset({_S.RELEASED, _S.FULFILLING}),
    _S.RELEASED: frozenset({_S.CLOSED, _S.EXPIRED}),
    _S.CLOSED: frozenset({_S.EXPIRED, _S.DELETED}),
    _S.EXPIRED: frozenset({_S.CLOSED, _S.DELETED}),
    _S.DELETED: frozenset(),
}

# What the request has to be for each move, in words ("it is not awaiting a decision").
_EXPECTED: Final = {
    _S.APPROVED: "awaiting a decision",
    _S.PARTLY_APPROVED: "awaiting a decision",
    _S.DECLINED: "awaiting a decision",
    _S.WITHDRAWN: "still open (submitted, approved or being fulfilled)",
    _S.FULFILLING: "approved or ready",
    _S.READY: "being fulfilled",
    _S.RELEASED: "ready for release (every clip stored and verified)",
    _S.CLOSED: "released or expired",
    _S.EXPIRED: "released or closed",
    _S.DELETED: "declined, withdrawn, closed or expired",
    _S.SUBMITTED: "new",
}

FINAL: Final = frozenset(state for state, nexts in TRANSITIONS.items() if not nexts)


class IllegalTransition(ValueError):
    """A move the table does not allow; the message says what the request is and should be."""

    def __init__(self, reference: str, current: RequestState, target: RequestState) -> None:
        self.reference = reference
        self.current = current
        self.target = target
        if current is target:
            message = f"request {reference} is already {current.label}"
        else:
            message = f"request {reference} is {current.label}; it is not {_EXPECTED[target]}"
        super().__init__(message)


def allowed(current: RequestState, target: RequestState) -> bool:
    return target in TRANSITIONS[current]


def check_transition(reference: str, current: RequestState, target: RequestState) -> RequestState:
    """``target`` if the move is allowed, else ``IllegalTransition`` with a message for people."""
    if not allowed(current, target):
        raise IllegalTransition(reference, current, target)
    return target
