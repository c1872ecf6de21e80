"""One camera's recorder in a process of its own: the child side of the recorder supervisor.

Started by ``edge_agent.recording.recorder_supervisor`` as ``python -m
edge_agent.recording.recorder_process --site S --camera C --fd N``: a fresh interpreter (nothing of
the agent's asyncio loop, paho client or aiortc state is inherited) whose only link to the agent is
the socket ``N``. Over it, framed and pickled by ``multiprocessing.connection.Connection``:

- first, the parent sends the ``RecorderSpec`` (segments folder, recorder settings, log level);
- the child asks the parent for what lives there: the camera's stream URL before every connect
  (so the camera's password never appears in this process's arguments or environment), and
  every index write (``add_segment``, ``add_gap``, ``open_gap``, ``close_gap``,
  ``buffer_extent``): the agent's main process is the one writer of ``index.db``;
- the child sends its status on every change, an ``alive`` at least once a second while packets
  flow, ``disk_full``, and its log records (the parent logs them under their own logger names);
- the parent sends ``stop``: the recorder finishes its segment, and the process exits.

If the parent goes away (end of file on the socket: the agent was killed) the recorder stops the
same way, so no recorder outlives its agent; the segment it finished cannot be indexed and is left
on the disk, where the agent's next start salvages it. SIGTERM and SIGINT are ignored: a stop of
the whole process group (systemd, Ctrl-C) reaches the agent, which stops its recorders in order.
"""

from __future__ import annotations

import argparse
import logging
import queue
import signal
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from edge_agent.config import RecorderConfig
from edge_agent.recording.recorder import CameraRecorder, CameraUnreachable, RecorderHealth
from edge_agent.recording.segments import Gap, Segment
from edge_agent.store.index_port import IndexUnreachable, IndexWriteFailed

log = logging.getLogger(__name__)

# Messages (tuples, the first item names them).
CALL = "call"  # child -> parent: ("call", id, method, args)
REPLY = "reply"  # parent -> child: ("reply", id, ok, value or error text)
STATUS = "status"  # child -> parent: ("status", RecorderHealth)
ALIVE = "alive"  # child -> parent: ("alive",)
LOG = "log"  # child -> parent: ("log", levelno, logger name, message)
DISK_FULL = "disk_full"  # child -> parent: ("disk_full",)
STOP = "stop"  # parent -> child: ("stop",)

# Calls the parent answers; the sink's are index writes.
URL = "url"
SINK_METHODS = frozenset({"add_segment", "add_gap", "open_gap", "close_gap", "buffer_extent"})

# A reply slower than this means the parent is gone or stuck; the recorder then stops.
REPLY_TIMEOUT_SECONDS = 120.0


@dataclass(frozen=True)
class RecorderSpec:
    site_id: str
    camera_id: str
    segments_dir: Path
    settings: RecorderConfig
    log_level: int = logging.INFO


class ParentGone(Exception):
    """The agent's main process no longer answers."""


class ParentLink:
    """The child's end of the socket: one reader thread; calls wait for their reply."""

    def __init__(self, conn: Connection, on_stop: Callable[[], None]) -> None:
        self._conn = conn
        self._on_stop = on_stop
        self._send_lock = threading.Lock()
        self._replies: queue.Queue[tuple[int, bool, Any]] = queue.Queue()
        self._next_id = 0
        self.closed = threading.Event()
        self._reader = threading.Thread(target=self._read, name="parent-link", daemon=True)

    def start(self) -> None:
        self._reader.start()

    def send(self, message: tuple[Any, ...]) -> None:
        if self.closed.is_set():
            return
        try:
            with self._send_lock:
                self._conn.send(message)
        except (OSError, EOFError):
            self._gone()

    def call(self, method: str, *args: Any) -> Any:
        """Ask the parent; returns its answer or raises what it raised (by name)."""
        if self.closed.is_set():
            raise ParentGone("the agent is gone")
        self._next_id += 1
        call_id = self._next_id
        self.send((CALL, call_id, method, args))
        while True:
            try:
                got_id, ok, value = self._replies.get(timeout=REPLY_TIMEOUT_SECONDS)
            except queue.Empty as exc:
                self._gone()
                raise ParentGone(f"no answer to {method} from the agent") from exc
            if got_id == -1:
                raise ParentGone("the agent closed the link")
            if got_id != call_id:
                continue  # the answer to a call abandoned by a timeout
            if ok:
                return value
            kind, text = value
            if kind == "IndexWriteFailed":
                raise IndexWriteFailed(text)
            if kind == "CameraUnreachable":
                raise CameraUnreachable(text)
            raise ParentGone(f"{method} failed in the agent: {text}")

    def _read(self) -> None:
        while True:
            try:
                message = self._conn.recv()
            except (OSError, EOFError):
                break
            if message[0] == REPLY:
                self._replies.put((message[1], message[2], message[3]))
            elif message[0] == STOP:
                self._on_stop()
        self._gone()

    def _gone(self) -> None:
        if not self.closed.is_set():
            self.closed.set()
            self._on_stop()
            self._replies.put((-1, False, None))


