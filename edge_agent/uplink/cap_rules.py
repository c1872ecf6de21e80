"""The token bucket that holds evidence uploads to the site's cap (``cctv_common/uplink_cap.py``
says which cap is in force when). Pure (no I/O, no clock)."""

from __future__ import annotations

from typing import Final

# The bucket holds at most this much of the rate (a short burst, as a router's shaper allows).
BURST_SECONDS: Final = 0.25


class TokenBucket:
    """Paces sends to ``rate`` bytes per second with a burst of ``BURST_SECONDS`` of it.

    ``delay(nbytes, now)`` takes ``nbytes`` and says how long to wait before sending them; a
    chunk larger than the burst borrows, and the next one waits for the debt. A rate of None
    sends at once. Changing the rate keeps what was taken.
    """

    def __init__(self, rate: float | None, now: float) -> None:
        self._rate: float | None = None
        self._tokens = 0.0
        self._at = now
        self.set_rate(rate, now)

    @property
    def rate(self) -> float | None:
        return self._rate

    def set_rate(self, rate: float | None, now: float) -> None:
        if rate is not None and not rate > 0:
            raise ValueError(f"rate {rate!r} must be positive")
        self._refill(now)
        if rate != self._rate:
            self._rate = rate
            if rate is not None:
                self._tokens = min(self._tokens, rate * BURST_SECONDS)

    def _refill(self, now: float) -> None:
        if self._rate is not None and now > self._at:
            self._tokens = min(
                self._rate * BURST_SECONDS, self._tokens + (now - self._at) * self._rate
            )
        self._at = max(self._at, now)

    def delay(self, nbytes: int, now: float) -> float:
        if self._rate is None:
            return 0.0
        self._refill(now)
        self._tokens -= nbytes
        if self._tokens >= 0:
            return 0.0
        return -self._tokens / self._rate


def mbps_to_bytes(mbps: float) -> float:
    return mbps * 1_000_000 / 8
