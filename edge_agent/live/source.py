"""One shared, forwarding-only connection per camera for live view.

A :class:`LiveSource` owns a worker thread that opens the camera's stream with PyAV (RTSP over TCP),
demuxes H.264 packets and hands them to the event loop, which fans them out to the viewers'
:class:`Subscription` queues. Nothing here decodes or encodes: the camera's own bitstream goes to
the browser.

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

The pure helpers (NAL scanning, parameter sets, the timeline) are separate from the thread so they
can be tested on bytes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from typing import Final

import av
import av.bitstream
from av.container import InputContainer
from av.video.stream import VideoStream

logger = logging.getLogger(__name__)

VIDEO_CLOCK: Final = 90_000
VIDEO_TIME_BASE: Final = Fraction(1, VIDEO_CLOCK)
# Stamp used between two connections and for packets without a pts, when the stream gives no rate.
DEFAULT_FRAME_TICKS: Final = VIDEO_CLOCK // 25
# Spacing of the re-stamped cached GOP: 1 tick is 11 us, so a viewer shows the burst at once.
BURST_TICKS: Final = 1
# The cached GOP is dropped (and late joiners wait for the next keyframe) past either bound:
# 300 packets is 12 s at 25 fps; 4 MiB is a 2 s GOP at 16 Mbit/s, beyond any live stream we forward.
GOP_CACHE_MAX_PACKETS: Final = 300
GOP_CACHE_MAX_BYTES: Final = 4 * 1024 * 1024
# How far (in packets, on top of the GOP burst) a viewer may lag before it is cut back to the next
# keyframe: 50 packets is 2 s at 25 fps; a live view further behind than that is no longer live.
VIEWER_LAG_PACKETS: Final = 50

NAL_IDR: Final = 5
NAL_SPS: Final = 7
NAL_PPS: Final = 8
NAL_AUD: Final = 9
START_CODE: Final = b"\x00\x00\x00\x01"

# Codec names as FFmpeg spells them -> why live view refuses them.
_H265_REASON: Final = (
    "streams H.265 (HEVC), which browsers cannot play over WebRTC; for live view give the camera's "
    'H.264 sub stream (live_rtsp_url, or an ONVIF live_profile such as "sub")'
)
REFUSED_CODECS: Final[dict[str, str]] = {"hevc": _H265_REASON, "h265": _H265_REASON}


class LiveError(Exception):
    """Base of every live view error.

    ``code`` is a stable word that the signalling maps to its own status (HTTP, MQTT error text).
    """

    code = "live_error"


class LiveRefused(LiveError):
    """The request cannot be served as asked (unknown camera, limit, codec, bad offer)."""

    code = "refused"


class UnknownCamera(LiveRefused):
    code = "unknown_camera"


class ViewerLimitReached(LiveRefused):
    code = "viewer_limit"


class CodecNotPlayable(LiveRefused):
    code = "codec_not_playable"


class OfferRejected(LiveRefused):
    code = "bad_offer"


class CameraUnavailable(LiveError):
    """The camera's stream could not be opened or read in time."""

    code = "camera_unavailable"


# ---------------------------------------------------------------------------------------------
# Pure helpers over H.264 bytes.


def nal_unit_types(data: bytes) -> list[int]:
    """Types of the NAL units of an Annex-B buffer, in order (emulation prevention keeps 00 00 01
    out of NAL payloads, so every occurrence is a start code)."""
    types = []
    i = data.find(b"\x00\x00\x01")
    while i != -1 and i + 3 < len(data):
        types.append(data[i + 3] & 0x1F)
        i = data.find(b"\x00\x00\x01", i + 3)
    return types


def split_annexb(data: bytes) -> list[bytes]:
    """The NAL units of an Annex-B buffer, without their start codes."""
    units = []
    i = data.find(b"\x00\x00\x01")
    while i != -1:
        start = i + 3
        i = data.find(b"\x00\x00\x01", start)
        end = len(data) if i == -1 else i
        # A 4-byte start code leaves its leading zero at the end of the previous unit.
        unit = data[start:end].rstrip(b"\x00") if i != -1 else data[start:end]
        if unit:
            units.append(unit)
    return units


def is_annexb(data: bytes) -> bool:
    return data.startswith((b"\x00\x00\x01", b"\x00\x00\x00\x01"))


def parameter_sets_from_avcc(extradata: bytes) -> bytes:
    """SPS and PPS of an ISO/IEC 14496-15 ``avcC`` record, as Annex-B; b"" when malformed."""
    if len(extradata) < 7 or extradata[0] != 1:
        return b""
    out = bytearray()
    pos = 5
    try:
        for count_mask in (0x1F, 0xFF):  # numOfSequenceParameterSets, numOfPictureParameterSets
            count = extradata[pos] & count_mask
            pos += 1
            for _ in range(count):
                length = int.from_bytes(extradata[pos : pos + 2], "big")
                pos += 2
                unit = extradata[pos : pos + length]
                if len(unit) != length:
                    return b""
                out += START_CODE + unit
                pos += length
    except IndexError:
        return b""
    return bytes(out)


def parameter_sets(data: bytes) -> bytes:
    """The SPS and PPS found in an Annex-B buffer (or an avcC record), as Annex-B."""
    if not is_annexb(data):
        return parameter_sets_from_avcc(data)
    units = [u for u in split_annexb(data) if u[0] & 0x1F in (NAL_SPS, NAL_PPS)]
    types = {u[0] & 0x1F for u in units}
    if types != {NAL_SPS, NAL_PPS}:
        return b""
    return b"".join(START_CODE + u for u in units)


