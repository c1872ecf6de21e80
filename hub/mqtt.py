"""The hub's MQTT link: paho-mqtt 2 on its own network thread, bridged into asyncio.

paho runs ``loop_start()``: its thread connects, reconnects with backoff after a broker restart
or a network drop, and calls our callbacks. The callbacks never do work themselves; they hand an
event (``Connected``, ``Disconnected``, ``Inbound``) to the event loop with
``loop.call_soon_threadsafe`` into an ``EventQueue``. The session is persistent (MQTT 5,
``clean_start=False``, client id ``hub-{hub_id}``, which the project's broker replaces with the
username, 7-day expiry), so messages sent to the hub while it is away wait at the broker.
Subscriptions are renewed on every connect.

Chunks are the only messages that may be dropped here: when chunk bytes waiting in memory pass
``max_queued_chunk_bytes`` (a slow disk), further chunks are dropped with a log line and the
upload protocol asks for them again. Status, progress and offers are never dropped.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import threading
from dataclasses import dataclass, field
from typing import Final, Protocol

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from paho.mqtt.subscribeoptions import SubscribeOptions

from cctv_common.mqtt.session import connect_persistent
from cctv_common.wire.topics import HUB_SUBSCRIPTIONS
from hub.settings import BrokerSettings

log = logging.getLogger(__name__)

QOS: Final = 1
_CHUNK_MARK: Final = "/chunk/"


@dataclass(frozen=True)
class Connected:
    """Connected and subscribed; ``session_present``: the broker kept our session."""

    session_present: bool


@dataclass(frozen=True)
class Disconnected:
    reason: str


@dataclass(frozen=True)
class Inbound:
    topic: str
    payload: bytes = field(repr=False)

    @property
    def is_chunk(self) -> bool:
        return _CHUNK_MARK in self.topic


LinkEvent = Connected | Disconnected | Inbound


class EventQueue:
    """An asyncio queue fed from another thread, with a byte budget for chunks."""

    def __init__(self, loop: asyncio.AbstractEventLoop, max_chunk_bytes: int) -> None:
        self._loop = loop
        self._queue: asyncio.Queue[LinkEvent] = asyncio.Queue()
        self._max_chunk_bytes = max_chunk_bytes
        self._chunk_bytes = 0
        self._lock = threading.Lock()
        self.dropped_chunks = 0

    def put_threadsafe(self, event: LinkEvent) -> bool:
        """Hand ``event`` to the loop (from any thread); False if a chunk was dropped instead."""
        if isinstance(event, Inbound) and event.is_chunk:
            with self._lock:
                if self._chunk_bytes + len(event.payload) > self._max_chunk_bytes:
                    self.dropped_chunks += 1
                    return False
                self._chunk_bytes += len(event.payload)
        try:
            self._loop.call_soon_threadsafe(self._queue.put_nowait, event)
        except RuntimeError:  # the loop is closed: the hub is shutting down
            return False
        return True

    def put_nowait(self, event: LinkEvent) -> None:
        """Add an event from the loop's own thread."""
        if isinstance(event, Inbound) and event.is_chunk:
            with self._lock:
                self._chunk_bytes += len(event.payload)
        self._queue.put_nowait(event)

    async def get(self) -> LinkEvent:
        return await self._queue.get()

    def done(self, event: LinkEvent) -> None:
        """Called once an event is handled, to give its bytes back to the budget."""
        if isinstance(event, Inbound) and event.is_chunk:
            with self._lock:
                self._chunk_bytes -= len(event.payload)

    @property
    def chunk_bytes(self) -> int:
        with self._lock:
            return self._chunk_bytes

    def qsize(self) -> int:
        return self._queue.qsize()


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
    """The real link: paho-mqtt 2, callback API 2, MQTT 5, persistent session."""

    def __init__(self, settings: BrokerSettings, hub_id: str) -> None:
        self._settings = settings
        self.client_id = f"hub-{hub_id}"
        self._events: EventQueue | None = None
        self._ready = threading.Event()
        self._started = False
        self._client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=self.client_id,
            protocol=mqtt.MQTTv5,
            reconnect_on_failure=True,
        )
        password = settings.resolved_password()
        self._client.username_pw_set(settings.username, password)
        if settings.tls:
            try:
                self._client.tls_set(
                    ca_certs=None if settings.ca_file is None else str(settings.ca_file),
                    cert_reqs=ssl.CERT_REQUIRED,
                    tls_version=ssl.PROTOCOL_TLS_CLIENT,
                )
            except (OSError, ssl.SSLError, ValueError) as exc:
                raise MqttError(f"cannot set up TLS to the broker: {exc}") from exc
        self._client.reconnect_delay_set(
            min_delay=settings.reconnect_min_seconds,
            max_delay=max(settings.reconnect_min_seconds, settings.reconnect_max_seconds),
        )
        self._client.on_connect = self._on_connect
        self._client.on_disconnect = self._on_disconnect
        self._client.on_subscribe = self._on_subscribe
        self._client.on_message = self._on_message
        self._subscribe_mid: int | None = None
        self._session_present = False

    @property
    def is_ready(self) -> bool:
        return self._ready.is_set()

    async def start(self, events: EventQueue) -> None:
        self._events = events
        connect_persistent(
            self._client,
            self._settings.host,
            self._settings.port,
            self._settings.keepalive_seconds,
            self._settings.session_expiry_seconds,
        )
        self._started = True
        log.info(
            "MQTT client %s connecting to %s:%s as %s",
            self.client_id,
            self._settings.host,
            self._settings.port,
            self._settings.username,
        )

    async def stop(self) -> None:
        if not self._started:
            return
        self._started = False
        self._ready.clear()
        await asyncio.to_thread(self._stop_blocking)

    def _stop_blocking(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()
        log.info("MQTT client %s stopped", self.client_id)

    def publish(self, topic: str, payload: bytes, *, retain: bool = False) -> None:
        info = self._client.publish(topic, payload, qos=QOS, retain=retain)
        if info.rc not in (mqtt.MQTT_ERR_SUCCESS, mqtt.MQTT_ERR_NO_CONN):
            log.error("publish to %s failed: %s", topic, mqtt.error_string(info.rc))
        elif info.rc == mqtt.MQTT_ERR_NO_CONN:
            log.debug("broker not connected; %s queued until it is", topic)

    # paho callbacks: on paho's network thread. They only hand events to the loop.

    def _emit(self, event: LinkEvent) -> None:
        if self._events is not None and not self._events.put_threadsafe(event):
            if isinstance(event, Inbound):
                log.warning(
                    "chunk %s dropped: ingest is behind; it will be asked for again", event.topic
                )

    def _on_connect(
        self,
        client: mqtt.Client,
        userdata: object,
        flags: mqtt.ConnectFlags,
        reason_code: ReasonCode,
        properties: Properties | None,
    ) -> None:
        if reason_code.is_failure:
            log.error(
                "broker %s:%s refused the hub's login as %s: %s (retrying)",
                self._settings.host,
                self._settings.port,
                self._settings.username,
                reason_code,
            )
            return
        self._session_present = bool(flags.session_present)
        log.info(
            "MQTT connected to %s:%s (session present: %s); subscribing",
            self._settings.host,
            self._settings.port,
            self._session_present,
        )
        topics = [
            (sub.filter, SubscribeOptions(qos=QOS, noLocal=sub.no_local))
            for sub in HUB_SUBSCRIPTIONS
        ]
        result, mid = client.subscribe(topics)
        if result != mqtt.MQTT_ERR_SUCCESS:
            log.error("subscribe not sent: %s", mqtt.error_string(result))
            return
        self._subscribe_mid = mid

    def _on_subscribe(
        self,
        client: mqtt.Client,
        userdata: object,
        mid: int,
        reason_codes: list[ReasonCode],
        properties: Properties | None,
    ) -> None:
        if mid != self._subscribe_mid:
            return
        refused = [
            f"{sub.filter}: {code}"
            for sub, code in zip(HUB_SUBSCRIPTIONS, reason_codes, strict=False)
            if code.is_failure
        ]
        if refused:
            log.error("broker refused subscriptions (check its ACL): %s", "; ".join(refused))
        self._ready.set()
        self._emit(Connected(self._session_present))

    def _on_disconnect(
        self,
        client: mqtt.Client,
        userdata: object,
        flags: mqtt.DisconnectFlags,
        reason_code: ReasonCode,
        properties: Properties | None,
    ) -> None:
        was_ready = self._ready.is_set()
        self._ready.clear()
        if was_ready:
            log.warning(
                "MQTT disconnected from %s:%s: %s (reconnecting)",
                self._settings.host,
                self._settings.port,
                reason_code,
            )
            self._emit(Disconnected(str(reason_code)))

    def _on_message(self, client: mqtt.Client, userdata: object, message: mqtt.MQTTMessage) -> None:
        try:
            topic = message.topic
        except UnicodeDecodeError:
            log.warning("dropped a message whose topic is not UTF-8")
            return
        self._emit(Inbound(topic, bytes(message.payload)))
