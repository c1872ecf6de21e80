"""The agent's ONVIF cameras: stream URIs for the recorders, identity and clock offset for the
manifests, motion and tamper events for the index, live-view and snapshot access.

How the agent process (edge_agent/agent.py) uses it; nothing touches a camera before a call::

    cameras = OnvifCameras(config, index)
    recorders = Recorders(config, index, url_providers=cameras.url_providers())
    events = asyncio.create_task(cameras.run_events(stop))       # ends when `stop` is set
    live = LiveService(config, url_resolver=cameras.live_url)
    snapshots = Snapshots(config, cameras)                        # edge_agent.snapshots.service
    cameras.status(camera_id)                                     # for the site status
    ...
    await events                                                  # after stop.set()
    cameras.close()                                               # after the recorders stopped

- ``url_provider(camera_id)`` / ``url_providers()``: the recorder calls the provider from its
  own thread before every (re)connect. It measures the camera's clock (GetSystemDateAndTime),
  reads its device information, resolves the stream URI of the configured profile ("main", "sub"
  or a token) and saves identity (manufacturer, model, serial, firmware, the stream URI without
  credentials) and clock offset with ``SegmentIndex.save_camera_facts`` for the manifests. It
  returns the URI with the camera's credentials added for RTSP digest auth. An ONVIF failure
  raises ``recorder.CameraUnreachable`` with the readable ONVIF message ("wrong user or password
  for camera cam-2 at 10.0.0.6:80 (...)"), which becomes the recorder's ``last_error``.
  A clock off by more than ``config.max_clock_offset_seconds`` is logged as a warning.
- ``run_events(stop)``: one PullPoint subscription per ONVIF camera (see
  ``cctv_onvif.events.EventStream``); motion and tamper notifications are stored with
  ``SegmentIndex.add_event`` at agent time (the camera's time minus its clock offset). A new
  subscription starts with an "Initialized" message of each property's current state; it is
  stored only when it differs from the state last stored for that property (looked up in the
  index after a restart; off when nothing is stored), so a re-subscription after a camera reboot,
  a network drop or an agent restart does not store the same motion twice, and motion that ended
  unheard is stored as ended.
- ``live_url(camera)``: the live-view stream URI (``live_profile``, else ``profile``) with
  credentials, for ``LiveService(url_resolver=...)``; raises ``recorder.CameraUnreachable``.
- ``snapshot(camera_id)``: the camera's JPEG (GetSnapshotUri, then an authenticated GET).

One ``OnvifClient`` per camera is shared by the recorder thread, the event task and live view
(its calls are serialised); blocking calls run off the event loop with timeouts. Credentials are
never logged and never stored in the index.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import sqlite3
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from cctv_common.clock import utc_now
from cctv_common.uris import with_credentials
from cctv_onvif import (
    AsyncOnvifClient,
    EventSettings,
    EventStream,
    OnvifClient,
    OnvifError,
    OnvifEvent,
    OnvifSettings,
    OnvifTarget,
    OnvifUnsupported,
)
from edge_agent.config import AgentConfig, CameraConfig, OnvifCameraConfig
from edge_agent.recording.recorder import CameraUnreachable, UrlProvider
from edge_agent.store.segment_index import CameraEvent, IndexWriteFailed, SegmentIndex

log = logging.getLogger(__name__)

STORED_KINDS = frozenset({"motion", "tamper"})
# How far back the state last stored for a camera's property is looked up after a restart.
STATE_MEMORY = timedelta(days=7)
# How long a stopped event stream has to end before it is cancelled again.
CANCEL_AGAIN_SECONDS = 1.0


@dataclass(frozen=True)
class OnvifCameraStatus:
    """What the agent last learnt of one ONVIF camera (for the site status and for support)."""

    camera_id: str
    connected: bool = False  # the last stream URI resolution succeeded
    last_error: str | None = None  # readable ONVIF message, without credentials
    clock_offset_seconds: float | None = None  # camera clock minus agent clock
    identity: dict[str, str] = field(default_factory=dict)
    checked_at: datetime | None = None
    events: str = "stopped"  # the event subscription's state
    events_error: str | None = None


class OnvifCameras:
    """Every enabled ONVIF camera of one site; see the module docstring for the API."""

    def __init__(
        self,
        config: AgentConfig,
        index: SegmentIndex,
        *,
        settings: OnvifSettings | None = None,
        event_settings: EventSettings | None = None,
        now: Callable[[], datetime] = utc_now,
    ) -> None:
        self._config = config
        self._site = config.site_id
        self._index = index
        self._settings = settings or OnvifSettings()
        self._event_settings = event_settings or EventSettings()
        self._now = now
        self._cameras: dict[str, tuple[CameraConfig, OnvifCameraConfig]] = {
            c.id: (c, c.onvif) for c in config.cameras if c.onvif is not None and c.enabled
        }
        self._lock = threading.Lock()
        self._clients: dict[str, OnvifClient] = {}
        self._status = {camera_id: OnvifCameraStatus(camera_id) for camera_id in self._cameras}
        self._streams: dict[str, EventStream] = {}
        # The state last stored for each (camera, topic, source) property, for Initialized messages.
        self._last_state: dict[tuple[str, str, tuple[tuple[str, str], ...]], bool] = {}

    @property
    def camera_ids(self) -> list[str]:
        return list(self._cameras)

    def _label(self, camera_id: str) -> str:
        return f"site {self._site} camera {camera_id}"

    def _onvif(self, camera_id: str) -> OnvifCameraConfig:
        try:
            return self._cameras[camera_id][1]
        except KeyError:
            raise KeyError(f"{self._label(camera_id)} is not an enabled ONVIF camera") from None

    def client(self, camera_id: str) -> OnvifClient:
        """The camera's shared blocking client (made on first use)."""
        onvif = self._onvif(camera_id)
        with self._lock:
            client = self._clients.get(camera_id)
            if client is None:
                target = OnvifTarget(camera_id, onvif.host, onvif.port, onvif.user, onvif.password)
                client = self._clients[camera_id] = OnvifClient(target, self._settings)
            return client

    def _update(self, camera_id: str, **changes: Any) -> None:
        with self._lock:
            self._status[camera_id] = dataclasses.replace(self._status[camera_id], **changes)

    def status(self, camera_id: str) -> OnvifCameraStatus:
        with self._lock:
            status = self._status[camera_id]
            stream = self._streams.get(camera_id)
        if stream is not None:
            status = dataclasses.replace(
                status, events=stream.state.value, events_error=stream.last_error
            )
        return status

    def statuses(self) -> list[OnvifCameraStatus]:
        return [self.status(camera_id) for camera_id in self._cameras]

    def clock_offset(self, camera_id: str) -> float | None:
        return self.status(camera_id).clock_offset_seconds

    # -- stream URIs (recorder threads) -----------------------------------------------------

    def url_provider(self, camera_id: str) -> UrlProvider:
        """The recorder's URL provider for one ONVIF camera (see the module docstring)."""
        self._onvif(camera_id)  # fail now, not in the recorder thread, for a wrong id

        def provide() -> str:
            return self.resolve_stream(camera_id)

        return provide

    def url_providers(self) -> dict[str, UrlProvider]:
        return {camera_id: self.url_provider(camera_id) for camera_id in self._cameras}

    def resolve_stream(self, camera_id: str) -> str:
        """Blocking: connect, save identity and clock offset, return the stream URI with
        credentials. Raises CameraUnreachable with the ONVIF message."""
        onvif = self._onvif(camera_id)
        client = self.client(camera_id)
        try:
            # Measured on every (re)connect: a camera that rebooted may have lost its time.
            clock = client.get_system_date_and_time()
            info = client.get_device_information()
            stream = client.get_stream_uri(onvif.profile)
        except OnvifError as exc:
            self._update(camera_id, connected=False, last_error=str(exc), checked_at=self._now())
            raise CameraUnreachable(str(exc)) from exc
        offset = round(clock.offset_seconds, 3)
        identity = {
            "manufacturer": info.manufacturer,
            "model": info.model,
            "serial": info.serial,
            "firmware": info.firmware,
            "stream_uri": stream.redacted,
            "profile_token": stream.profile_token,
        }
        bound = self._config.max_clock_offset_seconds
        if abs(offset) > bound:
            log.warning(
                "%s: camera clock is %+.1f s off the agent's (more than %g s); footage times"
                " come from the agent's clock, the offset goes into every manifest",
                self._label(camera_id),
                offset,
                bound,
            )
        try:
            self._index.save_camera_facts(camera_id, identity, offset)
        except IndexWriteFailed as exc:
            log.error(
                "%s: cannot save the camera's identity and clock offset: %s",
                self._label(camera_id),
                exc,
            )
        self._update(
            camera_id,
            connected=True,
            last_error=None,
            clock_offset_seconds=offset,
            identity=identity,
            checked_at=self._now(),
        )
        log.info(
            "%s: %s %s serial %s firmware %s, profile %s stream %s, clock offset %+.1f s",
            self._label(camera_id),
            info.manufacturer,
            info.model,
            info.serial,
            info.firmware,
            stream.profile_token,
            stream.redacted,
            offset,
        )
        return with_credentials(stream.uri, onvif.user, onvif.password)

    # -- live view and snapshots (event loop) -------------------------------------------------

    async def live_url(self, camera: CameraConfig) -> str:
        """Live view's stream URI (live_profile, else profile) with credentials."""
        if camera.onvif is None or camera.id not in self._cameras:
            url = camera.live_rtsp_url or camera.rtsp_url
            if url is None:
                raise CameraUnreachable(f"{self._label(camera.id)} has no stream to show")
            return url
        onvif = camera.onvif
        client = self.client(camera.id)
        aio = AsyncOnvifClient(client.target, sync=client)
        try:
            stream = await aio.get_stream_uri(onvif.live_profile or onvif.profile)
        except OnvifError as exc:
            raise CameraUnreachable(str(exc)) from exc
        return with_credentials(stream.uri, onvif.user, onvif.password)

    async def snapshot(self, camera_id: str, profile: str | None = None) -> bytes:
        """The camera's current JPEG; OnvifError (OnvifUnsupported without a snapshot URI)."""
        onvif = self._onvif(camera_id)
        client = self.client(camera_id)
        aio = AsyncOnvifClient(client.target, sync=client)
        return await aio.fetch_snapshot(profile or onvif.profile)

    # -- events (event loop) -----------------------------------------------------------------

    async def run_events(self, stop: asyncio.Event) -> None:
        """Keep one event subscription per ONVIF camera until `stop` is set."""
        tasks = [
            asyncio.create_task(self._camera_events(camera_id), name=f"onvif-events-{camera_id}")
            for camera_id in self._cameras
        ]
        try:
            await stop.wait()
        finally:
            # Cancelled again while any is left: Python 3.11's asyncio.wait_for returns the
            # result of a call that finished as the cancel arrived and drops the cancel
            # (gh-86296), so a stream polling the camera could go on after the stop (the
            # agent's shutdown hung in test_onvif_renew under load).
            pending = set(tasks)
            while pending:
                for task in pending:
                    task.cancel()
                _, pending = await asyncio.wait(pending, timeout=CANCEL_AGAIN_SECONDS)
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _camera_events(self, camera_id: str) -> None:
        client = self.client(camera_id)
        stream = EventStream(client, self._event_settings)
        with self._lock:
            self._streams[camera_id] = stream
        try:
            async for event in stream:
                await self._store(camera_id, event, client.clock_offset)
        except OnvifUnsupported as exc:
            log.info("%s: no events from this camera: %s", self._label(camera_id), exc)
        finally:
            # Bounded: a camera that does not answer lets its subscription lapse on its own.
            with contextlib.suppress(TimeoutError, OnvifError):
                await asyncio.wait_for(stream.aclose(), self._settings.timeout)

    async def _store(self, camera_id: str, event: OnvifEvent, offset: float) -> None:
        if event.kind not in STORED_KINDS:
            log.debug("%s: event %s not stored", self._label(camera_id), event.topic)
            return
        key = (camera_id, event.topic, tuple(sorted(event.source.items())))
        if event.property_operation == "Initialized":
            # The state at subscribing: stored only when it says something new (motion that
            # began, or ended, while no subscription was listening).
            if key not in self._last_state:
                self._last_state[key] = await asyncio.to_thread(self._stored_state, key)
            if event.active == self._last_state[key]:
                return
        camera_time = event.utc_time
        at = camera_time - timedelta(seconds=offset) if camera_time else self._now()
        data = dict(event.data)
        data.update({f"source.{name}": value for name, value in event.source.items()})
        if camera_time is not None:
            data["camera_utc"] = camera_time.isoformat()
        if event.property_operation:
            data["operation"] = event.property_operation
        record = CameraEvent(camera_id, at, event.kind, event.active, event.topic, data)
        try:
            await asyncio.to_thread(self._index.add_event, record)
        except IndexWriteFailed as exc:
            log.warning("%s: %s event not stored: %s", self._label(camera_id), event.kind, exc)
            return
        self._last_state[key] = event.active
        log.info(
            "%s: %s %s at %s",
            self._label(camera_id),
            event.kind,
            "on" if event.active else "off",
            at.isoformat(),
        )

    def _stored_state(self, key: tuple[str, str, tuple[tuple[str, str], ...]]) -> bool:
        """The state last stored for a property in the last ``STATE_MEMORY`` (so that an agent
        restart does not store an ongoing motion again); off when there is none."""
        camera_id, topic, source = key
        now = self._now()
        try:
            events = self._index.events_between(camera_id, now - STATE_MEMORY, now + STATE_MEMORY)
        except sqlite3.Error as exc:
            log.warning("%s: cannot read the stored events: %s", self._label(camera_id), exc)
            return False
        wanted = {f"source.{name}": value for name, value in source}
        for event in reversed(events):
            if event.topic == topic and all(event.data.get(k) == v for k, v in wanted.items()):
                return event.active
        return False

    def close(self) -> None:
        """Close every camera's HTTP sessions (after the recorders and event tasks stopped)."""
        with self._lock:
            clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            client.close()
