"""Every camera's recorder in its own process, watched and restarted: the agent's side.

``Recorders`` starts one ``CameraSupervisor`` thread per enabled camera. Each starts the camera's
recorder process (``edge_agent.recording.recorder_process``: a fresh interpreter, so nothing of the
agent's asyncio loop, paho client or aiortc state is inherited, and a crash inside FFmpeg/PyAV ends
that process only), answers its calls, and restarts it when it

- dies (a crash, a signal, a kill): at once; or
- hangs: nothing heard from it (no packets, no error, no connection attempt) for
  ``recorder.hang_timeout_seconds``: it is killed and restarted.

Time the supervisor spends answering a call (an ONVIF camera's stream URL may take a while) does
not count towards a hang. After a crash or a hang, the segment the process was writing is salvaged
as after a power cut (``Janitor.recover_leftovers`` for that camera only: MPEG-TS stays readable up
to its last whole packet) and a gap is opened from the end of the camera's footage with cause
``agent_stopped`` and the reason in words; the new process's first segment ends it. A process that
dies within seconds of its start is restarted after a short pause, never a long one.

One writer for ``index.db``: the recorder processes never open it. Each segment, gap and extent
question comes to its supervisor thread over the socket, which writes the index (the index's own
lock serialises the threads). A segment is in the index only once its file is fsynced and renamed;
the process waits for the answer before it goes on, so an index that cannot be written (disk full)
is known to the recorder exactly as before (it deletes the file it cannot index).

The camera's stream URL (with its password) is passed over the socket before every connect, never
in a process's arguments or environment, and never logged.
"""

from __future__ import annotations

import dataclasses
import logging
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping
from multiprocessing.connection import Connection
from typing import Any

from cctv_common.evidence.manifest import GapCause
from edge_agent.config import AgentConfig, CameraConfig
from edge_agent.recording.janitor import Janitor
from edge_agent.recording.recorder import (
    CameraUnreachable,
    RecorderHealth,
    RecorderState,
    UrlProvider,
    redact_text,
)
from edge_agent.recording.recorder_process import (
    ALIVE,
    CALL,
    DISK_FULL,
    LOG,
    REPLY,
    SINK_METHODS,
    STATUS,
    STOP,
    URL,
    RecorderSpec,
)
from edge_agent.recording.segments import Gap
from edge_agent.store.segment_index import IndexWriteFailed, SegmentIndex

log = logging.getLogger(__name__)

POLL_SECONDS = 0.2
# A process that dies sooner than this after its start is restarted after RESTART_PAUSE_SECONDS,
# so a camera that crashes the demuxer at once does not spin a core.
QUICK_DEATH_SECONDS = 5.0
RESTART_PAUSE_SECONDS = 1.0
REAP_SECONDS = 5.0


def describe_exit(returncode: int) -> str:
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = str(-returncode)
        return f"was killed by {name}"
    return f"exited with status {returncode}"


