"""The agent's MQTT connection: the common bridge (``cctv_common.mqtt.bridge``) with the site's
login, a consumer of its events on the agent's loop, and the status heartbeat.

Session (see ``docs/upload-protocol.md``): MQTT 5, client id ``agent-{site}`` (the project's
broker replaces it with the username, so only this site's login can take it over), ``clean_start``
off with a 7-day session expiry so the broker queues jobs and acks while the site is offline,
QoS 1 everywhere, username (default: the site id) and password from the config, TLS when
configured, and a retained last will ``SiteStatus(state="offline")`` on the site's status topic.

Losing the broker (``cctv_common.mqtt.reconnect``): sent data unacknowledged for
``DEAD_LINK_SECONDS`` closes the socket (a line that went quiet in the middle of an upload is
noticed in seconds, not after TCP's backoff and the 45 s keep-alive); reconnect attempts give up
after ``CONNECT_TIMEOUT_SECONDS`` and start quickly one after the other (0.5-1 s after the drop,
then every 1-2 s, jittered; an attempt that timed out on a dead line has used its wait already),
so the connection is back about a second after the line; a broker out of reach for two minutes is
tried less often (every 15-30 s), so a fleet of sites does not hammer a hub that is down.

Messages come off the bridge with their topic parsed once; ``on_message`` gets the typed topic
(``cctv_common.wire.topics``) on the event loop. ``publish`` returns when the broker's PUBACK
arrives; ``publish_nowait`` returns the future. A message published while the connection is down
stays in paho's queue and is sent on reconnect; the future resolves then.

The status heartbeat (retained ``SiteStatus(state="online")``) is published at every connect and
every ``status_interval_seconds``; ``build_site_status`` assembles it from the recorders' states,
the index's buffer extents and the disk.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Final, Literal, Protocol

from cctv_common import __version__
from cctv_common.clock import utc_now
from cctv_common.mqtt.bridge import BridgeError, BrokerLogin, MqttBridge
from cctv_common.mqtt.events import Connected, Disconnected, EventQueue, Inbound, UnknownTopic
from cctv_common.wire.payloads import (
    CameraStatus,
    HeldWindow,
    NvrChannelCoverage,
    SiteStatus,
    offline_status,
)
from cctv_common.wire.topics import (
    Subscription,
    Topic,
    agent_acks_filter,
    agent_jobs_filter,
    status_topic,
)
from edge_agent.config import UplinkConfig
from edge_agent.store.segment_index import SegmentIndex

log = logging.getLogger(__name__)

SESSION_EXPIRY_SECONDS: Final = 7 * 24 * 3600
# QoS 1 messages paho keeps in flight before waiting for PUBACKs (paho's default is 20). It must
# not exceed the broker's Receive Maximum (deploy/mosquitto: max_inflight_messages 64), or the
# broker disconnects the client.
MAX_INFLIGHT: Final = 64
RECONNECT_MIN_SECONDS: Final = 1
RECONNECT_MAX_SECONDS: Final = 2
RECONNECT_SLOW_AFTER_SECONDS: Final = 120.0
RECONNECT_SLOW_MAX_SECONDS: Final = 30
# SYNs go at 0 and 1 s (the kernel's first retransmission); a TLS handshake over a slow radio
# link takes well under this.
CONNECT_TIMEOUT_SECONDS: Final = 3.0
# Far above a loaded line's round trip and queue (0.2 s on the 4G profile), and above a few
# retransmissions of one segment on a lossy one.
DEAD_LINK_SECONDS: Final = 10.0
STOP_PUBLISH_TIMEOUT_SECONDS: Final = 5.0

# (topic, payload, retained), delivered on the event loop.
MessageHandler = Callable[[Topic, bytes, bool], None]
# Called on the event loop after every successful (re)connect, once subscribed.
ConnectHandler = Callable[[bool], Awaitable[None] | None]
StatusSource = Callable[[], SiteStatus]


class Uplink:
    """One MQTT connection for one site, owned by an asyncio loop."""

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
        self._config = config
        self._on_message = on_message
        self._on_connect = on_connect
        self._status = status
        self._version = version
        self._status_topic = status_topic(site_id)
        self._status_now = asyncio.Event()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._heartbeat: asyncio.Task[None] | None = None
        self._consumer: asyncio.Task[None] | None = None
        self._stopping = False
        self._started = False
        login = BrokerLogin(
            host=config.host,
            port=config.port,
            client_id=client_id or f"agent-{site_id}",
            username=config.username or site_id,
            password=config.password or None,
            tls=config.tls,
            ca_file=config.ca_file,
            keepalive_seconds=config.keepalive_seconds,
            session_expiry_seconds=SESSION_EXPIRY_SECONDS,
            reconnect_min_seconds=RECONNECT_MIN_SECONDS,
            reconnect_max_seconds=RECONNECT_MAX_SECONDS,
            reconnect_slow_after_seconds=RECONNECT_SLOW_AFTER_SECONDS,
            reconnect_slow_max_seconds=RECONNECT_SLOW_MAX_SECONDS,
            connect_timeout_seconds=CONNECT_TIMEOUT_SECONDS,
            dead_link_seconds=DEAD_LINK_SECONDS,
            max_inflight=max_inflight,
            will=(self._status_topic, offline_status(version)),
            congestion_control=config.congestion_control,
        )
        self._bridge = MqttBridge(
            login,
            tuple(
                subscriptions
                if subscriptions is not None
                else (
                    Subscription(agent_jobs_filter(site_id)),
                    Subscription(agent_acks_filter(site_id)),
                )
            ),
            f"site {site_id}: uplink",
        )

    def set_handlers(
        self, *, on_message: MessageHandler | None = None, on_connect: ConnectHandler | None = None
    ) -> None:
        """Set who gets messages and connect events (before ``start``)."""
        if self._started:
            raise BridgeError(f"site {self.site_id}: set handlers before starting the uplink")
        self._on_message = on_message
        self._on_connect = on_connect

    # Life cycle (on the loop).

    @property
    def connected(self) -> bool:
        return self._bridge.connected

    @property
    def connects(self) -> int:
        """How many times the connection has been (re)established."""
        return self._bridge.connects

    @property
    def connect_attempts(self) -> int:
        """How many times a connection has been tried (succeeded or not)."""
        return self._bridge.connect_attempts

    async def wait_connected(self) -> None:
        await self._bridge.wait_connected()

    async def start(self) -> None:
        """Start connecting (in the background; paho retries until the broker answers)."""
        if self._started:
            raise BridgeError(f"site {self.site_id}: uplink already started")
        self._started = True
        events = EventQueue(asyncio.get_running_loop())
        self._consumer = asyncio.create_task(self._consume(events), name="uplink-events")
        self._heartbeat = asyncio.create_task(self._heartbeat_loop(), name="uplink-heartbeat")
        await self._bridge.start(events)

    async def stop(self, *, wait_seconds: float = STOP_PUBLISH_TIMEOUT_SECONDS) -> None:
        """Mark the site offline (retained), disconnect and stop paho's thread."""
        if not self._started or self._stopping:
            return
        self._stopping = True
        for task in (self._heartbeat, self._consumer):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        if self.connected:
            offline = SiteStatus(
                state="offline", version=self._version, sent_at=utc_now()
            ).to_bytes()
            try:
                await asyncio.wait_for(
                    self._bridge.publish(self._status_topic, offline, retain=True), wait_seconds
                )
            except (TimeoutError, BridgeError) as exc:
                log.warning("site %s: could not publish offline status: %s", self.site_id, exc)
        await self._bridge.stop()
        for task in list(self._tasks):
            task.cancel()

    # Publishing (on the loop).

    def publish_nowait(
        self, topic: str, payload: bytes, *, retain: bool = False
    ) -> asyncio.Future[None]:
        """Queue a QoS 1 message; the future resolves on the broker's PUBACK."""
        if self._stopping:
            raise BridgeError(f"site {self.site_id}: uplink is stopping")
        return self._bridge.publish_nowait(topic, payload, retain=retain)

    async def publish(self, topic: str, payload: bytes, *, retain: bool = False) -> None:
        """Publish at QoS 1 and wait for the PUBACK (without blocking the loop)."""
        await self.publish_nowait(topic, payload, retain=retain)

    def publish_status_now(self) -> None:
        """Publish the heartbeat at once (e.g. a camera changed state)."""
        self._status_now.set()

    # Events from the bridge, in order.

    async def _consume(self, events: EventQueue) -> None:
        while True:
            event = await events.get()
            try:
                self._handle(event)
            except Exception:
                # One bad message must not stop the uplink.
                log.exception("site %s: error while handling %s", self.site_id, event)
            finally:
                events.done(event)

    def _handle(self, event: Connected | Disconnected | Inbound | UnknownTopic) -> None:
        match event:
            case Connected(session_present=session_present):
                self._status_now.set()
                if self._on_connect is not None:
                    result = self._on_connect(session_present)
                    if result is not None:
                        task = asyncio.ensure_future(result)
                        self._tasks.add(task)
                        task.add_done_callback(self._tasks.discard)
            case Disconnected():
                pass  # the bridge logged it; paho reconnects
            case UnknownTopic(reason=reason):
                log.warning("site %s: message ignored: %s", self.site_id, reason)
            case Inbound(topic=topic, payload=payload, retained=retained):
                if self._on_message is None:
                    log.debug("site %s: message on %s with no handler", self.site_id, topic)
                    return
                self._on_message(topic, payload, retained)

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
            except BridgeError as exc:
                log.warning("site %s: status not published: %s", self.site_id, exc)

    async def _publish_status(self) -> None:
        if self._status is None:
            status = SiteStatus(state="online", version=self._version, sent_at=utc_now())
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


