"""Each site's upload cap as set at the hub: checked, kept, and published to the site as a signed,
retained ``UplinkCap`` on ``sites/{site}/settings/uplink`` (as hold orders are), again after every
reconnect. Clearing it hands the site back to its own config (``[uplink] max_mbps`` and
``[[uplink.cap]]``).

Why a signed retained message rather than a config push: the hub already signs what an agent must
obey (jobs, holds, acks) and the agent already checks those signatures; a retained message
reaches a site that is offline when the cap is set, as soon as it is back, and there is no
other path from the hub into an agent's config.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import datetime

from cctv_common.clock import utc_now
from cctv_common.wire.hub_signing import HubSigner
from cctv_common.wire.payloads import CapWindowPart, UplinkCap
from cctv_common.wire.topics import uplink_cap_topic
from hub.services.jobs import MessagePublisher
from hub.storage.ports import HubStorage, UnitOfWork

log = logging.getLogger(__name__)


class UplinkCapService:
    def __init__(
        self,
        storage: HubStorage,
        publish: MessagePublisher,
        signer: HubSigner,
        now: Callable[[], datetime] = utc_now,
    ) -> None:
        self._storage = storage
        self._publish = publish
        self._signer = signer
        self._now = now

    async def get(self, site_id: str) -> UplinkCap | None:
        return await self._storage.aread(lambda uow: uow.uplink_caps.get(site_id))

    async def set(
        self,
        site_id: str,
        *,
        max_mbps: float | None,
        windows: Sequence[CapWindowPart],
        by: str,
    ) -> UplinkCap:
        """Set the site's cap (``ValueError`` from the payload's checks when it cannot be read)."""
        cap = UplinkCap(max_mbps=max_mbps, windows=tuple(windows), set_at=self._now(), set_by=by)
        return await self._keep(site_id, cap)

    async def clear(self, site_id: str, *, by: str) -> UplinkCap:
        return await self._keep(site_id, UplinkCap(set_at=self._now(), set_by=by, cleared=True))

    async def _keep(self, site_id: str, cap: UplinkCap) -> UplinkCap:
        def write(uow: UnitOfWork) -> None:
            uow.uplink_caps.put(site_id, cap)

        await self._storage.awrite(write)
        self._send(site_id, cap)
        log.info(
            "site %s: upload cap %s by %s",
            site_id,
            "cleared" if cap.cleared else describe(cap),
            cap.set_by,
        )
        return cap

    def _send(self, site_id: str, cap: UplinkCap) -> None:
        topic = uplink_cap_topic(site_id)
        self._publish(topic, self._signer.seal(topic, cap), retain=True)

    async def republish(self) -> int:
        """Publish every site's cap again, freshly signed (after a reconnect)."""
        caps = await self._storage.aread(lambda uow: uow.uplink_caps.all())
        for site_id, cap in caps.items():
            self._send(site_id, cap)
        return len(caps)


def describe(cap: UplinkCap) -> str:
    parts = ["no cap" if cap.max_mbps is None else f"{cap.max_mbps:g} Mbit/s"]
    parts += [f"{w.mbps:g} Mbit/s {w.days} {w.start}-{w.end}" for w in cap.windows]
    return ", ".join(parts)
