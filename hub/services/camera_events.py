"""Camera events (motion, tamper) the sites send, stored for the operator's timeline.

A ``CameraEvents`` message on ``sites/{site}/events`` is trusted for the site in its topic only
(the broker's ACL). Each event is one row keyed by (site, event id): an agent sends an event again
after a crash or an outage, and the repeat is ignored. Events are not footage and not evidence:
they say where to look, and a click on one asks for the footage around it.

Storage is ``hub.storage.ports.CameraEventLog`` (``uow.camera_events``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Final

from cctv_common.clock import utc_now
from cctv_common.wire.payloads import CameraEvents, InvalidPayload
from hub.domain.records import CameraEventRecord
from hub.storage.ports import HubStorage, UnitOfWork

log = logging.getLogger(__name__)

MAX_EVENTS_PER_ANSWER: Final = 5000
MAX_QUERY_WINDOW: Final = timedelta(days=31)
MAX_REMEMBERED_UNKNOWN: Final = 10_000


class CameraEventService:
    def __init__(self, storage: HubStorage, *, now: Callable[[], datetime] = utc_now) -> None:
        self._storage = storage
        self._now = now
        self._unknown_logged: set[str] = set()
        self.stored = 0  # new events stored since start, for tests and health

    async def apply(self, site_id: str, payload: bytes) -> int:
        """Store a site's ``CameraEvents`` message; how many events were new (0 if refused)."""
        try:
            message = CameraEvents.parse(payload)
        except InvalidPayload as exc:
            log.warning("site %s: camera events dropped: %s", site_id, exc)
            return 0
        now = self._now()

        def store(uow: UnitOfWork) -> int | None:
            if uow.sites.get(site_id) is None:
                return None
            return uow.camera_events.add(site_id, message.events, now)

        new = await self._storage.awrite(store)
        if new is None:
            if site_id not in self._unknown_logged:
                if len(self._unknown_logged) >= MAX_REMEMBERED_UNKNOWN:
                    self._unknown_logged.clear()
                self._unknown_logged.add(site_id)
                log.warning("site %s is not registered; its camera events are ignored", site_id)
            return 0
        self.stored += new
        repeated = len(message.events) - new
        log.info(
            "site %s: %d camera event(s) stored%s",
            site_id,
            new,
            f", {repeated} already held" if repeated else "",
        )
        return new

    async def between(
        self,
        site_id: str,
        camera_id: str,
        start: datetime,
        end: datetime,
        limit: int = MAX_EVENTS_PER_ANSWER,
    ) -> list[CameraEventRecord] | None:
        """A camera's events with ``start <= at < end``, oldest first, at most ``limit``; None
        when the site is not registered."""

        def read(uow: UnitOfWork) -> list[CameraEventRecord] | None:
            if uow.sites.get(site_id) is None:
                return None
            return uow.camera_events.between(site_id, camera_id, start, end, limit)

        return await self._storage.aread(read)
