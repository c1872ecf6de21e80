"""The agent's MQTT connection: paho-mqtt 2 on its own network thread, bridged into asyncio.

Session (see ``docs/upload-protocol.md``): MQTT 5, client id ``agent-{site}`` (the project's
broker replaces it with the username, so only this site's login can take it over), ``clean_start``
off with a 7-day session expiry so the broker queues jobs and acks while the site is offline,
QoS 1 everywhere, username (default: the site id) and password from the config, TLS when
configured, and a retained last will ``SiteStatus(state="offline")`` on the site's status topic.
paho reconnects by itself with a backoff of 1 s doubling to 60 s.

Threads: paho's callbacks run on its network thread and never touch agent state; each one hands
its event to the event loop with ``call_soon_threadsafe``. ``publish`` returns a future that the
loop resolves when the broker's PUBACK arrives. The future is created in the same loop step as the
paho ``publish`` call, and the PUBACK is handed over with ``call_soon_threadsafe`` too, so the
future always exists before its PUBACK is looked up. A message published while the connection is
down stays in paho's queue and is sent on reconnect; the future resolves then.

The status heartbeat (retained ``SiteStatus(state="online")``) is published at every connect and
every ``status_interval_seconds``; ``build_site_status`` assembles it from the recorders' states,
the index's buffer extents and the disk.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import shutil
import ssl
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final, Literal, Protocol

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from paho.mqtt.subscribeoptions import SubscribeOptions

from cctv_common import __version__
from cctv_common.mqtt.session import connect_persistent
from cctv_common.wire.payloads import CameraStatus, SiteStatus, offline_status
from cctv_common.wire.topics import Subscription, agent_acks_filter, agent_jobs_filter, status_topic
from edge_agent.config import UplinkConfig
from edge_agent.segment_index import SegmentIndex

log = logging.getLogger(__name__)

SESSION_EXPIRY_SECONDS: Final = 7 * 24 * 3600
# QoS 1 messages paho keeps in flight before waiting for PUBACKs (paho's default is 20). It must
# not exceed the broker's Receive Maximum (deploy/mosquitto: max_inflight_messages 64), or the
# broker disconnects the client.
MAX_INFLIGHT: Final = 64
RECONNECT_MIN_SECONDS: Final = 1
RECONNECT_MAX_SECONDS: Final = 60
STOP_PUBLISH_TIMEOUT_SECONDS: Final = 5.0

# (topic, payload, retained), delivered on the event loop.
MessageHandler = Callable[[str, bytes, bool], None]
# Called on the event loop after every successful (re)connect, once subscribed.
ConnectHandler = Callable[[bool], Awaitable[None] | None]
StatusSource = Callable[[], SiteStatus]


class UplinkError(Exception):
    """The uplink cannot do what was asked (not started, stopped, or paho refused)."""


class PublishFailed(UplinkError):
    """paho could not queue a message, or the broker refused it in its PUBACK."""


class Uplink:
    """One paho client for one site, owned by an asyncio loop."""

    def __init__(
        self,
        *,
        site_id: str,
        config: UplinkConfig,
        on_message: MessageHandler | None = None,
        on_connect: ConnectHandler | None = None,
        status: StatusSource | None = None,
        version: str = __version__,
        client_id: str | None = None,
        max_inflight: int = MAX_INFLIGHT,
        subscriptions: Sequence[Subscription] | None = None,
    ) -> None:
        """``subscriptions`` default to the site's jobs and clip acks (add live view's later)."""
        self.site_id = site_id
        self._subscriptions = tuple(
            subscriptions
            if subscriptions is not None
            else (
                Subscription(agent_jobs_filter(site_id)),
                Subscription(agent_acks_filter(site_id)),
            )
        )
        self._config = config
        self._on_message = on_message
        self._on_connect = on_connect
        self._status = status
        self._version = version
        self._status_topic = status_topic(site_id)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._connected = asyncio.Event()
        self._status_now = asyncio.Event()
        self._pending: dict[int, asyncio.Future[None]] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._heartbeat: asyncio.Task[None] | None = None
        self._stopping = False
        self._started = False
        self.connects = 0

        client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id or f"agent-{site_id}",
            protocol=mqtt.MQTTv5,
        )
        client.username_pw_set(config.username or site_id, config.password or None)
        if config.tls:
            context = ssl.create_default_context(
                cafile=str(config.ca_file) if config.ca_file is not None else None
            )
            client.tls_set_context(context)
        client.will_set(self._status_topic, offline_status(version), qos=1, retain=True)
        client.reconnect_delay_set(RECONNECT_MIN_SECONDS, RECONNECT_MAX_SECONDS)
        client.max_inflight_messages_set(max_inflight)
        client.max_queued_messages_set(0)
        client.on_connect = self._paho_connect
        client.on_disconnect = self._paho_disconnect
        client.on_message = self._paho_message
        client.on_publish = self._paho_publish
        client.on_subscribe = self._paho_subscribe
        self._client = client

    def set_handlers(
        self, *, on_message: MessageHandler | None = None, on_connect: ConnectHandler | None = None
    ) -> None:
        """Set who gets messages and connect events (before ``start``)."""
        if self._started:
            raise UplinkError(f"site {self.site_id}: set handlers before starting the uplink")
        self._on_message = on_message
        self._on_connect = on_connect

    # Life cycle (on the loop).

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    async def wait_connected(self) -> None:
        await self._connected.wait()

    async def start(self) -> None:
        """Start connecting (in the background; paho retries until the broker answers)."""
        if self._started:
            raise UplinkError(f"site {self.site_id}: uplink already started")
        self._started = True
        self._loop = asyncio.get_running_loop()
        connect_persistent(
            self._client,
            self._config.host,
            self._config.port,
            self._config.keepalive_seconds,
            SESSION_EXPIRY_SECONDS,
        )
        self._heartbeat = asyncio.create_task(self._heartbeat_loop(), name="uplink-heartbeat")
        log.info(
            "site %s: uplink connecting to %s:%s as %s (TLS %s)",
            self.site_id,
            self._config.host,
            self._config.port,
            self._config.username or self.site_id,
            "on" if self._config.tls else "off",
        )

    async def stop(self, *, wait_seconds: float = STOP_PUBLISH_TIMEOUT_SECONDS) -> None:
        """Mark the site offline (retained), disconnect and stop paho's thread."""
        if not self._started or self._stopping:
            return
        self._stopping = True
        if self._heartbeat is not None:
            self._heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._heartbeat
        if self.connected:
            offline = SiteStatus(
                state="offline", version=self._version, sent_at=datetime.now(UTC)
            ).to_bytes()
            try:
                await asyncio.wait_for(
                    self._queue_publish(self._status_topic, offline, retain=True), wait_seconds
                )
            except (TimeoutError, PublishFailed) as exc:
                log.warning("site %s: could not publish offline status: %s", self.site_id, exc)
        self._client.disconnect()
        await asyncio.to_thread(self._client.loop_stop)
        for future in self._pending.values():
            if not future.done():
                future.set_exception(UplinkError(f"site {self.site_id}: uplink stopped"))
                future.exception()  # mark retrieved: nobody may be waiting on it any more
        self._pending.clear()
        self._connected.clear()
        for task in list(self._tasks):
            task.cancel()
        log.info("site %s: uplink stopped", self.site_id)

    # Publishing (on the loop).

    def publish_nowait(
        self, topic: str, payload: bytes, *, retain: bool = False
    ) -> asyncio.Future[None]:
        """Queue a QoS 1 message; the future resolves on the broker's PUBACK."""
        if self._stopping:
            raise UplinkError(f"site {self.site_id}: uplink is stopping")
        return self._queue_publish(topic, payload, retain=retain)

    def _queue_publish(self, topic: str, payload: bytes, *, retain: bool) -> asyncio.Future[None]:
        loop = self._require_loop()
        future: asyncio.Future[None] = loop.create_future()
        info = self._client.publish(topic, payload, qos=1, retain=retain)
        # NO_CONN: paho keeps the message and sends it when the connection is back.
        if info.rc not in (mqtt.MQTT_ERR_SUCCESS, mqtt.MQTT_ERR_NO_CONN):
            future.set_exception(
                PublishFailed(f"paho did not queue {topic}: {mqtt.error_string(info.rc)}")
            )
            return future
        self._pending[info.mid] = future
        future.add_done_callback(functools.partial(self._forget, info.mid))
        return future

    def _forget(self, mid: int, future: asyncio.Future[None]) -> None:
        # A caller that gave up (cancelled, timed out) leaves no entry behind.
        if self._pending.get(mid) is future:
            del self._pending[mid]

    async def publish(self, topic: str, payload: bytes, *, retain: bool = False) -> None:
        """Publish at QoS 1 and wait for the PUBACK (without blocking the loop)."""
        await self.publish_nowait(topic, payload, retain=retain)

    def publish_status_now(self) -> None:
        """Publish the heartbeat at once (e.g. a camera changed state)."""
        self._status_now.set()

    def _require_loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            raise UplinkError(f"site {self.site_id}: uplink not started")
        return self._loop

    # Heartbeat.

    async def _heartbeat_loop(self) -> None:
        interval = self._config.status_interval_seconds
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._status_now.wait(), interval)
            self._status_now.clear()
            if not self.connected:
                continue
            try:
                await self._publish_status()
            except (PublishFailed, UplinkError) as exc:
                log.warning("site %s: status not published: %s", self.site_id, exc)

    async def _publish_status(self) -> None:
        if self._status is None:
            status = SiteStatus(state="online", version=self._version, sent_at=datetime.now(UTC))
        else:
            status = await asyncio.to_thread(self._status)
        # Not awaited: a PUBACK that comes after a reconnect must not hold up the next beat.
        future = self.publish_nowait(self._status_topic, status.to_bytes(), retain=True)
        future.add_done_callback(self._log_failure("status"))

    def _log_failure(self, what: str) -> Callable[[asyncio.Future[None]], None]:
        def check(future: asyncio.Future[None]) -> None:
            if future.cancelled():
                return
            exc = future.exception()
            if exc is not None:
                log.warning("site %s: %s not delivered: %s", self.site_id, what, exc)

        return check

    # paho callbacks (paho's network thread): hand everything to the loop.

    def _to_loop(self, callback: Callable[..., object], *args: object) -> None:
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        try:
            loop.call_soon_threadsafe(callback, *args)
        except RuntimeError:
            # The loop closed between the check and the call: the agent is shutting down.
            pass

    def _paho_connect(
        self,
        client: mqtt.Client,
        userdata: object,
        flags: mqtt.ConnectFlags,
        reason_code: ReasonCode,
        properties: Properties | None,
    ) -> None:
        if reason_code.is_failure:
            log.warning(
                "site %s: broker %s:%s refused the connection: %s",
                self.site_id,
                self._config.host,
                self._config.port,
                reason_code,
            )
            return
        receive_maximum = getattr(properties, "ReceiveMaximum", None)
        if receive_maximum is not None and receive_maximum < client.max_inflight_messages:
            log.warning(
                "site %s: broker allows %s messages in flight, fewer than the %s configured;"
                " raise the broker's max_inflight_messages",
                self.site_id,
                receive_maximum,
                client.max_inflight_messages,
            )
        # Subscribed again at every connect: cheap, and the broker then sends the retained jobs
        # again, so a job whose progress the hub missed gets it re-published.
        client.subscribe(
            [
                (sub.filter, SubscribeOptions(qos=1, noLocal=sub.no_local))
                for sub in self._subscriptions
            ]
        )
        self._to_loop(self._connected_on_loop, bool(flags.session_present))

    def _paho_subscribe(
        self,
        client: mqtt.Client,
        userdata: object,
        mid: int,
        reason_codes: list[ReasonCode],
        properties: Properties | None,
    ) -> None:
        refused = [str(code) for code in reason_codes if code.is_failure]
        if refused:
            log.error("site %s: broker refused a subscription: %s", self.site_id, refused)

    def _paho_disconnect(
        self,
        client: mqtt.Client,
        userdata: object,
        flags: mqtt.DisconnectFlags,
        reason_code: ReasonCode,
        properties: Properties | None,
    ) -> None:
        self._to_loop(self._disconnected_on_loop, str(reason_code))

    def _paho_message(
        self, client: mqtt.Client, userdata: object, message: mqtt.MQTTMessage
    ) -> None:
        try:
            topic = message.topic
        except UnicodeDecodeError:
            log.warning("site %s: message with a topic that is not UTF-8 ignored", self.site_id)
            return
        self._to_loop(self._deliver, topic, bytes(message.payload), bool(message.retain))

    def _paho_publish(
        self,
        client: mqtt.Client,
        userdata: object,
        mid: int,
        reason_code: ReasonCode,
        properties: Properties | None,
    ) -> None:
        self._to_loop(self._acked_on_loop, mid, reason_code)

    # The same events, on the loop.

    def _connected_on_loop(self, session_present: bool) -> None:
        self.connects += 1
        self._connected.set()
        self._status_now.set()
        log.info(
            "site %s: uplink connected to %s:%s (session %s)",
            self.site_id,
            self._config.host,
            self._config.port,
            "resumed" if session_present else "new",
        )
        if self._on_connect is not None:
            result = self._on_connect(session_present)
            if result is not None:
                task = asyncio.ensure_future(result)
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)

    def _disconnected_on_loop(self, reason: str) -> None:
        was = self._connected.is_set()
        self._connected.clear()
        if was and not self._stopping:
            log.warning("site %s: uplink disconnected (%s); paho reconnects", self.site_id, reason)

    def _deliver(self, topic: str, payload: bytes, retained: bool) -> None:
        if self._on_message is None:
            log.debug("site %s: message on %s with no handler", self.site_id, topic)
            return
        self._on_message(topic, payload, retained)

    def _acked_on_loop(self, mid: int, reason_code: ReasonCode) -> None:
        # publish_nowait registered the future in the loop step that called paho's publish, and
        # this runs in a later step, so a missing future means its caller has given up on it.
        future = self._pending.pop(mid, None)
        if future is not None:
            _settle(future, f"message {mid}", reason_code)


