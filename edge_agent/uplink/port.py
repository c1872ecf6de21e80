"""What the agent's parts need of the uplink: the one port they publish through.

``edge_agent.uplink.connection.Uplink`` implements it; tests pass a recording stand-in. The job
runner needs the connection state (a new connection re-offers every pending clip) and a publish
that does not wait; the event and snapshot senders wait for the broker's PUBACK.
"""

from __future__ import annotations

import asyncio
from typing import Protocol


class UplinkPort(Protocol):
    @property
    def connected(self) -> bool: ...

    @property
    def connects(self) -> int:
        """How many times the connection has been (re)established."""
        ...

    async def wait_connected(self) -> None: ...

    def publish_nowait(
        self, topic: str, payload: bytes, *, retain: bool = False
    ) -> asyncio.Future[None]:
        """Queue a QoS 1 message; the future resolves on the broker's PUBACK."""
        ...

    async def publish(self, topic: str, payload: bytes, *, retain: bool = False) -> None:
        """Resolve once the broker has the message (QoS 1 PUBACK); raise if it refuses."""
        ...
