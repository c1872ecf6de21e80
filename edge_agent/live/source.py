"""One shared, forwarding-only connection per camera for live view.

A :class:`LiveSource` owns a worker thread that opens the camera's stream with PyAV (RTSP over TCP),
demuxes H.264 packets and hands them to the event loop, which fans them out to the viewers' queues
(:class:`~edge_agent.live.viewer_queue.ViewerQueue`). Nothing here decodes or encodes: the
camera's own bitstream goes to the browser.

What the thread guarantees about every packet it hands out:

- Annex-B (start codes): RTSP from FFmpeg already is; MP4-style length-prefixed H.264 goes through
  FFmpeg's ``h264_mp4toannexb`` bitstream filter.
- A keyframe carries its SPS and PPS: when the camera sends them only out of band (in the SDP or
  the MP4 header), they are put in front of the IDR slice.
- pts/dts on one continuous 90 kHz timeline that survives reconnects, so a viewer's RTP timestamps
  never jump backwards when the camera drops and comes back.

On the loop side, a new viewer starts on a keyframe. The source keeps the packets since the last
keyframe (the current GOP), so a viewer joining a camera that is already open gets that GOP at once
rather than waiting up to a whole keyframe interval; the cached packets are re-stamped a tick apart
so the viewer's jitter buffer does not take the burst as a delay to keep. A viewer that falls
behind loses its queue and waits for the next keyframe instead of growing memory.

The pure helpers (NAL scanning, parameter sets, the timeline) are in ``edge_agent.live.bitstream``,
separate from the thread, so they can be tested on bytes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

import av
import av.bitstream
from av.container import InputContainer
from av.video.stream import VideoStream

from edge_agent.live.bitstream import (
    NAL_IDR,
    NAL_PPS,
    NAL_SPS,
    VIDEO_CLOCK,
    VIDEO_TIME_BASE,
    Timeline,
    is_annexb,
    nal_unit_types,
    parameter_sets,
    refusal_for_codec,
    to_ticks,
    with_parameter_sets,
)
from edge_agent.live.errors import CodecNotPlayable, LiveCameraUnavailable, LiveError
from edge_agent.live.viewer_queue import LivePacket, StreamInfo, ViewerQueue, restamped

logger = logging.getLogger(__name__)

# Spacing of the re-stamped cached GOP: 1 tick is 11 us, so a viewer shows the burst at once.
BURST_TICKS: Final = 1
# The cached GOP is dropped (and late joiners wait for the next keyframe) past either bound:
# 300 packets is 12 s at 25 fps; 4 MiB is a 2 s GOP at 16 Mbit/s, beyond any live stream we forward.
GOP_CACHE_MAX_PACKETS: Final = 300
GOP_CACHE_MAX_BYTES: Final = 4 * 1024 * 1024


@dataclass(frozen=True)
class SourceOptions:
    open_timeout: float = 10.0
    read_timeout: float = 10.0
    reconnect_initial: float = 1.0
    reconnect_max: float = 30.0


class LiveSource:
    """The one connection to a camera that all of its viewers share.

    Create and use it on the event loop; :meth:`start` spawns the demux thread, :meth:`stop` asks it
    to end (it notices within one packet, or one read timeout if the camera is silent).
    """

    def __init__(
        self,
        *,
        site_id: str,
        camera_id: str,
        url: str,
        loop: asyncio.AbstractEventLoop,
        options: SourceOptions | None = None,
    ) -> None:
        self.site_id = site_id
        self.camera_id = camera_id
        self._url = url
        self._loop = loop
        self._options = options or SourceOptions()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._ready: asyncio.Future[StreamInfo] = loop.create_future()
        self._closed: asyncio.Future[None] = loop.create_future()
        self._subscriptions: list[ViewerQueue] = []
        self._gop: list[LivePacket] = []
        self._gop_bytes = 0
        self._gop_valid = False
        self.info: StreamInfo | None = None
        self.open_seconds: float | None = None  # start() to the first connection being open
        self._started_at = 0.0
        self.packets = 0
        self.connections = 0
        self.on_end: Callable[[LiveSource], None] | None = None

    # -- loop side -----------------------------------------------------------------------------

    def start(self) -> None:
        if self._thread is not None:
            return
        self._started_at = time.monotonic()
        self._thread = threading.Thread(
            target=self._run, name=f"live-{self.camera_id}", daemon=True
        )
        self._thread.start()

    async def wait_ready(self, within: float) -> StreamInfo:
        """The stream's facts once the camera is open; raises what stopped it from opening."""
        try:
            return await asyncio.wait_for(asyncio.shield(self._ready), within)
        except TimeoutError as exc:
            raise LiveCameraUnavailable(
                f"camera {self.camera_id} did not open its stream within {within:.0f} s"
            ) from exc

    @property
    def is_open(self) -> bool:
        """True until the demux thread has closed the connection."""
        return self._thread is not None and not self._closed.done()

    @property
    def subscriber_count(self) -> int:
        return len(self._subscriptions)

    def subscribe(self) -> ViewerQueue:
        """A new viewer: it gets the cached GOP (re-stamped) or waits for the next keyframe."""
        burst: list[LivePacket] = []
        if self._gop_valid and self._gop:
            last = self._gop[-1].packet.pts or 0
            count = len(self._gop)
            burst = [
                restamped(item, last - (count - 1 - i) * BURST_TICKS)
                for i, item in enumerate(self._gop)
            ]
        subscription = ViewerQueue(burst, self.unsubscribe)
        self._subscriptions.append(subscription)
        return subscription

    def unsubscribe(self, subscription: ViewerQueue) -> None:
        with contextlib.suppress(ValueError):
            self._subscriptions.remove(subscription)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is None and not self._closed.done():
            self._closed.set_result(None)

    async def wait_closed(self) -> None:
        """Wait until the demux thread has closed the connection."""
        await asyncio.shield(self._closed)

    def _dispatch(self, item: LivePacket) -> None:
        self.packets += 1
        if item.keyframe:
            self._gop = [item]
            self._gop_bytes = item.size
            self._gop_valid = True
        elif self._gop_valid:
            self._gop.append(item)
            self._gop_bytes += item.size
            if len(self._gop) > GOP_CACHE_MAX_PACKETS or self._gop_bytes > GOP_CACHE_MAX_BYTES:
                self._gop = []
                self._gop_bytes = 0
                self._gop_valid = False
        for subscription in self._subscriptions:
            subscription.offer(item)

    def _opened(self, info: StreamInfo) -> None:
        self.info = info
        self.connections += 1
        if self.open_seconds is None:
            self.open_seconds = time.monotonic() - self._started_at
        if not self._ready.done():
            self._ready.set_result(info)

    def _failed(self, error: LiveError) -> None:
        """The thread gave up: the offer waiting for the stream gets ``error``; viewers end."""
        logger.warning("site=%s camera=%s live source: %s", self.site_id, self.camera_id, error)
        if not self._ready.done():
            self._ready.set_exception(error)
            # Retrieved here so an unawaited failure is not reported as never retrieved.
            self._ready.exception()

    def _thread_done(self) -> None:
        self._gop = []
        for subscription in list(self._subscriptions):
            subscription.end()
        if not self._ready.done():
            self._ready.set_exception(
                LiveCameraUnavailable(
                    f"camera {self.camera_id}: live source stopped before opening"
                )
            )
            self._ready.exception()
        if not self._closed.done():
            self._closed.set_result(None)
        if self.on_end is not None:
            self.on_end(self)

    # -- thread side ---------------------------------------------------------------------------

    def _post(self, callback: Callable[..., None], *args: object) -> bool:
        try:
            self._loop.call_soon_threadsafe(callback, *args)
        except RuntimeError:  # the loop is closed: nobody is left to watch
            self._stop.set()
            return False
        return True

    def _run(self) -> None:
        timeline = Timeline()
        backoff = self._options.reconnect_initial
        opened_once = False
        try:
            while not self._stop.is_set():
                try:
                    container = self._open()
                except (av.FFmpegError, OSError) as exc:
                    if self._stop.is_set():
                        return
                    if not opened_once:
                        self._post(
                            self._failed,
                            LiveCameraUnavailable(
                                f"camera {self.camera_id} cannot be opened for live view: {exc}"
                            ),
                        )
                        return
                    logger.warning(
                        "site=%s camera=%s live source: reconnect failed (%s); next try in %.1f s",
                        self.site_id,
                        self.camera_id,
                        exc,
                        backoff,
                    )
                    self._stop.wait(backoff)
                    backoff = min(backoff * 2, self._options.reconnect_max)
                    continue
                try:
                    error = self._pump(container, timeline)
                finally:
                    container.close()
                if error is not None:
                    self._post(self._failed, error)
                    return
                opened_once = True
                backoff = self._options.reconnect_initial
                if not self._stop.is_set() and self._is_live:
                    logger.info(
                        "site=%s camera=%s live source: stream ended; reconnecting",
                        self.site_id,
                        self.camera_id,
                    )
                    self._stop.wait(backoff)
        finally:
            logger.info("site=%s camera=%s live source closed", self.site_id, self.camera_id)
            self._post(self._thread_done)

    @property
    def _is_live(self) -> bool:
        return self._url.startswith(("rtsp://", "rtsps://"))

    def _open(self) -> InputContainer:
        options = {
            # probesize 32: FFmpeg's stream probing otherwise holds back about a second of
            # packets before the first one comes out; the SDP (or file header) already says
            # everything we forward.
            "probesize": "32",
            "analyzeduration": "0",
        }
        if self._is_live:
            options["rtsp_transport"] = "tcp"
        container = av.open(
            self._url,
            options=options,
            timeout=(self._options.open_timeout, self._options.read_timeout),
        )
        return container

    def _pump(self, container: InputContainer, timeline: Timeline) -> LiveError | None:
        """Forward one connection's packets until it ends or stop is asked; a fatal error is
        returned (codec, no video), a dropped connection returns None."""
        if not container.streams.video:
            return CodecNotPlayable(f"camera {self.camera_id} sends no video stream")
        stream = container.streams.video[0]
        codec = stream.codec_context.name
        refusal = refusal_for_codec(codec)
        if refusal is not None:
            return CodecNotPlayable(f"camera {self.camera_id} {refusal}")
        extradata = stream.codec_context.extradata or b""
        sets = parameter_sets(extradata)
        bsf: av.bitstream.BitStreamFilterContext | None = None
        if extradata and not is_annexb(extradata):
            bsf = av.bitstream.BitStreamFilterContext("h264_mp4toannexb", in_stream=stream)
        info = StreamInfo(
            codec=codec,
            width=stream.codec_context.width,
            height=stream.codec_context.height,
            profile=stream.codec_context.profile,
        )
        rate = stream.average_rate or stream.guessed_rate
        timeline.new_connection(round(VIDEO_CLOCK / rate) if rate else None)
        if not self._post(self._opened, info):
            return None
        logger.info(
            "site=%s camera=%s live source open: %s %sx%s %s",
            self.site_id,
            self.camera_id,
            codec,
            info.width,
            info.height,
            info.profile,
        )
        pacer = _Pacer() if not self._is_live else None
        try:
            for packet in container.demux(stream):
                if self._stop.is_set():
                    break
                if packet.size == 0:
                    continue
                for out in bsf.filter(packet) if bsf is not None else (packet,):
                    item, sets = self._prepare(out, stream, timeline, sets)
                    if pacer is not None:
                        pacer.wait(item.packet.pts or 0, self._stop)
                    if not self._post(self._dispatch, item):
                        return None
        except (av.FFmpegError, OSError) as exc:
            if not self._stop.is_set():
                logger.warning(
                    "site=%s camera=%s live source: read failed: %s",
                    self.site_id,
                    self.camera_id,
                    exc,
                )
        return None

    @staticmethod
    def _prepare(
        packet: av.Packet, stream: VideoStream, timeline: Timeline, sets: bytes
    ) -> tuple[LivePacket, bytes]:
        data = bytes(packet)
        types = nal_unit_types(data)
        if NAL_SPS in types and NAL_PPS in types:
            sets = parameter_sets(data) or sets
        keyframe = NAL_IDR in types
        fixed = with_parameter_sets(data, types, sets)
        if fixed is not data:
            packet = av.Packet(fixed)
        time_base = packet.time_base or stream.time_base
        ticks = to_ticks(packet.pts if packet.pts is not None else packet.dts, time_base)
        pts = timeline.stamp(ticks)
        packet.pts = pts
        packet.dts = pts
        packet.time_base = VIDEO_TIME_BASE
        decodable = keyframe and ((NAL_SPS in types and NAL_PPS in types) or bool(sets))
        return LivePacket(packet, decodable, len(fixed)), sets


class _Pacer:
    """Releases packets of a file source at the pace of their timestamps."""

    def __init__(self) -> None:
        self._origin: tuple[float, int] | None = None

    def wait(self, pts: int, stop: threading.Event) -> None:
        now = time.monotonic()
        if self._origin is None:
            self._origin = (now, pts)
            return
        due = self._origin[0] + (pts - self._origin[1]) / VIDEO_CLOCK
        if due > now:
            stop.wait(due - now)
