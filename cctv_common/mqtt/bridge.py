"""THE paho-mqtt <-> asyncio bridge, used by the agent's uplink and the hub's MQTT link alike.

paho-mqtt 2 (callback API 2, MQTT 5) runs its own network thread (``loop_start``): it connects in
the background, reconnects with a backoff after a broker restart or a network drop, and calls our
callbacks. The session is persistent (``cctv_common.mqtt.session``), so what is sent to a client
while it is away waits at the broker. Subscriptions are renewed at every connect.

Threads: the callbacks never touch the owner's state. Each inbound message's topic is parsed once,
here, into its typed topic (``cctv_common.wire.topics``); the event (``Connected``,
``Disconnected``, ``Inbound``, ``UnknownTopic``: ``cctv_common.mqtt.events``) goes onto an
``EventQueue`` that the owner reads on its event loop, in the order paho saw them. ``Connected``
comes once the broker has answered the subscriptions (SUBACK), so an owner that (re)publishes on it
does so subscribed.

Reconnecting (``cctv_common.mqtt.reconnect``): the bridge paces paho's reconnect attempts itself
(``on_pre_connect``): jittered, doubling from ``reconnect_min_seconds`` to
``reconnect_max_seconds``, and up to ``reconnect_slow_max_seconds`` once the broker has been out of
reach for ``reconnect_slow_after_seconds``. With ``dead_link_seconds`` the socket closes once sent
data has gone that long unacknowledged (``TCP_USER_TIMEOUT``), so a connection stuck behind a
dead line is replaced as soon as the line is back instead of when TCP's backoff next retries.

Publishing: ``publish_nowait`` (on the loop) queues a QoS 1 message and returns a future that the
loop resolves when the broker's PUBACK arrives, or fails when the broker refuses it. The future is
created in the same loop step as paho's ``publish`` call and the PUBACK is handed over with
``call_soon_threadsafe``, so the future always exists before its PUBACK is looked up. A message
published while the connection is down stays in paho's queue and is sent on reconnect.

Chunks are the only messages that may be dropped here: when the chunk bytes waiting on the queue
pass its budget (a slow disk at the hub), further chunks are dropped with a log line and the
upload protocol asks for them again. Nothing else is ever dropped.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import random
import socket
import ssl
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from paho.mqtt.subscribeoptions import SubscribeOptions

from cctv_common.mqtt.congestion import set_congestion_control
from cctv_common.mqtt.events import (
    BridgeEvent,
    Connected,
    Disconnected,
    EventQueue,
    Inbound,
    inbound,
)
from cctv_common.mqtt.reconnect import ReconnectPolicy, reconnect_delay, set_dead_link_timeout
from cctv_common.mqtt.session import connect_persistent
from cctv_common.wire.topics import Subscription

log = logging.getLogger(__name__)

QOS: Final = 1


class BridgeError(Exception):
    """The bridge cannot do what was asked (bad TLS files, not started, stopped)."""


class PublishFailed(BridgeError):
    """paho could not queue a message, or the broker refused it in its PUBACK."""


@dataclass(frozen=True)
class BrokerLogin:
    """Where the broker is and who we are to it."""

    host: str
    port: int
    client_id: str
    username: str
    password: str | None = field(default=None, repr=False)
    tls: bool = False
    ca_file: Path | None = None
    keepalive_seconds: int = 60
    session_expiry_seconds: int = 7 * 24 * 3600
    reconnect_min_seconds: int = 1
    reconnect_max_seconds: int = 60
    # Out of reach this long: waits grow up to reconnect_slow_max_seconds (None: never).
    reconnect_slow_after_seconds: float | None = None
    reconnect_slow_max_seconds: int = 30
    # One connect attempt (TCP, and TLS's handshake) gives up after this long.
    connect_timeout_seconds: float = 5.0
    # Sent data unacknowledged this long: the connection is dead (None: the kernel's default).
    dead_link_seconds: float | None = None
    # QoS 1 messages in flight before waiting for PUBACKs (None: paho's default of 20). It must
    # not exceed the broker's Receive Maximum, or the broker disconnects the client.
    max_inflight: int | None = None
    # A retained QoS 1 last will: (topic, payload).
    will: tuple[str, bytes] | None = field(default=None, repr=False)
    # TCP congestion control of the socket ("bbr"; None: the system's, untouched).
    congestion_control: str | None = None


class MqttBridge:
    """One paho client owned by an asyncio loop. ``name`` starts every log line ("site s1:
    uplink", "MQTT"), so each program's lines read as they always have."""

    def __init__(
        self, login: BrokerLogin, subscriptions: Sequence[Subscription], name: str
    ) -> None:
        self.login = login
        self.name = name
        self._subscriptions = tuple(subscriptions)
        self._events: EventQueue | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ready = threading.Event()
        self._connected = asyncio.Event()
        self._pending: dict[int, asyncio.Future[None]] = {}
        self._subscribe_mid: int | None = None
        self._session_present = False
        self._started = False
        self._stopped = False
        self.connects = 0

        client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=login.client_id,
            protocol=mqtt.MQTTv5,
            reconnect_on_failure=True,
        )
        client.username_pw_set(login.username, login.password or None)
        if login.tls:
            try:
                context = ssl.create_default_context(
                    cafile=None if login.ca_file is None else str(login.ca_file)
                )
            except (OSError, ssl.SSLError, ValueError) as exc:
                raise BridgeError(f"{name}: cannot set up TLS to the broker: {exc}") from exc
            client.tls_set_context(context)
        if login.will is not None:
            client.will_set(login.will[0], login.will[1], qos=QOS, retain=True)
        cap = max(login.reconnect_min_seconds, login.reconnect_max_seconds)
        self._reconnect_policy = ReconnectPolicy(
            first_seconds=login.reconnect_min_seconds,
            cap_seconds=cap,
            slow_after_seconds=login.reconnect_slow_after_seconds,
            slow_cap_seconds=max(cap, login.reconnect_slow_max_seconds),
        )
        # paho waits nothing of its own: _paho_pre_connect paces every attempt.
        client.reconnect_delay_set(0, 0)
        client.connect_timeout = login.connect_timeout_seconds
        client.on_pre_connect = self._paho_pre_connect
        self._jitter = random.Random()
        self._stop_waiting = threading.Event()
        self._failed_attempts = 0
        self._unreachable_since: float | None = None
        # The drop or the last attempt's start: the pacing counts from there.
        self._paced_from = 0.0
        # Connect attempts made (paho's thread counts; anyone may read).
        self.connect_attempts = 0
        if login.max_inflight is not None:
            client.max_inflight_messages_set(login.max_inflight)
        client.max_queued_messages_set(0)
        client.on_connect = self._paho_connect
        client.on_disconnect = self._paho_disconnect
        client.on_subscribe = self._paho_subscribe
        client.on_message = self._paho_message
        client.on_publish = self._paho_publish
        client.on_socket_open = self._paho_socket_open
        self._congestion_logged: str | None = None
        self._dead_link_warned = False
        self._client = client

    # Life cycle (on the loop).

    @property
    def is_ready(self) -> bool:
        """Connected and subscribed (readable from any thread)."""
        return self._ready.is_set()

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    async def wait_connected(self) -> None:
        await self._connected.wait()

    async def start(self, events: EventQueue) -> None:
        """Start connecting in the background (paho retries until the broker answers)."""
        if self._started:
            raise BridgeError(f"{self.name}: already started")
        self._started = True
        self._loop = asyncio.get_running_loop()
        self._events = events
        login = self.login
        log.info(
            "%s connecting to %s:%s as %s (client id %s, TLS %s)",
            self.name,
            login.host,
            login.port,
            login.username,
            login.client_id,
            "on" if login.tls else "off",
        )
        connect_persistent(
            self._client,
            login.host,
            login.port,
            login.keepalive_seconds,
            login.session_expiry_seconds,
        )

    async def stop(self) -> None:
        """Disconnect, stop paho's thread, fail what is still waiting for a PUBACK."""
        if not self._started or self._stopped:
            return
        self._stopped = True
        self._ready.clear()
        await asyncio.to_thread(self._stop_blocking)
        for future in self._pending.values():
            if not future.done():
                future.set_exception(BridgeError(f"{self.name}: stopped"))
                future.exception()  # mark retrieved: nobody may be waiting on it any more
        self._pending.clear()
        self._connected.clear()
        log.info("%s stopped", self.name)

    def _stop_blocking(self) -> None:
        self._stop_waiting.set()
        self._client.disconnect()
        self._client.loop_stop()

    # Publishing (on the loop).

    def publish_nowait(
        self, topic: str, payload: bytes, *, retain: bool = False
    ) -> asyncio.Future[None]:
        """Queue a QoS 1 message; the future resolves on the broker's PUBACK."""
        if self._loop is None:
            raise BridgeError(f"{self.name}: not started")
        if self._stopped:
            raise BridgeError(f"{self.name}: stopped")
        future: asyncio.Future[None] = self._loop.create_future()
        info = self._client.publish(topic, payload, qos=QOS, retain=retain)
        # NO_CONN: paho keeps the message and sends it when the connection is back.
        if info.rc not in (mqtt.MQTT_ERR_SUCCESS, mqtt.MQTT_ERR_NO_CONN):
            future.set_exception(
                PublishFailed(f"paho did not queue {topic}: {mqtt.error_string(info.rc)}")
            )
            return future
        self._pending[info.mid] = future
        future.add_done_callback(functools.partial(self._forget, info.mid))
        return future

    async def publish(self, topic: str, payload: bytes, *, retain: bool = False) -> None:
        """Publish at QoS 1 and wait for the PUBACK (without blocking the loop)."""
        await self.publish_nowait(topic, payload, retain=retain)

    def _forget(self, mid: int, future: asyncio.Future[None]) -> None:
        # A caller that gave up (cancelled, timed out) leaves no entry behind.
        if self._pending.get(mid) is future:
            del self._pending[mid]

    # paho callbacks: on paho's network thread. They only hand events to the loop.

    def _to_loop(self, callback: functools.partial[None]) -> None:
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        try:
            loop.call_soon_threadsafe(callback)
        except RuntimeError:
            pass  # the loop closed between the check and the call: the owner is shutting down

    def _emit(self, event: BridgeEvent) -> None:
        if self._events is not None and not self._events.put_threadsafe(event):
            if isinstance(event, Inbound):
                log.warning(
                    "%s: chunk %s dropped: ingest is behind; it will be asked for again",
                    self.name,
                    event.topic,
                )

    def _paho_pre_connect(self, client: mqtt.Client, userdata: object) -> None:
        # Called by paho before every connect attempt; the first one goes at once.
        self.connect_attempts += 1
        now = time.monotonic()
        if self._unreachable_since is None:
            self._unreachable_since = now
        if self.connect_attempts > 1:
            self._failed_attempts += 1
            delay = reconnect_delay(
                self._reconnect_policy,
                self._failed_attempts,
                now - self._unreachable_since,
                self._jitter.random(),
            )
            # The pacing spaces the starts of attempts: one that timed out on a dead line has
            # waited already (it sent only SYNs), one the broker refused at once has not.
            self._stop_waiting.wait(max(0.0, delay - (now - self._paced_from)))
        self._paced_from = time.monotonic()

    def _paho_socket_open(self, client: mqtt.Client, userdata: object, sock: object) -> None:
        if not isinstance(sock, socket.socket):
            return
        if self.login.dead_link_seconds is not None:
            error = set_dead_link_timeout(sock, self.login.dead_link_seconds)
            if error is not None and not self._dead_link_warned:
                log.warning("%s: no dead-link timeout on the socket: %s", self.name, error)
                self._dead_link_warned = True
        # paho leaves Nagle on: a small message (a job, an ack) written while an earlier packet
        # (the PUBACK of a chunk) is still unacknowledged waits for the peer's ACK. Measured at
        # the hub: 12 ms p50 from paho's write to the site, against 1 ms for an idle client.
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError as exc:
            log.debug("%s: TCP_NODELAY not set: %s", self.name, exc)
        wanted = self.login.congestion_control
        if wanted is None:
            return
        result = set_congestion_control(sock, wanted)
        line = f"TCP congestion control {result.got}"
        if result.ok:
            if line != self._congestion_logged:
                log.info("%s: %s (asked for %s)", self.name, line, wanted)
        elif line != self._congestion_logged:
            log.warning(
                "%s: TCP congestion control %s not available (%s); using %s",
                self.name,
                wanted,
                result.error or "the kernel chose another",
                result.got,
            )
        self._congestion_logged = line

    def _paho_connect(
        self,
        client: mqtt.Client,
        userdata: object,
        flags: mqtt.ConnectFlags,
        reason_code: ReasonCode,
        properties: Properties | None,
    ) -> None:
        login = self.login
        if reason_code.is_failure:
            log.error(
                "%s: broker %s:%s refused the login as %s: %s (retrying)",
                self.name,
                login.host,
                login.port,
                login.username,
                reason_code,
            )
            return
        receive_maximum = getattr(properties, "ReceiveMaximum", None)
        if receive_maximum is not None and receive_maximum < client.max_inflight_messages:
            log.warning(
                "%s: broker allows %s messages in flight, fewer than the %s configured;"
                " raise the broker's max_inflight_messages",
                self.name,
                receive_maximum,
                client.max_inflight_messages,
            )
        self._session_present = bool(flags.session_present)
        self._failed_attempts = 0
        self._unreachable_since = None
        log.info(
            "%s connected to %s:%s (session %s); subscribing",
            self.name,
            login.host,
            login.port,
            "resumed" if self._session_present else "new",
        )
        if not self._subscriptions:
            self._subscribed()
            return
        # Subscribed again at every connect: cheap, and the broker then sends retained messages
        # again (an agent's jobs), so what a restart missed comes back.
        result, mid = client.subscribe(
            [
                (sub.filter, SubscribeOptions(qos=QOS, noLocal=sub.no_local))
                for sub in self._subscriptions
            ]
        )
        if result != mqtt.MQTT_ERR_SUCCESS:
            log.error("%s: subscribe not sent: %s", self.name, mqtt.error_string(result))
            return
        self._subscribe_mid = mid

    def _paho_subscribe(
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
            for sub, code in zip(self._subscriptions, reason_codes, strict=False)
            if code.is_failure
        ]
        if refused:
            log.error(
                "%s: broker refused subscriptions (check its ACL): %s",
                self.name,
                "; ".join(refused),
            )
        self._subscribed()

    def _subscribed(self) -> None:
        self._ready.set()
        self._to_loop(functools.partial(self._connected_on_loop))
        self._emit(Connected(self._session_present))

    def _paho_disconnect(
        self,
        client: mqtt.Client,
        userdata: object,
        flags: mqtt.DisconnectFlags,
        reason_code: ReasonCode,
        properties: Properties | None,
    ) -> None:
        was_ready = self._ready.is_set()
        self._ready.clear()
        if self._unreachable_since is None:
            self._unreachable_since = time.monotonic()
        self._paced_from = time.monotonic()
        self._to_loop(functools.partial(self._connected.clear))
        if was_ready and not self._stopped:
            log.warning(
                "%s disconnected from %s:%s: %s (reconnecting)",
                self.name,
                self.login.host,
                self.login.port,
                reason_code,
            )
            self._emit(Disconnected(str(reason_code)))

    def _paho_message(
        self, client: mqtt.Client, userdata: object, message: mqtt.MQTTMessage
    ) -> None:
        try:
            topic = message.topic
        except UnicodeDecodeError:
            log.warning("%s: dropped a message whose topic is not UTF-8", self.name)
            return
        self._emit(inbound(topic, bytes(message.payload), bool(message.retain)))

    def _paho_publish(
        self,
        client: mqtt.Client,
        userdata: object,
        mid: int,
        reason_code: ReasonCode,
        properties: Properties | None,
    ) -> None:
        self._to_loop(functools.partial(self._acked_on_loop, mid, reason_code))

    # The same events, on the loop.

    def _connected_on_loop(self) -> None:
        self.connects += 1
        self._connected.set()

    def _acked_on_loop(self, mid: int, reason_code: ReasonCode) -> None:
        # publish_nowait registered the future in the loop step that called paho's publish, and
        # this runs in a later step, so a missing future means its caller has given up on it.
        future = self._pending.pop(mid, None)
        if future is None or future.done():
            return
        if reason_code.is_failure:
            future.set_exception(PublishFailed(f"broker refused message {mid}: {reason_code}"))
        else:
            future.set_result(None)
