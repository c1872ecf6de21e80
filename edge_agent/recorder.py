"""Recording every camera: one worker thread per camera, and the supervisor that runs them.

A ``CameraRecorder`` thread connects to its camera with PyAV (RTSP over TCP), feeds the video
packets to a ``RecordingSession`` (stream copy into MPEG-TS segments, see that module), and when
the camera drops, stalls or the disk fails it closes what it can, backs off and reconnects. The
time between the last segment it wrote and the first one after the reconnect is stored as a gap
with the reason the recording stopped. Its state is published through a thread-safe
``CameraStatus`` snapshot.

Why these timeouts: PyAV's read timeout bounds every ``av_read_frame``. When a camera stalls, the
first expiry only makes the H.264/H.265 parser hand out the frame it holds back, and the second
ends the read (measured with FFmpeg 8: a read timeout of t notices a stall after 2t). So the read
timeout is half of ``stall_timeout_seconds``. The open timeout covers each of the RTSP handshake
and the stream probe. FFmpeg's own socket ``timeout`` is set as well, in case the interrupt
callback is not reached.
"""

from __future__ import annotations

import dataclasses
import enum
import errno
import logging
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import av
import av.error
from av.container import InputContainer
from av.video.stream import VideoStream

from cctv_common.uris import redact_uri
from edge_agent.config import AgentConfig, CameraConfig, RecorderConfig
from edge_agent.recording_session import RecordingSession, StreamFacts
from edge_agent.segment_index import IndexWriteFailed, SegmentIndex
from edge_agent.segment_timing import fill_missing_timestamps
from edge_agent.segment_writer import SegmentWriteFailed
from edge_agent.segments import Segment

log = logging.getLogger(__name__)

UrlProvider = Callable[[], str]

# Probe only long enough to read the parameter sets: a short probe means the first packets are
# not held for a second before the first segment can start.
PROBE_OPTIONS = {"analyzeduration": "500000", "probesize": "1000000"}
_CREDENTIALS = re.compile(r"(?i)\b(rtsps?|https?)://[^/\s@]*@")


class CameraUnavailable(Exception):
    """The camera's stream URL cannot be had now (e.g. its ONVIF device does not answer)."""


class RecorderState(enum.StrEnum):
    STARTING = "starting"
    RECORDING = "recording"
    RECONNECTING = "reconnecting"
    ERROR = "error"  # the camera is fine but segments cannot be written (disk, index)
    STOPPED = "stopped"


@dataclass(frozen=True)
class CameraStatus:
    camera_id: str
    state: RecorderState = RecorderState.STARTING
    last_error: str | None = None
    segments_written: int = 0
    codec: str | None = None
    width: int | None = None
    height: int | None = None
    fps: float | None = None
    last_segment_end: datetime | None = None
    reconnects: int = 0
    clock_lag_seconds: float | None = None


class Backoff:
    """Exponential waits between reconnects: initial, doubled each failure, capped."""

    def __init__(self, initial: float, maximum: float) -> None:
        self._initial = initial
        self._maximum = max(initial, maximum)
        self._next = initial

    def next(self) -> float:
        delay = self._next
        self._next = min(self._next * 2, self._maximum)
        return delay

    def reset(self) -> None:
        self._next = self._initial


@dataclass(frozen=True)
class SessionEnd:
    """Why one connection ended, and what it left behind."""

    reason: str
    produced: bool = False
    last_end: datetime | None = None
    disk_failed: bool = False


def redact_text(text: str, url: str | None = None) -> str:
    """An error text without credentials: the URL redacted, and any other ``user:pass@`` gone."""
    if url:
        text = text.replace(url, redact_uri(url))
    return _CREDENTIALS.sub(lambda match: f"{match.group(1)}://", text)


def input_options(settings: RecorderConfig) -> dict[str, str]:
    socket_timeout_us = round(settings.stall_timeout_seconds * 1_000_000)
    return {
        "rtsp_transport": "tcp",
        "allowed_media_types": "video",
        # FFmpeg 5 and later: socket I/O timeout in microseconds ("stimeout" before FFmpeg 5).
        "timeout": str(socket_timeout_us),
        **PROBE_OPTIONS,
    }


def _utc_now() -> datetime:
    return datetime.now(UTC)


