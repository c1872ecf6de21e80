"""The site's upload cap in force, and pacing every chunk to it: the hub's signed setting
(``UplinkCap`` on ``settings/uplink``) while there is one, else the config's ``[uplink] max_mbps``
and ``[[uplink.cap]]`` windows, in the site's local time (``cctv_common/uplink_cap.py``), through
one token bucket (``edge_agent/uplink/cap_rules.py``) shared by every upload."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from datetime import datetime
from typing import Final
from zoneinfo import ZoneInfo

from cctv_common.uplink_cap import cap_at
from cctv_common.wire.payloads import UplinkCap
from edge_agent.jobs.context import JobContext
from edge_agent.uplink.cap_rules import TokenBucket, mbps_to_bytes

log = logging.getLogger(__name__)

# How often the cap in force is worked out again from the local time.
CAP_CHECK_SECONDS: Final = 10.0


class UploadCap:
    def __init__(
        self,
        context: JobContext,
        *,
        clock: Callable[[], float] = time.monotonic,
        local_now: Callable[[], datetime] | None = None,
    ) -> None:
        self._context = context
        self._clock = clock
        uplink = context.config.uplink
        zone = ZoneInfo(uplink.timezone) if uplink.timezone else None
        self._local_now = local_now or (lambda: datetime.now(zone).astimezone(zone))
        self._cap_windows = [cap.window() for cap in uplink.cap]
        self._bucket = TokenBucket(None, clock())
        self._cap_checked_at: float | None = None
        self._hub_cap: UplinkCap | None = None

    def set_hub_cap(self, cap: UplinkCap) -> None:
        """The hub's signed cap for this site: in force instead of the config's until it is
        cleared; an order older than the one in force changes nothing (a replay)."""
        if self._hub_cap is not None and cap.set_at <= self._hub_cap.set_at:
            return
        self._hub_cap = cap
        self._cap_checked_at = None  # work the cap out again at the next chunk
        if cap.cleared:
            log.info(
                "site %s: the hub cleared its upload cap (set by %s); the config's applies",
                self._context.site_id,
                cap.set_by,
            )
        else:
            log.info(
                "site %s: upload cap set by the hub (%s): %s Mbit/s, %d window(s)",
                self._context.site_id,
                cap.set_by,
                "no cap" if cap.max_mbps is None else f"{cap.max_mbps:g}",
                len(cap.windows),
            )

    def cap_bytes_per_second(self) -> float | None:
        """The cap in force now (the hub's setting, else the config's windows and ``max_mbps``),
        in bytes per second."""
        hub = self._hub_cap
        if hub is not None and not hub.cleared:
            windows = [window.window() for window in hub.windows]
            mbps = cap_at(self._local_now(), hub.max_mbps, windows)
        else:
            uplink = self._context.config.uplink
            mbps = cap_at(self._local_now(), uplink.max_mbps, self._cap_windows)
        return None if mbps is None else mbps_to_bytes(mbps)

    async def pace(self, nbytes: int) -> None:
        now = self._clock()
        if self._cap_checked_at is None or now - self._cap_checked_at >= CAP_CHECK_SECONDS:
            self._cap_checked_at = now
            rate = self.cap_bytes_per_second()
            if rate != self._bucket.rate:
                log.info(
                    "site %s: evidence uploads %s",
                    self._context.site_id,
                    "uncapped" if rate is None else f"capped at {rate * 8 / 1e6:g} Mbit/s",
                )
            self._bucket.set_rate(rate, now)
        delay = self._bucket.delay(nbytes, now)
        if delay > 0:
            await asyncio.sleep(delay)
