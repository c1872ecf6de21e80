"""The recorder's narrow port to the segment index: what it writes, and how a write fails.

``SegmentIndex`` implements ``RecordingSink``; so does the pipe from a recorder process to the
agent's main process (``edge_agent.recording.recorder_process.PipeSink``), which alone writes the
index. This module imports no database code, so a recorder process starts without it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from edge_agent.recording.segments import Gap, Segment


class IndexWriteFailed(Exception):
    """The index could not be written (disk full, I/O error); the index itself is unchanged."""


class IndexUnreachable(IndexWriteFailed):
    """The process that owns the index is gone (the agent was killed). A finished segment file is
    then kept as it is: the agent's next start finds it unindexed and salvages it."""


class RecordingSink(Protocol):
    """Where a recorder's segments and gaps go. ``add_segment``, ``add_gap``, ``open_gap`` and
    ``close_gap`` raise ``IndexWriteFailed``."""

    def add_segment(self, segment: Segment) -> Segment: ...
    def add_gap(self, camera_id: str, gap: Gap) -> None: ...
    def open_gap(self, camera_id: str, gap: Gap) -> None: ...
    def close_gap(self, camera_id: str, gap: Gap, tolerance: float) -> Gap | None: ...
    def buffer_extent(self, camera_id: str) -> tuple[datetime, datetime] | None: ...
