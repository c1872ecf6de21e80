"""The hub's MQTT link: the common bridge (``cctv_common.mqtt.bridge``) with the hub's login.

Client id ``hub-{hub_id}`` (the project's broker replaces it with the username), a persistent
session (MQTT 5, ``clean_start=False``, 7-day expiry by default) so that messages sent to the hub
while it is away wait at the broker, and ``hub_subscriptions`` (the ingest ones shared among
workers when ``[broker] shared_group`` is set), renewed at every connect. Events
(``Connected``, ``Disconnected``, ``Inbound`` with its topic already parsed, ``UnknownTopic``) come
on the ``EventQueue`` that ``HubService`` consumes; chunks past the queue's byte budget are
dropped and asked for again, nothing else is.

``publish`` is fire-and-forget for the hub's services: the message is queued at QoS 1 (kept by
paho while disconnected and sent on reconnect), and a broker that refuses it is logged.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Protocol

from cctv_common.mqtt.bridge import BridgeError, BrokerLogin, MqttBridge, PublishFailed
from cctv_common.mqtt.events import EventQueue
from cctv_common.wire.topics import hub_subscriptions
from hub.settings import BrokerSettings

log = logging.getLogger(__name__)


class MqttLink(Protocol):
    """What the hub needs from MQTT. ``HubMqtt`` is the real one; tests may pass their own."""

    @property
    def is_ready(self) -> bool:
        """Connected and subscribed."""
        ...

    async def start(self, events: EventQueue) -> None: ...

    async def stop(self) -> None: ...

    def publish(self, topic: str, payload: bytes, *, retain: bool = False) -> None:
        """QoS 1; queued by paho while disconnected and sent on reconnect."""
        ...


class MqttError(Exception):
    """The link cannot be set up (bad TLS files, no password)."""


class HubMqtt:
    """The real link: the common bridge, logged in as the hub."""

    def __init__(self, settings: BrokerSettings, hub_id: str) -> None:
        worker = "" if settings.worker_id is None else f"-{settings.worker_id}"
        self.client_id = f"hub-{hub_id}{worker}"
        login = BrokerLogin(
            host=settings.host,
            port=settings.port,
            client_id=self.client_id,
            username=settings.username,
            password=settings.resolved_password(),
            tls=settings.tls,
            ca_file=settings.ca_file,
            keepalive_seconds=settings.keepalive_seconds,
            session_expiry_seconds=settings.session_expiry_seconds,
            reconnect_min_seconds=settings.reconnect_min_seconds,
            reconnect_max_seconds=settings.reconnect_max_seconds,
        )
        try:
            self._bridge = MqttBridge(login, hub_subscriptions(settings.shared_group), "MQTT")
        except BridgeError as exc:
            raise MqttError(str(exc)) from exc

    @property
    def is_ready(self) -> bool:
        return self._bridge.is_ready

    async def start(self, events: EventQueue) -> None:
        await self._bridge.start(events)

    async def stop(self) -> None:
        await self._bridge.stop()

    def publish(self, topic: str, payload: bytes, *, retain: bool = False) -> None:
        try:
            future = self._bridge.publish_nowait(topic, payload, retain=retain)
        except BridgeError as exc:
            log.error("publish to %s failed: %s", topic, exc)
            return
        future.add_done_callback(lambda done: _log_refusal(topic, done))


def _log_refusal(topic: str, future: asyncio.Future[None]) -> None:
    if future.cancelled():
        return
    exc = future.exception()
    if isinstance(exc, PublishFailed):
        log.error("publish to %s failed: %s", topic, exc)
    elif exc is not None:
        log.warning("%s not delivered before the link stopped: %s", topic, exc)
