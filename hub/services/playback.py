"""When a played clip gets a ``view`` row in the custody log: once per playback session.

A ``<video>`` element fetches a clip in many range requests (and again on every seek). One row
per request would bury the log, so a viewing session is one viewer (login session) on one clip,
with no more than ``window`` between its requests. Pure apart from the clock it is given.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Final

DEFAULT_WINDOW: Final = timedelta(minutes=30)
MAX_TRACKED: Final = 10_000


class ViewSessions:
    def __init__(self, window: timedelta = DEFAULT_WINDOW, max_tracked: int = MAX_TRACKED) -> None:
        self._window = window
        self._max = max_tracked
        self._last: dict[tuple[str, str], datetime] = {}

    def is_new_view(self, viewer: str, clip_id: str, now: datetime) -> bool:
        """Note a request; True when it starts a new viewing session (log a ``view`` row)."""
        key = (viewer, clip_id)
        last = self._last.get(key)
        self._last[key] = now
        if len(self._last) > self._max:
            self._prune(now)
        return last is None or now - last > self._window

    def _prune(self, now: datetime) -> None:
        for key, seen in list(self._last.items()):
            if now - seen > self._window:
                del self._last[key]
        while len(self._last) > self._max:  # all recent: forget the oldest
            del self._last[min(self._last, key=self._last.__getitem__)]