class CameraRecorder(threading.Thread):
    """Records one camera until ``stop()``; see the module docstring."""

    def __init__(
        self,
        camera_id: str,
        url_provider: UrlProvider,
        segments_dir: Path,
        index: SegmentIndex,
        settings: RecorderConfig,
        *,
        site_id: str = "",
        on_disk_full: Callable[[], None] | None = None,
        now: Callable[[], datetime] = _utc_now,
    ) -> None:
        super().__init__(name=f"recorder-{camera_id}", daemon=True)
        self.camera_id = camera_id
        self._url_provider = url_provider
        self._segments_dir = segments_dir
        self._index = index
        self._settings = settings
        self._on_disk_full = on_disk_full
        self._now = now
        self._label = f"site {site_id} camera {camera_id}" if site_id else f"camera {camera_id}"
        self._stop_event = threading.Event()
        self._status_lock = threading.Lock()
        self._status = CameraStatus(camera_id=camera_id)

    @property
    def status(self) -> CameraStatus:
        with self._status_lock:
            return self._status

    def stop(self) -> None:
        """Ask the thread to finish its segment and end (join it to wait)."""
        self._stop_event.set()

    def _update(self, **changes: object) -> None:
        with self._status_lock:
            self._status = dataclasses.replace(self._status, **changes)  # type: ignore[arg-type]

    def run(self) -> None:
        try:
            self._record_until_stopped()
        except Exception as exc:
            # Last line of defence for a bug: the status says so instead of a silent dead thread.
            log.exception("%s: recorder failed", self._label)
            self._update(state=RecorderState.ERROR, last_error=redact_text(repr(exc)))
            return
        self._update(state=RecorderState.STOPPED)
        log.info("%s: recorder stopped", self._label)

    def _record_until_stopped(self) -> None:
        settings = self._settings
        backoff = Backoff(settings.reconnect_initial_seconds, settings.reconnect_max_seconds)
        extent = self._index.buffer_extent(self.camera_id)
        last_end = extent[1] if extent else None
        gap_reason = "recorder was not running"
        attempts = 0
        while not self._stop_event.is_set():
            if attempts:
                self._update(reconnects=attempts)
            attempts += 1
            end = self._connect_and_record(last_end, gap_reason)
            if end.last_end is not None:
                last_end = end.last_end
            if end.produced:
                backoff.reset()
                gap_reason = end.reason
            if self._stop_event.is_set():
                break
            delay = backoff.next()
            state = RecorderState.ERROR if end.disk_failed else RecorderState.RECONNECTING
            self._update(state=state, last_error=end.reason)
            log.warning("%s: %s; reconnecting in %.1f s", self._label, end.reason, delay)
            if end.disk_failed and self._on_disk_full is not None:
                self._on_disk_full()
            self._stop_event.wait(delay)

    def _connect_and_record(self, last_end: datetime | None, gap_reason: str) -> SessionEnd:
        try:
            url = self._url_provider()
        except (CameraUnavailable, OSError) as exc:
            return SessionEnd(reason=f"no stream URL: {redact_text(str(exc))}")
        settings = self._settings
        log.info("%s: connecting to %s", self._label, redact_uri(url))
        try:
            container = av.open(
                url,
                options=input_options(settings),
                timeout=(settings.stall_timeout_seconds, settings.stall_timeout_seconds / 2),
            )
        except av.error.FFmpegError as exc:
            return SessionEnd(reason=f"cannot connect: {redact_text(str(exc), url)}")
        with container:
            if not container.streams.video:
                return SessionEnd(reason="the camera sends no video stream")
            stream = container.streams.video[0]
            try:
                facts = StreamFacts.of(stream)
            except ValueError as exc:
                return SessionEnd(reason=f"unusable video stream: {exc}")
            self._update(codec=facts.codec, width=facts.width, height=facts.height, fps=facts.fps)
            log.info(
                "%s: connected, %s %dx%d at %s fps",
                self._label,
                facts.codec,
                facts.width,
                facts.height,
                facts.fps,
            )
            session = RecordingSession(
                self.camera_id,
                stream,
                facts,
                self._segments_dir,
                self._index,
                settings,
                resume_after=last_end,
                gap_reason=gap_reason,
                on_segment=self._segment_written,
                label=self._label,
            )
            reason = self._pump(container, stream, session, url)
            return SessionEnd(
                reason=reason.reason,
                produced=session.segments_written > 0,
                last_end=session.last_end,
                disk_failed=reason.disk_failed,
            )

    def _pump(
        self, container: InputContainer, stream: VideoStream, session: RecordingSession, url: str
    ) -> SessionEnd:
        """Move packets from the camera into the session until the connection ends."""
        reason: SessionEnd
        # The demux generator lives in this frame only, so it is finalised when this returns,
        # before the caller closes the container.
        try:
            for packet in fill_missing_timestamps(container.demux(stream)):
                session.feed(packet, self._now())
                if session.writing and self.status.state is not RecorderState.RECORDING:
                    self._update(state=RecorderState.RECORDING, last_error=None)
                if self._stop_event.is_set():
                    break
            reason = SessionEnd(
                reason="recorder stopped"
                if self._stop_event.is_set()
                else "camera ended the stream"
            )
        except av.error.ExitError:
            reason = SessionEnd(
                reason=f"camera stalled: no data for {self._settings.stall_timeout_seconds:g} s"
            )
        except av.error.FFmpegError as exc:
            reason = SessionEnd(reason=f"camera dropped: {redact_text(str(exc), url)}")
        except (SegmentWriteFailed, IndexWriteFailed) as exc:
            session.abandon()
            return self._disk_failure(exc)
        try:
            session.finish()
        except (SegmentWriteFailed, IndexWriteFailed) as exc:
            session.abandon()
            return self._disk_failure(exc)
        return reason

    def _disk_failure(self, exc: SegmentWriteFailed | IndexWriteFailed) -> SessionEnd:
        if isinstance(exc, IndexWriteFailed):
            full = "full" in str(exc)
            what = "disk full" if full else "cannot write the index"
        else:
            full = exc.errno == errno.ENOSPC
            what = "disk full" if full else "cannot write"
        log.error("%s: %s, segment discarded: %s", self._label, what, exc)
        return SessionEnd(reason=f"{what}: {exc}", disk_failed=True)

    def _segment_written(self, segment: Segment, clock_lag: float | None) -> None:
        with self._status_lock:
            self._status = dataclasses.replace(
                self._status,
                segments_written=self._status.segments_written + 1,
                last_segment_end=segment.end,
                clock_lag_seconds=clock_lag,
            )
        log.debug("%s: segment %s (%d bytes)", self._label, segment.path, segment.bytes)


