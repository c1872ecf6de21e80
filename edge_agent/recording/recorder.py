"""Recording one camera: connect, record, and reconnect at once when the camera drops.

A ``CameraRecorder`` connects to its camera with PyAV (RTSP over TCP), feeds the video packets to
a ``RecordingSession`` (stream copy into MPEG-TS segments, see that module), and when the camera
drops, stalls or the disk fails it closes what it can and connects again. It runs in its own
process in the agent (``edge_agent.recording.recorder_process``, started and watched by
``edge_agent.recording.recorder_supervisor``), or as a thread where one camera is recorded on its
own.

Reconnects are quick and never give up: the first after ``reconnect_initial_seconds``, then
doubling up to ``reconnect_max_seconds`` (at most 2 s), for as long as the camera stays down. A
few TCP connects cost nothing; frames that a camera sent after it came back and that nobody read
cannot be had again. Only the log is rate-limited: the first failure of an outage is logged, then
one line a minute while it lasts, and one line when recording resumes.

When a connection ends, a gap is opened in the index at the end of the last segment with the
cause (camera unreachable, stream stalled, disk full, agent stopped); the first segment after the
reconnect ends it. The recorder's state is published through a ``RecorderHealth`` snapshot (and
``on_status`` on every change).

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
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import av
import av.error
from av.container import InputContainer
from av.video.stream import VideoStream

from cctv_common.clock import utc_now
from cctv_common.evidence.manifest import GapCause
from cctv_common.uris import redact_uri
from edge_agent.config import RecorderConfig
from edge_agent.recording.recording_session import RecordingSession, StreamFacts
from edge_agent.recording.segment_timing import fill_missing_timestamps
from edge_agent.recording.segment_writer import SegmentWriteFailed
from edge_agent.recording.segments import Gap, Segment
from edge_agent.store.index_port import IndexUnreachable, IndexWriteFailed, RecordingSink

log = logging.getLogger(__name__)

UrlProvider = Callable[[], str]

# Probe only long enough to read the parameter sets: a short probe means the first packets are
# not held for a second before the first segment can start.
PROBE_OPTIONS = {"analyzeduration": "500000", "probesize": "1000000"}
_CREDENTIALS = re.compile(r"(?i)\b(rtsps?|https?)://[^/\s@]*@")
# While a camera stays down, one log line per this many seconds.
OUTAGE_LOG_SECONDS = 60.0
# The recorder tells its supervisor it is alive at least this often while packets flow.
ALIVE_SECONDS = 1.0


class CameraUnreachable(Exception):
    """The camera's stream URL cannot be had now (e.g. its ONVIF device does not answer)."""


class RecorderState(enum.StrEnum):
    STARTING = "starting"
    RECORDING = "recording"
    RECONNECTING = "reconnecting"
    ERROR = "error"  # the camera is fine but segments cannot be written (disk, index)
    STOPPED = "stopped"


@dataclass(frozen=True)
class RecorderHealth:
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
    frames_written: int = 0
    frames_dropped: int = 0
    restarts: int = 0  # of the camera's recorder process, after a crash or a hang


class Backoff:
    """Waits between reconnects: initial, doubled each failure, capped (at 2 s by the config)."""

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
    cause: GapCause = GapCause.CAMERA_UNREACHABLE
    produced: bool = False
    last_end: datetime | None = None
    disk_failed: bool = False


class OutageLog:
    """Rate-limits the log of one outage: its first failure, a line a minute, its end."""

    def __init__(self, label: str, every: float = OUTAGE_LOG_SECONDS) -> None:
        self._label = label
        self._every = every
        self._since: float | None = None
        self._logged_at = 0.0
        self._attempts = 0

    @property
    def down(self) -> bool:
        return self._since is not None

    def failed(self, reason: str, delay: float, now: float) -> None:
        self._attempts += 1
        if self._since is None:
            self._since = self._logged_at = now
            log.warning("%s: %s; reconnecting every %.1f s or less", self._label, reason, delay)
        elif now - self._logged_at >= self._every:
            self._logged_at = now
            log.warning(
                "%s: still down after %.0f s and %d attempts: %s",
                self._label,
                now - self._since,
                self._attempts,
                reason,
            )

    def recovered(self, now: float) -> None:
        if self._since is not None:
            log.info(
                "%s: recording again after %.1f s and %d attempts",
                self._label,
                now - self._since,
                self._attempts,
            )
        self._since = None
        self._attempts = 0


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