class CameraSupervisor(threading.Thread):
    """Runs one camera's recorder process until ``stop()``; see the module docstring."""

    def __init__(
        self,
        camera_id: str,
        url_provider: UrlProvider,
        index: SegmentIndex,
        config: AgentConfig,
        *,
        on_disk_full: Callable[[], None] | None = None,
        recover: Callable[[str], object] | None = None,
    ) -> None:
        super().__init__(name=f"recorder-supervisor-{camera_id}", daemon=True)
        self.camera_id = camera_id
        self._url_provider = url_provider
        self._index = index
        self._config = config
        self._settings = config.recorder
        self._on_disk_full = on_disk_full
        self._recover = recover
        self._label = f"site {config.site_id} camera {camera_id}"
        self._stopping = threading.Event()
        self._stop_deadline: float | None = None
        self._lock = threading.Lock()
        self._status = RecorderHealth(camera_id=camera_id)
        self._base = RecorderHealth(camera_id=camera_id)  # counts of the processes before
        self._process: subprocess.Popen[bytes] | None = None
        self.restarts = 0

    # What the agent sees

    @property
    def status(self) -> RecorderHealth:
        with self._lock:
            return self._status

    @property
    def pid(self) -> int | None:
        """The recorder process's id, while one runs."""
        process = self._process
        return process.pid if process is not None and process.poll() is None else None

    def stop(self, deadline: float | None = None) -> None:
        """Ask the process to finish its segment and end; killed at ``deadline`` (monotonic)."""
        self._stop_deadline = deadline
        self._stopping.set()

    # The loop

    def run(self) -> None:
        while not self._stopping.is_set():
            started = time.monotonic()
            try:
                outcome = self._run_process()
            except Exception:  # the supervisor must outlive any bug in one round
                log.exception(
                    "%s: recorder supervisor failed; starting the recorder again", self._label
                )
                outcome = "failed in the supervisor"
            if self._stopping.is_set():
                break
            self._restarted(outcome)
            if time.monotonic() - started < QUICK_DEATH_SECONDS:
                self._stopping.wait(RESTART_PAUSE_SECONDS)
        self._set(state=RecorderState.STOPPED)
        log.info("%s: recorder stopped", self._label)

    def _run_process(self) -> str:
        """Run one recorder process to its end; return what ended it, in words."""
        process, conn = self._spawn()
        self._process = process
        stop_sent = False
        heard = time.monotonic()
        hang = self._settings.hang_timeout
        try:
            while True:
                if self._stopping.is_set() and not stop_sent:
                    stop_sent = self._send(conn, (STOP,))
                deadline = self._stop_deadline
                if stop_sent and deadline is not None and time.monotonic() > deadline:
                    log.error("%s: recorder process did not stop in time; killed", self._label)
                    process.kill()
                    return "did not stop in time"
                try:
                    ready = conn.poll(POLL_SECONDS)
                except OSError:
                    ready = True
                if ready:
                    try:
                        message = conn.recv()
                    except (EOFError, OSError):
                        break
                    self._handle(conn, message)
                    heard = time.monotonic()
                elif process.poll() is not None:
                    break
                elif not stop_sent and time.monotonic() - heard > hang:
                    log.error(
                        "%s: recorder process %s is hung (nothing for %g s); killing it",
                        self._label,
                        process.pid,
                        hang,
                    )
                    process.kill()
                    return f"hung (nothing from it for {hang:g} s)"
        finally:
            conn.close()
            _reap(process)
            self._process = None
        return describe_exit(process.returncode)

    def _spawn(self) -> tuple[subprocess.Popen[bytes], Connection]:
        ours, theirs = socket.socketpair()
        command = [
            sys.executable,
            "-m",
            "edge_agent.recording.recorder_process",
            "--site",
            self._config.site_id,
            "--camera",
            self.camera_id,
            "--fd",
            str(theirs.fileno()),
        ]
        try:
            process = subprocess.Popen(
                command, pass_fds=(theirs.fileno(),), stdin=subprocess.DEVNULL
            )
        finally:
            theirs.close()
        conn = Connection(ours.detach())
        spec = RecorderSpec(
            site_id=self._config.site_id,
            camera_id=self.camera_id,
            segments_dir=self._config.segments_dir,
            settings=self._settings,
            log_level=logging.getLogger("edge_agent").getEffectiveLevel(),
        )
        self._send(conn, spec)
        log.info("%s: recorder process %s started", self._label, process.pid)
        return process, conn

    def _send(self, conn: Connection, message: object) -> bool:
        try:
            conn.send(message)
        except (OSError, ValueError) as exc:
            log.debug("%s: cannot reach the recorder process: %s", self._label, exc)
            return False
        return True

    # Messages from the process

    def _handle(self, conn: Connection, message: Any) -> None:
        try:
            kind = message[0]
            if kind == CALL:
                _, call_id, method, args = message
                self._send(conn, (REPLY, call_id, *self._answer(method, args)))
            elif kind == STATUS:
                self._child_status(message[1])
            elif kind == LOG:
                _, level, name, text = message
                _relog(int(level), str(name), str(text))
            elif kind == DISK_FULL and self._on_disk_full is not None:
                self._on_disk_full()
            elif kind != ALIVE:
                log.error("%s: unknown message from the recorder: %.100r", self._label, message)
        except (TypeError, ValueError, IndexError) as exc:
            log.error("%s: malformed message from the recorder: %s", self._label, exc)

    def _answer(self, method: str, args: tuple[Any, ...]) -> tuple[bool, Any]:
        if method == URL:
            try:
                return True, self._url_provider()
            except (CameraUnreachable, OSError) as exc:
                return False, ("CameraUnreachable", str(exc))
            except Exception as exc:  # the provider (ONVIF) failed in a way nobody foresaw
                log.exception("%s: stream URL provider failed", self._label)
                return False, ("CameraUnreachable", redact_text(f"stream URL provider: {exc!r}"))
        if method in SINK_METHODS:
            try:
                return True, getattr(self._index, method)(*args)
            except IndexWriteFailed as exc:
                return False, ("IndexWriteFailed", str(exc))
            except Exception as exc:
                log.exception("%s: index %s failed", self._label, method)
                return False, ("IndexWriteFailed", f"{method}: {exc!r}")
        return False, ("ValueError", f"unknown call {method!r}")

    def _child_status(self, status: RecorderHealth) -> None:
        base = self._base
        with self._lock:
            self._status = dataclasses.replace(
                status,
                segments_written=base.segments_written + status.segments_written,
                frames_written=base.frames_written + status.frames_written,
                frames_dropped=base.frames_dropped + status.frames_dropped,
                reconnects=base.reconnects + status.reconnects,
                restarts=self.restarts,
            )

    def _set(self, **changes: Any) -> None:
        with self._lock:
            self._status = dataclasses.replace(self._status, **changes)

    # After a crash or a hang

    def _restarted(self, outcome: str) -> None:
        self.restarts += 1
        reason = f"the camera's recorder process {outcome}; restarted"
        log.error("%s: %s (restart %d)", self._label, reason, self.restarts)
        with self._lock:
            self._base = dataclasses.replace(self._status, reconnects=self._status.reconnects + 1)
            self._status = dataclasses.replace(
                self._status,
                state=RecorderState.RECONNECTING,
                last_error=reason,
                restarts=self.restarts,
                reconnects=self._status.reconnects + 1,
            )
        if self._recover is not None:
            try:
                self._recover(self.camera_id)
            except Exception:
                log.exception("%s: salvaging the recorder's last segment failed", self._label)
        try:
            extent = self._index.buffer_extent(self.camera_id)
            if extent is not None:
                self._index.open_gap(
                    self.camera_id, Gap(extent[1], extent[1], reason, GapCause.AGENT_STOPPED)
                )
        except IndexWriteFailed as exc:
            log.error("%s: cannot record where the footage stops: %s", self._label, exc)