class Recorders:
    """Starts one ``CameraRecorder`` per enabled camera and stops them together."""

    def __init__(
        self,
        config: AgentConfig,
        index: SegmentIndex,
        *,
        url_providers: Mapping[str, UrlProvider] | None = None,
        on_disk_full: Callable[[], None] | None = None,
    ) -> None:
        self._config = config
        self._index = index
        self._url_providers = dict(url_providers or {})
        self._on_disk_full = on_disk_full
        self._workers: dict[str, CameraRecorder] = {}

    def start(self) -> None:
        for camera in self._config.cameras:
            if not camera.enabled or camera.id in self._workers:
                continue
            worker = CameraRecorder(
                camera.id,
                self._provider_for(camera),
                self._config.segments_dir,
                self._index,
                self._config.recorder,
                site_id=self._config.site_id,
                on_disk_full=self._on_disk_full,
            )
            self._workers[camera.id] = worker
            worker.start()

    def stop_all(self, timeout: float = 15.0) -> list[str]:
        """Stop every worker; returns the ids of those still running after ``timeout`` seconds."""
        for worker in self._workers.values():
            worker.stop()
        deadline = time.monotonic() + timeout
        for worker in self._workers.values():
            worker.join(max(0.0, deadline - time.monotonic()))
        stuck = [camera_id for camera_id, w in self._workers.items() if w.is_alive()]
        for camera_id in stuck:
            log.error("site %s camera %s: recorder did not stop", self._config.site_id, camera_id)
        return stuck

    def statuses(self) -> list[CameraStatus]:
        return [worker.status for worker in self._workers.values()]

    def status(self, camera_id: str) -> CameraStatus:
        return self._workers[camera_id].status

    def _provider_for(self, camera: CameraConfig) -> UrlProvider:
        if camera.id in self._url_providers:
            return self._url_providers[camera.id]
        url = camera.rtsp_url
        if url is not None:
            return lambda: url

        def unresolved() -> str:
            raise CameraUnavailable("no stream URL provider for this ONVIF camera")

        return unresolved