class CameraRecorder(threading.Thread):
    """Records one camera until ``stop()``; see the module docstring.

    ``sink`` takes the segments and gaps (the index, or the pipe to it); ``on_status`` is called
    with every new status, ``on_alive`` at least every ``ALIVE_SECONDS`` while packets flow and
    at every connection attempt (the supervisor's sign that the recorder is not hung). Both run
    on the recorder's thread. ``run()`` may be called directly (a recorder process does).
    """

    def __init__(
        self,
        camera_id: str,
        url_provider: UrlProvider,
        segments_dir: Path,
        sink: RecordingSink,
        settings: RecorderConfig,
        *,
        site_id: str = "",
        on_disk_full: Callable[[], None] | None = None,
        on_status: Callable[[RecorderHealth], None] | None = None,
        on_alive: Callable[[], None] | None = None,
        now: Callable[[], datetime] = utc_now,
    ) -> None:
        super().__init__(name=f"recorder-{camera_id}", daemon=True)
        self.camera_id = camera_id
        self._url_provider = url_provider
        self._segments_dir = segments_dir
        self._sink = sink
        self._settings = settings
        self._on_disk_full = on_disk_full
        self._on_status = on_status
        self._on_alive = on_alive
        self._now = now
        self._label = f"site {site_id} camera {camera_id}" if site_id else f"camera {camera_id}"
        self._stop_event = threading.Event()
        self._status_lock = threading.Lock()
        self._status = RecorderHealth(camera_id=camera_id)
        self._outage = OutageLog(self._label)
        self._alive_at = 0.0

    @property
    def status(self) -> RecorderHealth:
        with self._status_lock:
            return self._status

    def stop(self) -> None:
        """Ask the recorder to finish its segment and end (join the thread to wait)."""
        self._stop_event.set()

    def _update(self, **changes: object) -> None:
        with self._status_lock:
            self._status = dataclasses.replace(self._status, **changes)  # type: ignore[arg-type]
            status = self._status
        if self._on_status is not None:
            self._on_status(status)

    def _alive(self, force: bool = False) -> None:
        if self._on_alive is None:
            return
        now = time.monotonic()
        if force or now - self._alive_at >= ALIVE_SECONDS:
            self._alive_at = now
            self._on_alive()

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
        extent = self._sink.buffer_extent(self.camera_id)
        last_end = extent[1] if extent else None
        gap = ("the recorder was not running", GapCause.AGENT_STOPPED)
        attempts = 0
        gap_open = False
        while not self._stop_event.is_set():
            if attempts:
                self._update(reconnects=attempts)
            attempts += 1
            self._alive(force=True)
            end = self._connect_and_record(last_end, gap)
            self._alive(force=True)
            if end.last_end is not None:
                last_end = end.last_end
            if end.produced:
                backoff.reset()
                gap_open = False
            gap = (end.reason, end.cause)
            if last_end is not None and not gap_open:
                gap_open = self._open_gap(Gap(last_end, last_end, end.reason, end.cause))
            if self._stop_event.is_set():
                break
            delay = backoff.next()
            state = RecorderState.ERROR if end.disk_failed else RecorderState.RECONNECTING
            self._update(state=state, last_error=end.reason)
            self._outage.failed(end.reason, settings.reconnect_max_seconds, time.monotonic())
            if end.disk_failed and self._on_disk_full is not None:
                self._on_disk_full()
            self._stop_event.wait(delay)

    def _open_gap(self, gap: Gap) -> bool:
        try:
            self._sink.open_gap(self.camera_id, gap)
        except IndexWriteFailed as exc:
            log.error("%s: cannot record where the footage stops: %s", self._label, exc)
            return False
        return True

    def _connect_and_record(
        self, last_end: datetime | None, gap: tuple[str, GapCause]
    ) -> SessionEnd:
        try:
            url = self._url_provider()
        except (CameraUnreachable, OSError) as exc:
            return SessionEnd(reason=f"no stream URL: {redact_text(str(exc))}")
        settings = self._settings
        if self._outage.down:
            log.debug("%s: connecting to %s", self._label, redact_uri(url))
        else:
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
                self._sink,
                settings,
                resume_after=last_end,
                gap=gap,
                on_segment=self._segment_written,
                label=self._label,
            )
            reason = self._pump(container, stream, session, url)
            return dataclasses.replace(
                reason, produced=session.segments_written > 0, last_end=session.last_end
            )

    def _pump(
        self, container: InputContainer, stream: VideoStream, session: RecordingSession, url: str
    ) -> SessionEnd:
        """Move packets from the camera into the session until the connection ends."""
        reason: SessionEnd
        stop = self._stop_event
        # The demux generator lives in this frame only, so it is finalised when this returns,
        # before the caller closes the container.
        try:
            for packet in fill_missing_timestamps(container.demux(stream), session.note_untimed):
                session.feed(packet, self._now(), time.monotonic())
                if session.writing and self._status.state is not RecorderState.RECORDING:
                    self._update(state=RecorderState.RECORDING, last_error=None)
                    self._outage.recovered(time.monotonic())
                self._alive()
                if stop.is_set():
                    break
            if stop.is_set():
                reason = SessionEnd("recorder stopped", GapCause.AGENT_STOPPED)
            else:
                reason = SessionEnd("camera ended the stream")
        except av.error.ExitError:
            reason = SessionEnd(
                f"camera stalled: no data for {self._settings.stall_timeout_seconds:g} s",
                GapCause.STREAM_STALLED,
            )
        except av.error.FFmpegError as exc:
            reason = SessionEnd(f"camera dropped: {redact_text(str(exc), url)}")
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
        if isinstance(exc, IndexUnreachable):
            self._stop_event.set()
            log.error("%s: %s; stopping, the segment is left for the next start", self._label, exc)
            return SessionEnd(reason=str(exc), cause=GapCause.AGENT_STOPPED)
        if isinstance(exc, IndexWriteFailed):
            full = "full" in str(exc)
            what = "disk full" if full else "cannot write the index"
        else:
            full = exc.errno == errno.ENOSPC
            what = "disk full" if full else "cannot write"
        log.error("%s: %s, segment discarded: %s", self._label, what, exc)
        return SessionEnd(reason=f"{what}: {exc}", cause=GapCause.DISK_FULL, disk_failed=True)

    def _segment_written(self, segment: Segment, clock_lag: float | None) -> None:
        status = self.status
        self._update(
            segments_written=status.segments_written + 1,
            last_segment_end=segment.end,
            clock_lag_seconds=clock_lag,
            frames_written=status.frames_written + (segment.frames or 0),
            frames_dropped=status.frames_dropped
            + sum(count for _, count in segment.frames_dropped),
        )
        log.debug("%s: segment %s (%d bytes)", self._label, segment.path, segment.bytes)
