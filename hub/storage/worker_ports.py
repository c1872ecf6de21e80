"""The ports several hub workers coordinate through (issue 16): leases on background jobs, the
one dispatch of each part of a request, and live sessions any worker can continue."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

# (request, site, camera, part start, part end): one part of an approved camera's window.
PartKey = tuple[str, str, str, datetime, datetime]


@dataclass(frozen=True)
class LiveSessionRecord:
    session_id: str
    site_id: str
    camera_id: str
    username: str
    worker: str
    started_at: datetime

    @property
    def subject(self) -> str:
        return f"camera:{self.site_id}/{self.camera_id}"


class Leases(Protocol):
    def take(
        self, name: str, holder: str, now: datetime, expires: datetime, *, heir_of: str = ""
    ) -> bool:
        """Take or renew ``name`` for ``holder``; False while another holds it unexpired,
        unless that holder starts with ``heir_of`` (this worker's earlier process)."""
        ...

    def release(self, name: str, holder: str) -> None: ...

    def holders(self, now: datetime) -> dict[str, str]:
        """Each unexpired lease: name -> holder."""
        ...


class DispatchClaims(Protocol):
    def claim(self, part: PartKey, claimant: str, now: datetime, stale_before: datetime) -> bool:
        """Claim the one dispatch of ``part``; False when it is (being) dispatched elsewhere."""
        ...

    def settle(self, part: PartKey, claimant: str, job_id: str | None) -> None:
        """Record the part's job, or drop the claim (None: no job could be made)."""
        ...


class LiveSessions(Protocol):
    def add(self, session: LiveSessionRecord) -> None: ...

    def open(self, session_id: str) -> LiveSessionRecord | None:
        """The session while it has not ended."""
        ...

    def end(self, session_id: str, now: datetime) -> bool:
        """Mark it ended; False when it had already ended."""
        ...

    def open_all(self) -> list[LiveSessionRecord]:
        """Every open session, oldest first."""
        ...