def _settle(future: asyncio.Future[None], what: str, reason_code: ReasonCode) -> None:
    if future.done():
        return
    if reason_code.is_failure:
        future.set_exception(PublishFailed(f"broker refused {what}: {reason_code}"))
    else:
        future.set_result(None)


# The status heartbeat's content.


class CameraState(Protocol):
    """What the heartbeat needs of a recorder's status (``edge_agent.recorder.CameraStatus``)."""

    @property
    def camera_id(self) -> str: ...
    @property
    def state(self) -> str: ...
    @property
    def last_error(self) -> str | None: ...
    @property
    def codec(self) -> str | None: ...
    @property
    def width(self) -> int | None: ...
    @property
    def height(self) -> int | None: ...


_STATES: Final[dict[str, Literal["recording", "reconnecting", "stopped", "error"]]] = {
    "recording": "recording",
    "reconnecting": "reconnecting",
    "starting": "reconnecting",
    "stopped": "stopped",
    "error": "error",
}


@dataclass(frozen=True)
class DiskUsage:
    free_bytes: int
    used_bytes: int


def footage_disk_usage(segments_dir: Path, index: SegmentIndex) -> DiskUsage:
    """Free bytes on the footage disk and bytes used by indexed segments (blocking)."""
    path = segments_dir
    while not path.exists() and path != path.parent:
        path = path.parent
    return DiskUsage(shutil.disk_usage(path).free, index.total_bytes())


def build_site_status(
    *,
    cameras: Sequence[CameraState],
    index: SegmentIndex,
    segments_dir: Path,
    version: str = __version__,
    clock_offset_seconds: float | None = None,
    now: datetime | None = None,
) -> SiteStatus:
    """The retained online heartbeat: each camera's state and buffer, the disk, the clock.

    Blocking (index queries, ``statvfs``): call from a worker thread.
    """
    reports = []
    for camera in cameras:
        extent = index.buffer_extent(camera.camera_id)
        reports.append(
            CameraStatus(
                camera_id=camera.camera_id,
                state=_STATES.get(str(camera.state), "error"),
                buffer_start=extent[0] if extent else None,
                buffer_end=extent[1] if extent else None,
                codec=camera.codec or None,
                width=camera.width or None,
                height=camera.height or None,
                last_error=(camera.last_error or None) and str(camera.last_error)[:1000],
            )
        )
    disk = footage_disk_usage(segments_dir, index)
    return SiteStatus(
        state="online",
        version=version,
        sent_at=now or datetime.now(UTC),
        cameras=tuple(reports),
        disk_free_bytes=disk.free_bytes,
        disk_used_bytes=disk.used_bytes,
        clock_offset_seconds=clock_offset_seconds,
    )
