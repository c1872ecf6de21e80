"""A clip job's state: the one list, and its allowed moves as a pure table.

The hub's jobs table (a CHECK constraint built by ``sql_check``), the hub's rules for progress
reports, the agent's outbox, ``JobProgress`` on the wire and the web page (through the API's
``ended`` flag) all use this.

- ``dispatched``: the hub stored and published the job; no word from the agent yet (hub only).
- ``queued``, ``cutting``, ``uploading``: where the agent is, as it reports it. ``cutting`` may go
  back to ``queued``: a cut interrupted by a restart is cut again from the start.
- ``stored``: the hub verified and stored the clip. That is the hub's own decision, never taken on
  an agent's word. Nothing moves a stored job.
- ``failed``: the agent could not cut, or the hub rejected or expired the upload. The job has ended
  (agents' reports no longer move it), but a clip for it that arrives and verifies afterwards is
  still stored and the job says so (``failed -> stored``): evidence is never thrown away for being
  late. A later rejection may give a new reason (``failed -> failed``).

A job in a state that has not ended may "move" to the same state: its percent changed.

There is no ``cancelled``: nothing ever set it. When a job ends the hub clears its retained
message, and an agent ignores a cleared job; cancelling work in progress needs its own design.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from types import MappingProxyType
from typing import Final


class JobState(StrEnum):
    DISPATCHED = "dispatched"
    QUEUED = "queued"
    CUTTING = "cutting"
    UPLOADING = "uploading"
    STORED = "stored"
    FAILED = "failed"


_AT_THE_AGENT: Final = frozenset(
    {JobState.QUEUED, JobState.CUTTING, JobState.UPLOADING, JobState.STORED, JobState.FAILED}
)

# Every allowed move: TRANSITIONS[from] is the set of states it may go to. Nothing else is.
TRANSITIONS: Final[Mapping[JobState, frozenset[JobState]]] = MappingProxyType(
    {
        JobState.DISPATCHED: _AT_THE_AGENT,
        JobState.QUEUED: _AT_THE_AGENT,
        JobState.CUTTING: _AT_THE_AGENT,
        JobState.UPLOADING: frozenset({JobState.UPLOADING, JobState.STORED, JobState.FAILED}),
        JobState.FAILED: frozenset({JobState.FAILED, JobState.STORED}),
        JobState.STORED: frozenset(),
    }
)

# The job has ended: its retained message is cleared and an agent's reports no longer move it.
FINAL_STATES: Final = frozenset({JobState.STORED, JobState.FAILED})
# What the agent keeps in its outbox and reports in ``JobProgress`` (all but ``dispatched``).
AGENT_STATES: Final = _AT_THE_AGENT


def can_move(current: JobState | str, to: JobState | str) -> bool:
    """Whether a job in ``current`` may move to ``to``; False for a name that is not a state."""
    try:
        return JobState(to) in TRANSITIONS[JobState(current)]
    except ValueError:
        return False


def is_final(state: JobState | str) -> bool:
    """Whether the job has ended (``stored`` or ``failed``)."""
    return state in FINAL_STATES


def sql_check(column: str = "state") -> str:
    """A SQL CHECK expression that lets ``column`` hold these states and nothing else."""
    return f"{column} IN ({', '.join(repr(state.value) for state in JobState)})"
