"""A sliding-window limit per key (a client address): how the public upload routes are rate
limited. Pure state with the clock passed in; the routes hold one per kind of request."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field


@dataclass
class SlidingLimit:
    limit: int
    window_seconds: float
    max_keys: int = 10_000
    _hits: dict[str, deque[float]] = field(default_factory=dict)

    def allow(self, key: str, now: float) -> bool:
        """Count one hit for ``key``; False when it is over the limit within the window."""
        hits = self._hits.get(key)
        if hits is None:
            if len(self._hits) >= self.max_keys:
                self._forget_idle(now)
            hits = self._hits.setdefault(key, deque())
        while hits and hits[0] <= now - self.window_seconds:
            hits.popleft()
        if len(hits) >= self.limit:
            return False
        hits.append(now)
        return True

    def full(self, key: str, now: float) -> bool:
        """Whether ``key`` is at its limit (without counting a hit)."""
        hits = self._hits.get(key)
        if hits is None:
            return False
        return sum(1 for hit in hits if hit > now - self.window_seconds) >= self.limit

    def _forget_idle(self, now: float) -> None:
        horizon = now - self.window_seconds
        for key in [k for k, hits in self._hits.items() if not hits or hits[-1] <= horizon]:
            del self._hits[key]
        while len(self._hits) >= self.max_keys:
            del self._hits[next(iter(self._hits))]