def with_parameter_sets(data: bytes, types: list[int], sets: bytes) -> bytes:
    """``data`` with ``sets`` put in front of the IDR slice when it lacks an SPS or a PPS.

    An access unit delimiter must stay first, so the sets go right after a leading one.
    """
    if NAL_IDR not in types or (NAL_SPS in types and NAL_PPS in types) or not sets:
        return data
    if types and types[0] == NAL_AUD:
        second = data.find(b"\x00\x00\x01", data.find(b"\x00\x00\x01") + 3)
        if second != -1:
            if data[second - 1] == 0:
                second -= 1
            return data[:second] + sets + data[second:]
    return sets + data


class Timeline:
    """Maps each connection's timestamps onto one continuous 90 kHz timeline.

    The first stamped packet of a connection follows the previous connection's last one by one
    frame; a packet without a timestamp follows the previous packet by one frame.
    """

    def __init__(self) -> None:
        self._offset: int | None = None
        self._last: int | None = None
        self.frame_ticks = DEFAULT_FRAME_TICKS

    def new_connection(self, frame_ticks: int | None = None) -> None:
        self._offset = None
        if frame_ticks is not None and frame_ticks > 0:
            self.frame_ticks = frame_ticks

    def stamp(self, ticks: int | None) -> int:
        follow = 0 if self._last is None else self._last + self.frame_ticks
        if ticks is None:
            out = follow
        else:
            if self._offset is None:
                self._offset = follow - ticks
            out = ticks + self._offset
        self._last = out
        return out


def to_ticks(value: int | None, time_base: Fraction | None) -> int | None:
    if value is None or time_base is None:
        return value
    if time_base == VIDEO_TIME_BASE:
        return value
    return round(value * time_base * VIDEO_CLOCK)


def refusal_for_codec(codec: str) -> str | None:
    """Why live view cannot forward ``codec`` (FFmpeg's name), or None for H.264."""
    if codec == "h264":
        return None
    return REFUSED_CODECS.get(codec, f"streams {codec}; live view forwards the camera's H.264 only")


# ---------------------------------------------------------------------------------------------
# Loop side: packets, subscriptions and the GOP cache.


@dataclass(frozen=True, slots=True)
class LivePacket:
    """One access unit ready to send: Annex-B, pts/dts/time_base in 90 kHz."""

    packet: av.Packet
    keyframe: bool  # starts with a decodable IDR (parameter sets included)
    size: int


@dataclass(frozen=True, slots=True)
class StreamInfo:
    codec: str
    width: int
    height: int
    profile: str | None


def restamped(item: LivePacket, pts: int) -> LivePacket:
    packet = av.Packet(bytes(item.packet))
    packet.pts = pts
    packet.dts = pts
    packet.time_base = VIDEO_TIME_BASE
    return LivePacket(packet, item.keyframe, item.size)


class Subscription:
    """One viewer's bounded queue of packets. Lives on the event loop."""

    def __init__(self, source: LiveSource, burst: list[LivePacket]) -> None:
        self._source = source
        self._queue: asyncio.Queue[LivePacket | None] = asyncio.Queue(
            maxsize=len(burst) + VIEWER_LAG_PACKETS
        )
        self._waiting_for_keyframe = not burst
        self.closed = False
        self.dropped = 0
        self.received = 0
        for item in burst:
            self._queue.put_nowait(item)

    def offer(self, item: LivePacket) -> None:
        if self.closed:
            return
        if self._waiting_for_keyframe:
            if not item.keyframe:
                self.dropped += 1
                return
            self._waiting_for_keyframe = False
        if self._queue.full():
            self.dropped += self._drain()
            if not item.keyframe:
                self._waiting_for_keyframe = True
                self.dropped += 1
                return
        self._queue.put_nowait(item)

    def end(self) -> None:
        """The source is gone: the viewer's next :meth:`get` returns None."""
        if self.closed:
            return
        self.closed = True
        self._drain()
        self._queue.put_nowait(None)

    async def get(self) -> av.Packet | None:
        """The next packet to send; None once the source has ended or the viewer left."""
        if self.closed and self._queue.empty():
            return None
        item = await self._queue.get()
        if item is None:
            return None
        self.received += 1
        return item.packet

    def close(self) -> None:
        """The viewer left."""
        if not self.closed:
            self.end()
        self._source.unsubscribe(self)

    def _drain(self) -> int:
        count = 0
        while not self._queue.empty():
            if self._queue.get_nowait() is not None:
                count += 1
        return count


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
        self._subscriptions: list[Subscription] = []
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
            raise CameraUnavailable(
                f"camera {self.camera_id} did not open its stream within {within:.0f} s"
            ) from exc

    @property
    def is_open(self) -> bool:
        """True until the demux thread has closed the connection."""
        return self._thread is not None and not self._closed.done()

    @property
    def subscriber_count(self) -> int:
        return len(self._subscriptions)

    def subscribe(self) -> Subscription:
        """A new viewer: it gets the cached GOP (re-stamped) or waits for the next keyframe."""
        burst: list[LivePacket] = []
        if self._gop_valid and self._gop:
            last = self._gop[-1].packet.pts or 0
            count = len(self._gop)
            burst = [
                restamped(item, last - (count - 1 - i) * BURST_TICKS)
                for i, item in enumerate(self._gop)
            ]
        subscription = Subscription(self, burst)
        self._subscriptions.append(subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
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
                CameraUnavailable(f"camera {self.camera_id}: live source stopped before opening")
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
                            CameraUnavailable(
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