# The status heartbeat's content.


class CameraState(Protocol):
    """What the heartbeat needs of a recorder's status
    (``edge_agent.recording.recorder.RecorderHealth``)."""

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
    holds: Sequence[HeldWindow] = (),
    retention_pressure: str | None = None,
    nvr: Mapping[str, Sequence[NvrChannelCoverage]] | None = None,
) -> SiteStatus:
    """The retained online heartbeat: each camera's state and buffer, the disk, the clock, and
    the legal holds in force (``holds``) so the hub can confirm them.

    ``retention_pressure`` (the janitor's note when pinned footage keeps retention from its
    bound) is added to the last error of every camera in error, so a recorder stopped by a disk
    full of held footage says why in the status.

    ``nvr`` (camera -> what each NVR channel mapped to it holds) is added to the recorded
    cameras; a camera only an NVR records is reported with state ``nvr_only``.

    Blocking (index queries, ``statvfs``): call from a worker thread.
    """
    reports = []
    for camera in cameras:
        extent = index.buffer_extent(camera.camera_id)
        state = _STATES.get(str(camera.state), "error")
        last_error = str(camera.last_error) if camera.last_error else None
        if state == "error" and retention_pressure:
            last_error = f"{last_error}; {retention_pressure}" if last_error else retention_pressure
        reports.append(
            CameraStatus(
                camera_id=camera.camera_id,
                state=state,
                buffer_start=extent[0] if extent else None,
                buffer_end=extent[1] if extent else None,
                codec=camera.codec or None,
                width=camera.width or None,
                height=camera.height or None,
                last_error=last_error[:1000] if last_error else None,
                nvr=tuple(nvr.get(camera.camera_id, ())) or None if nvr else None,
            )
        )
    reported = {report.camera_id for report in reports}
    for camera_id, channels in (nvr or {}).items():
        if camera_id not in reported:
            reports.append(
                CameraStatus(camera_id=camera_id, state="nvr_only", nvr=tuple(channels) or None)
            )
    disk = footage_disk_usage(segments_dir, index)
    return SiteStatus(
        state="online",
        version=version,
        sent_at=now or utc_now(),
        cameras=tuple(reports),
        disk_free_bytes=disk.free_bytes,
        disk_used_bytes=disk.used_bytes,
        clock_offset_seconds=clock_offset_seconds,
        holds=tuple(holds),
    )
