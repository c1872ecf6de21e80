"""Live view: one aiortc peer connection per viewer, one camera connection per camera.

:class:`LiveService` is the agent's whole live view API, and knows nothing of how offers arrive:
the MQTT uplink (or a test) calls :meth:`LiveService.handle_offer` with the viewer's SDP offer and
sends back the SDP answer it returns, or the message of the :class:`LiveError` it raises.

- Every viewer of a camera shares that camera's :class:`~edge_agent.live.source.LiveSource`, opened
  with the first viewer and closed when the last one leaves.
- The agent sends the camera's own H.264 (:class:`~edge_agent.live.track.ForwardingTrack`): no
  decode, no encode. H.265 cameras are refused with a message saying why and what to configure.
- ICE is gathered in full before the answer is returned (vanilla ICE: the candidates are inside
  the SDP), so one request/response is enough to connect; candidates the viewer trickles can still
  be given to :meth:`LiveService.add_candidate`.
- A session ends when the viewer asks (:meth:`LiveService.close`), when its peer connection fails
  or closes, when it has not connected within :data:`CONNECT_TIMEOUT_SECONDS`, or when the camera's
  source ends for good.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from aiortc import (
    RTCConfiguration,
    RTCIceServer,
    RTCPeerConnection,
    RTCRtpTransceiver,
    RTCSessionDescription,
)
from aiortc.exceptions import InternalError, InvalidAccessError, InvalidStateError, OperationError

from edge_agent.config import AgentConfig, CameraConfig
from edge_agent.live.errors import (
    LiveError,
    LiveOfferRejected,
    LiveRefused,
    UnknownLiveCamera,
    UnknownSession,
    ViewerLimitReached,
)
from edge_agent.live.sdp import (
    DeferredCandidate,
    IceServerLike,
    LiveOfferLike,
    defer_mdns_candidates,
    parse_candidate,
)
from edge_agent.live.source import LiveSource, SourceOptions
from edge_agent.live.track import ForwardingTrack, prefer_h264
from edge_agent.live.viewer_queue import StreamInfo

logger = logging.getLogger(__name__)

# A viewer that has an answer but whose connection is not up after this long is given up, so a
# browser that vanished mid-handshake does not hold a viewer slot (and the camera) open. 30 s
# covers a slow TURN allocation with room to spare.
CONNECT_TIMEOUT_SECONDS: Final = 30.0
# How long a session's close waits for the camera connection it was last to use. A camera that
# sends notices the stop within one frame; a silent one holds the demux thread until the read
# timeout, which a viewer's close should not wait for (the connection still closes then).
CLOSE_WAIT_SECONDS: Final = 2.0


# Given a camera without a plain RTSP URL for live view (an ONVIF camera), returns one.
UrlResolver = Callable[[CameraConfig], Awaitable[str]]


def live_url(camera: CameraConfig) -> str | None:
    """The stream live view uses when no resolver is needed: the H.264 live stream if one is
    given, else the plain RTSP URL; None for an ONVIF camera (its URI must be resolved)."""
    return camera.live_rtsp_url or camera.rtsp_url


@dataclass
class _Session:
    session_id: str
    camera_id: str
    offer_sdp: str
    pc: RTCPeerConnection
    started: float = field(default_factory=time.monotonic)
    track: ForwardingTrack | None = None
    source: LiveSource | None = None
    answer: asyncio.Future[str] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )
    connected: bool = False
    watchdog: asyncio.Task[None] | None = None


class LiveService:
    """The agent's live view sessions. Create and call it on the agent's event loop."""

    def __init__(
        self,
        config: AgentConfig,
        loop: asyncio.AbstractEventLoop | None = None,
        *,
        url_resolver: UrlResolver | None = None,
        connect_timeout: float = CONNECT_TIMEOUT_SECONDS,
    ) -> None:
        self._config = config
        self._site = config.site_id
        self._loop = loop
        self._resolve = url_resolver
        self._connect_timeout = connect_timeout
        self._source_options = SourceOptions(
            open_timeout=config.recorder.stall_timeout_seconds,
            read_timeout=config.recorder.stall_timeout_seconds,
            reconnect_initial=config.recorder.reconnect_initial_seconds,
            reconnect_max=config.recorder.reconnect_max_seconds,
        )
        self._sessions: dict[str, _Session] = {}
        self._sources: dict[str, LiveSource] = {}  # camera id -> the source new viewers join
        self._open: set[LiveSource] = set()  # every source whose connection is still open
        self._tasks: set[asyncio.Task[Any]] = set()

    # -- counts ----------------------------------------------------------------------------------

    def viewers(self, camera_id: str) -> int:
        """Sessions of ``camera_id``, connecting or connected."""
        return sum(1 for s in self._sessions.values() if s.camera_id == camera_id)

    def viewer_counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for session in self._sessions.values():
            counts[session.camera_id] = counts.get(session.camera_id, 0) + 1
        return counts

    @property
    def open_sources(self) -> int:
        """Camera connections currently open (one per watched camera)."""
        return len(self._open)

    def source(self, camera_id: str) -> LiveSource | None:
        return self._sources.get(camera_id)

    def session_ids(self) -> list[str]:
        return list(self._sessions)

    # -- signalling ------------------------------------------------------------------------------

    async def handle_offer(self, offer: LiveOfferLike) -> str:
        """Answer a viewer's SDP offer; returns the SDP answer with the agent's ICE candidates.

        Raises :class:`LiveRefused` (unknown camera, viewer limit, H.265 camera, unusable offer)
        or :class:`LiveCameraUnavailable` (the camera's stream did not open).
        """
        session_id, camera_id = offer.session_id, offer.camera_id
        existing = self._sessions.get(session_id)
        if existing is not None:
            if existing.offer_sdp == offer.sdp:
                # The same offer delivered twice (MQTT QoS 1), even while the first is being
                # answered: the same answer (or the same error), not a second session.
                return await asyncio.shield(existing.answer)
            raise LiveOfferRejected(f"live session {session_id} already exists")
        camera = self._camera(camera_id)
        limit = self._config.live.max_viewers_per_camera
        if self.viewers(camera_id) >= limit:
            raise ViewerLimitReached(
                f"camera {camera_id} already has {limit} live viewers, the most this site allows"
            )

        pc = RTCPeerConnection(self._rtc_configuration(offer.ice_servers))
        session = _Session(session_id, camera_id, offer.sdp, pc)
        self._sessions[session_id] = session  # holds the viewer slot from here on
        self._log(logging.INFO, session, "live offer received")
        try:
            answer = await self._answer(session, camera, offer.sdp)
        except BaseException as exc:
            if isinstance(exc, Exception):
                session.answer.set_exception(exc)
                session.answer.exception()  # retrieved: a duplicate offer may never ask
            else:
                session.answer.cancel()
            reason = str(exc) if isinstance(exc, LiveError) else f"failed: {exc!r}"
            if self._sessions.get(session_id) is session:
                del self._sessions[session_id]
            await self._teardown(session, reason)
            raise
        session.answer.set_result(answer)
        return answer

    async def add_candidate(
        self,
        session_id: str,
        candidate: str,
        sdp_mid: str | None = None,
        sdp_mline_index: int | None = None,
    ) -> None:
        """A trickled ICE candidate of the viewer (``candidate:...`` line, with or without
        ``a=``); an empty one means the viewer has no more."""
        session = self._sessions.get(session_id)
        if session is None:
            raise UnknownSession(f"no live session {session_id}")
        line = candidate.strip().removeprefix("a=").removeprefix("candidate:")
        if not line:
            with contextlib.suppress(ValueError):  # end-of-candidates given twice
                await session.pc.addIceCandidate(None)
            return
        parsed = parse_candidate(line)
        parsed.sdpMid = sdp_mid
        parsed.sdpMLineIndex = sdp_mline_index if sdp_mid is not None else (sdp_mline_index or 0)
        try:
            await session.pc.addIceCandidate(parsed)
        except (ValueError, InvalidStateError) as exc:
            raise LiveOfferRejected(f"ICE candidate not accepted: {exc}") from exc
        self._log(logging.DEBUG, session, "remote ICE candidate added")

    async def close(self, session_id: str, reason: str = "closed by viewer") -> bool:
        """End a session; False if there was none (closing twice is harmless)."""
        session = self._sessions.pop(session_id, None)
        if session is None:
            return False
        await self._teardown(session, reason)
        return True

    async def close_all(self, reason: str = "agent stopping") -> None:
        """End every session and close every camera connection."""
        sessions = list(self._sessions.values())
        self._sessions.clear()
        await asyncio.gather(*(self._teardown(s, reason) for s in sessions))
        for source in list(self._sources.values()):
            source.stop()
        self._sources.clear()
        limit = self._source_options.read_timeout + 2.0
        await asyncio.gather(*(self._wait_closed(s, limit) for s in list(self._open)))
        for task in list(self._tasks):
            task.cancel()

    # -- inside ----------------------------------------------------------------------------------

    def _camera(self, camera_id: str) -> CameraConfig:
        try:
            return self._config.camera(camera_id)
        except KeyError:
            raise UnknownLiveCamera(f"site {self._site} has no camera {camera_id}") from None

    async def _url_for(self, camera: CameraConfig) -> str:
        url = live_url(camera)
        if url is not None:
            return url
        if self._resolve is None:
            raise LiveRefused(
                f"camera {camera.id} is an ONVIF camera and no stream resolver is set for live "
                "view; give it a live_rtsp_url"
            )
        return await self._resolve(camera)

    def _rtc_configuration(self, extra: Sequence[IceServerLike]) -> RTCConfiguration:
        servers: list[IceServerLike] = [*self._config.live.ice_servers, *extra]
        return RTCConfiguration(
            iceServers=[
                RTCIceServer(urls=list(s.urls), username=s.username, credential=s.credential)
                for s in servers
            ]
        )

    def _acquire_source(self, camera_id: str, url: str) -> LiveSource:
        source = self._sources.get(camera_id)
        if source is not None:
            return source
        loop = self._loop or asyncio.get_running_loop()
        source = LiveSource(
            site_id=self._site,
            camera_id=camera_id,
            url=url,
            loop=loop,
            options=self._source_options,
        )
        source.on_end = self._source_ended
        self._sources[camera_id] = source
        self._open.add(source)
        source.start()
        logger.info(
            "site=%s camera=%s session=- live source opening for the first viewer",
            self._site,
            camera_id,
        )
        return source

    def _source_ended(self, source: LiveSource) -> None:
        self._open.discard(source)
        if self._sources.get(source.camera_id) is source:
            del self._sources[source.camera_id]

    async def _answer(self, session: _Session, camera: CameraConfig, offer_sdp: str) -> str:
        pc = session.pc
        url = await self._url_for(camera)
        source = self._acquire_source(camera.id, url)
        session.source = source
        track = ForwardingTrack(source.subscribe())
        session.track = track
        transceiver = pc.addTransceiver(track, direction="sendonly")
        prefer_h264(transceiver)

        pc.on("connectionstatechange", lambda: self._state_changed(session))
        track.on(
            "ended", lambda: self._spawn(self.close(session.session_id, "camera stream ended"))
        )

        usable_sdp, deferred, ended = defer_mdns_candidates(offer_sdp)
        try:
            await pc.setRemoteDescription(RTCSessionDescription(sdp=usable_sdp, type="offer"))
        except OperationError as exc:
            raise LiveOfferRejected(
                "the viewer does not offer H.264 (packetization-mode 1), the only video this "
                f"site sends live ({exc})"
            ) from exc
        except (ValueError, KeyError, IndexError, InternalError, InvalidAccessError) as exc:
            raise LiveOfferRejected(f"the SDP offer cannot be used: {exc}") from exc
        await pc.setLocalDescription(await pc.createAnswer())
        self._check_direction(transceiver)
        if deferred or ended:
            self._spawn(self._add_deferred(session, deferred, ended))

        info: StreamInfo = await source.wait_ready(self._source_options.open_timeout)
        description = pc.localDescription
        session.watchdog = self._spawn(self._connect_watchdog(session))
        self._log(
            logging.INFO,
            session,
            "live answer ready (%s %sx%s); %d viewer(s) of this camera",
            info.codec,
            info.width,
            info.height,
            self.viewers(camera.id),
        )
        return description.sdp

    async def _add_deferred(
        self, session: _Session, deferred: list[DeferredCandidate], ended: list[int]
    ) -> None:
        for candidate in deferred:
            try:
                parsed = parse_candidate(candidate.line.removeprefix("candidate:"))
                parsed.sdpMid = candidate.sdp_mid
                parsed.sdpMLineIndex = candidate.sdp_mline_index
                await session.pc.addIceCandidate(parsed)
            except (LiveOfferRejected, ValueError, InvalidStateError) as exc:
                self._log(logging.DEBUG, session, "mDNS candidate not used: %s", exc)
        if ended:  # aiortc applies end-of-candidates to every section at once
            with contextlib.suppress(ValueError, InvalidStateError):
                await session.pc.addIceCandidate(None)

    @staticmethod
    def _check_direction(transceiver: RTCRtpTransceiver) -> None:
        if transceiver.mid is None:
            raise LiveOfferRejected("the SDP offer has no video section")
        if transceiver.currentDirection not in ("sendonly", "sendrecv"):
            raise LiveOfferRejected(
                "the SDP offer does not receive video (make its video transceiver recvonly)"
            )

    def _state_changed(self, session: _Session) -> None:
        state = session.pc.connectionState
        self._log(logging.INFO, session, "peer connection %s", state)
        if state == "connected":
            session.connected = True
        elif state in ("failed", "closed") and self._sessions.get(session.session_id) is session:
            self._spawn(self.close(session.session_id, f"peer connection {state}"))

    def _track_ended(self, session: _Session) -> None:
        # Also fired when the session's own teardown stops the track: then it is already gone.
        if self._sessions.get(session.session_id) is session:
            self._spawn(self.close(session.session_id, "camera stream ended"))

    async def _connect_watchdog(self, session: _Session) -> None:
        await asyncio.sleep(self._connect_timeout)
        if not session.connected and self._sessions.get(session.session_id) is session:
            await self.close(
                session.session_id, f"not connected within {self._connect_timeout:.0f} s"
            )

    async def _teardown(self, session: _Session, reason: str) -> None:
        """Close ``session``'s peer connection and, if it was the camera's last viewer, the
        camera's connection. ``session`` is already out of ``_sessions``."""
        if session.watchdog is not None and session.watchdog is not asyncio.current_task():
            session.watchdog.cancel()
        track = session.track
        if track is not None:
            track.stop()
        with contextlib.suppress(InvalidStateError, ConnectionError):
            await session.pc.close()
        source = session.source
        if source is not None and not any(s.source is source for s in self._sessions.values()):
            source.stop()
            if self._sources.get(session.camera_id) is source:
                del self._sources[session.camera_id]
            await self._wait_closed(source, CLOSE_WAIT_SECONDS)
        self._log(
            logging.INFO,
            session,
            "live session ended after %.1f s (%s); %d packet(s) sent, %d dropped",
            time.monotonic() - session.started,
            reason,
            track.packets_sent if track is not None else 0,
            track.packets_dropped if track is not None else 0,
        )

    async def _wait_closed(self, source: LiveSource, limit: float) -> None:
        try:
            await asyncio.wait_for(source.wait_closed(), limit)
        except TimeoutError:
            logger.info(
                "site=%s camera=%s session=- live source still closing after %.0f s "
                "(a silent camera holds it until the read timeout)",
                self._site,
                source.camera_id,
                limit,
            )

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def _log(self, level: int, session: _Session, message: str, *args: object) -> None:
        logger.log(
            level,
            "site=%s camera=%s session=%s " + message,
            self._site,
            session.camera_id,
            session.session_id,
            *args,
        )
