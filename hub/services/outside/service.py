"""Footage from elsewhere, wired: links, the tus server, arrival, the public routes' rate limits
and the sweep that discards uploads never finished before their link ended. Built by
``HubService``; ``start``/``stop`` run the sweep."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from datetime import datetime

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from hub.domain.uploads.links import UploadRefused
from hub.domain.uploads.rate import SlidingLimit
from hub.services.outside.arrival import Arrival
from hub.services.outside.items import OutsideItemReader
from hub.services.outside.links import UploadLinkService
from hub.services.outside.tus_server import TusServer
from hub.settings import HubSettings
from hub.storage.evidence.store import EvidenceStore
from hub.storage.ports import HubStorage

log = logging.getLogger(__name__)


class PublicGate:
    """Rate limits of the public upload routes, per client address: requests a minute, and
    unknown tokens an hour (so no one can try tokens in bulk)."""

    def __init__(self, per_minute: int, unknown_per_hour: int) -> None:
        self._requests = SlidingLimit(per_minute, 60.0)
        self._unknown = SlidingLimit(unknown_per_hour, 3600.0)

    def enter(self, address: str) -> None:
        now = time.monotonic()
        if self._unknown.full(address, now) or not self._requests.allow(address, now):
            raise UploadRefused(429, "too many requests from your address; try again later")

    def unknown_token(self, address: str) -> None:
        if not self._unknown.allow(address, time.monotonic()):
            log.warning("upload links: too many unknown tokens from %s", address)


class OutsideFootage:
    def __init__(
        self,
        settings: HubSettings,
        storage: HubStorage,
        store: EvidenceStore,
        hub_key: Ed25519PrivateKey,
        *,
        now: Callable[[], datetime],
    ) -> None:
        uploads = settings.uploads
        self.settings = uploads
        self.links = UploadLinkService(storage, uploads.bounds(), now=now)
        self.arrival = Arrival(storage, store, hub_key, settings.hub_id, now=now)
        self.tus = TusServer(
            storage, self.links, self.arrival, settings.upload_staging_dir, now=now
        )
        self.items = OutsideItemReader(storage)
        self.gate = PublicGate(uploads.requests_per_minute, uploads.unknown_tokens_per_hour)

    async def sweeping(self) -> None:
        """Run by ``HubService`` as a task until the hub stops."""
        while True:
            try:
                discarded = await self.tus.sweep()
                if discarded:
                    log.info("upload sweep: %s unfinished uploads discarded", discarded)
            except Exception:  # one bad sweep must not stop the next: logged with its cause
                log.exception("upload sweep failed")
            await asyncio.sleep(self.settings.sweep_seconds)