def _relog(level: int, name: str, text: str) -> None:
    logger = logging.getLogger(name)
    if logger.isEnabledFor(level):
        logger.handle(logger.makeRecord(name, level, "(recorder process)", 0, text, (), None))


def _reap(process: subprocess.Popen[bytes]) -> None:
    try:
        process.wait(REAP_SECONDS)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


class Recorders:
    """One supervised recorder process per enabled camera, started and stopped together."""

    def __init__(
        self,
        config: AgentConfig,
        index: SegmentIndex,
        *,
        url_providers: Mapping[str, UrlProvider] | None = None,
        on_disk_full: Callable[[], None] | None = None,
        recover: Callable[[str], object] | None = None,
    ) -> None:
        self._config = config
        self._index = index
        self._url_providers = dict(url_providers or {})
        self._on_disk_full = on_disk_full
        if recover is None:
            janitor = Janitor(index, config.segments_dir, config.retention, site_id=config.site_id)
            recover = janitor.recover_leftovers
        self._recover = recover
        self._workers: dict[str, CameraSupervisor] = {}

    def start(self) -> None:
        for camera in self._config.cameras:
            if not camera.enabled or camera.id in self._workers:
                continue
            worker = CameraSupervisor(
                camera.id,
                self._provider_for(camera),
                self._index,
                self._config,
                on_disk_full=self._on_disk_full,
                recover=self._recover,
            )
            self._workers[camera.id] = worker
            worker.start()

    def stop_all(self, timeout: float = 15.0) -> list[str]:
        """Stop every recorder (each finishes its segment; killed after ``timeout`` seconds);
        returns the ids of cameras whose supervisor is still running after that."""
        deadline = time.monotonic() + max(timeout - REAP_SECONDS, timeout / 2)
        for worker in self._workers.values():
            worker.stop(deadline)
        end = time.monotonic() + timeout
        for worker in self._workers.values():
            worker.join(max(0.0, end - time.monotonic()))
        stuck = [camera_id for camera_id, w in self._workers.items() if w.is_alive()]
        for camera_id in stuck:
            log.error("site %s camera %s: recorder did not stop", self._config.site_id, camera_id)
        return stuck

    def statuses(self) -> list[RecorderHealth]:
        return [worker.status for worker in self._workers.values()]

    def status(self, camera_id: str) -> RecorderHealth:
        return self._workers[camera_id].status

    def pid(self, camera_id: str) -> int | None:
        """The camera's recorder process id (None between a crash and its restart)."""
        return self._workers[camera_id].pid

    def _provider_for(self, camera: CameraConfig) -> UrlProvider:
        if camera.id in self._url_providers:
            return self._url_providers[camera.id]
        url = camera.rtsp_url
        if url is not None:
            return lambda: url

        def unresolved() -> str:
            raise CameraUnreachable("no stream URL provider for this ONVIF camera")

        return unresolved