class PipeSink:
    """``RecordingSink`` over the link: every index write is done by the parent."""

    def __init__(self, link: ParentLink) -> None:
        self._link = link

    def _call(self, method: str, *args: Any) -> Any:
        try:
            return self._link.call(method, *args)
        except ParentGone as exc:
            # The recorder stops (the link's end has already asked it to) and leaves its last
            # segment on the disk, unindexed, for the agent's next start to salvage.
            raise IndexUnreachable(str(exc)) from exc

    def add_segment(self, segment: Segment) -> Segment:
        stored: Segment = self._call("add_segment", segment)
        return stored

    def add_gap(self, camera_id: str, gap: Gap) -> None:
        self._call("add_gap", camera_id, gap)

    def open_gap(self, camera_id: str, gap: Gap) -> None:
        self._call("open_gap", camera_id, gap)

    def close_gap(self, camera_id: str, gap: Gap, tolerance: float) -> Gap | None:
        ended: Gap | None = self._call("close_gap", camera_id, gap, tolerance)
        return ended

    def buffer_extent(self, camera_id: str) -> tuple[datetime, datetime] | None:
        extent: tuple[datetime, datetime] | None = self._call("buffer_extent", camera_id)
        return extent


class ForwardingHandler(logging.Handler):
    """Sends each log record, formatted here, to the parent, which logs it as its own."""

    def __init__(self, link: ParentLink) -> None:
        super().__init__()
        self._link = link

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = record.getMessage()
            if record.exc_info:
                message += "\n" + logging.Formatter().formatException(record.exc_info)
            self._link.send((LOG, record.levelno, record.name, message))
        except Exception:  # a log line must never take the recorder down
            self.handleError(record)


def run(conn: Connection) -> int:
    # The agent decides when a recorder stops (over the socket, or by going away): a SIGTERM or
    # SIGINT for the whole group (systemd's stop, Ctrl-C) must not cut a segment short.
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    spec: RecorderSpec = conn.recv()
    recorder: CameraRecorder | None = None
    stop_requested = threading.Event()

    def stop() -> None:
        stop_requested.set()
        if recorder is not None:
            recorder.stop()

    link = ParentLink(conn, stop)
    root = logging.getLogger()
    root.handlers[:] = [ForwardingHandler(link)]
    root.setLevel(spec.log_level)
    link.start()

    def url() -> str:
        try:
            value: str = link.call(URL)
        except ParentGone as exc:
            raise CameraUnreachable(str(exc)) from exc
        return value

    def on_status(status: RecorderHealth) -> None:
        link.send((STATUS, status))

    recorder = CameraRecorder(
        spec.camera_id,
        url,
        spec.segments_dir,
        PipeSink(link),
        spec.settings,
        site_id=spec.site_id,
        on_disk_full=lambda: link.send((DISK_FULL,)),
        on_status=on_status,
        on_alive=lambda: link.send((ALIVE,)),
    )
    if stop_requested.is_set():
        recorder.stop()
    recorder.run()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="One camera's recorder (started by the agent)")
    parser.add_argument("--site", required=True, help="site id, for ps and the logs")
    parser.add_argument("--camera", required=True, help="camera id, for ps and the logs")
    parser.add_argument("--fd", type=int, required=True, help="socket to the agent")
    args = parser.parse_args(argv)
    conn = Connection(args.fd)
    try:
        return run(conn)
    finally:
        conn.close()


if __name__ == "__main__":
    sys.exit(main())
