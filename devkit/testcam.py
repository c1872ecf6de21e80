"""A local test camera for the tests and ``cctv-demo``: starts and stops ``testcam_server.py``.

The server needs GStreamer's RTSP server through PyGObject, which Debian packages for its own
Python (``python3-gi``, ``gir1.2-gst-rtsp-server-1.0``, ``gstreamer1.0-plugins-ugly`` for x264,
``gstreamer1.0-plugins-bad`` for x265), so it runs as a child process of ``/usr/bin/python3`` and
this module only needs the standard library.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import tempfile
from pathlib import Path
from types import TracebackType
from typing import IO

from devkit.server_process import ServerNotReady, end_server, first_line

log = logging.getLogger(__name__)

SERVER_SCRIPT = Path(__file__).with_name("testcam_server.py")
SYSTEM_PYTHON = "/usr/bin/python3"
INSTALL_HINT = (
    "install python3-gi gir1.2-gst-rtsp-server-1.0 gstreamer1.0-plugins-base"
    " gstreamer1.0-plugins-good gstreamer1.0-plugins-ugly (x264) and, for H.265,"
    " gstreamer1.0-plugins-bad"
)


class TestCameraUnavailable(Exception):
    """The test camera cannot start; the message says why and what to install."""

    __test__ = False  # not a pytest test class


class TestCamera:
    """An RTSP test camera on 127.0.0.1 (H.264 or H.265, keyframe every ``gop_seconds``).

    ``port=None`` lets the server pick a free port at the first start; ``restart()`` and later
    starts reuse it, so a recorder reconnects to the same URL.
    """

    __test__ = False  # not a pytest test class

    def __init__(
        self,
        port: int | None = None,
        mount: str = "cam",
        width: int = 640,
        height: int = 360,
        fps: int = 25,
        gop_seconds: float = 1.0,
        codec: str = "h264",
        bitrate_kbps: int = 1000,
        *,
        python: str = SYSTEM_PYTHON,
        ready_timeout: float = 20.0,
    ) -> None:
        if codec not in ("h264", "h265"):
            raise ValueError(f"codec must be h264 or h265, not {codec!r}")
        self.port = port
        self.mount = mount.strip("/")
        self.width = width
        self.height = height
        self.fps = fps
        self.gop_seconds = gop_seconds
        self.codec = codec
        self.bitrate_kbps = bitrate_kbps
        self._python = python
        self._ready_timeout = ready_timeout
        self._process: subprocess.Popen[bytes] | None = None
        self._stderr: IO[bytes] | None = None
        self._frozen = False

    @property
    def url(self) -> str:
        if self.port is None:
            raise RuntimeError("the test camera has no port until it is started")
        return f"rtsp://127.0.0.1:{self.port}/{self.mount}"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self) -> TestCamera:
        if self.running:
            return self
        if not Path(self._python).exists():
            raise TestCameraUnavailable(f"{self._python} not found; {INSTALL_HINT}")
        stderr = tempfile.TemporaryFile()
        process = subprocess.Popen(
            [self._python, str(SERVER_SCRIPT), *self._arguments()],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=stderr,
        )
        self._process, self._stderr = process, stderr
        try:
            self._wait_ready(process)
        except BaseException:
            self._terminate()
            raise
        log.info("test camera %s started (pid %s)", self.url, process.pid)
        return self

    def stop(self) -> None:
        if self._process is not None:
            log.info("test camera %s stopping", self.url)
        self._terminate()

    def restart(self) -> TestCamera:
        self.stop()
        return self.start()

    def freeze(self) -> None:
        """Stop sending without closing connections (SIGSTOP): a stalled camera."""
        if self._process is not None and self.running:
            os.kill(self._process.pid, signal.SIGSTOP)
            self._frozen = True

    def thaw(self) -> None:
        if self._process is not None and self._frozen:
            os.kill(self._process.pid, signal.SIGCONT)
            self._frozen = False

    def __enter__(self) -> TestCamera:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def _arguments(self) -> list[str]:
        return [
            "--port",
            str(self.port or 0),
            "--mount",
            self.mount,
            "--width",
            str(self.width),
            "--height",
            str(self.height),
            "--fps",
            str(self.fps),
            "--gop-seconds",
            str(self.gop_seconds),
            "--bitrate",
            str(self.bitrate_kbps),
            "--codec",
            self.codec,
            "--exit-on-stdin-eof",
        ]

    def _wait_ready(self, process: subprocess.Popen[bytes]) -> None:
        try:
            line = first_line(process, self._ready_timeout)
        except ServerNotReady as exc:
            hint = "" if exc.status is None else f"; {INSTALL_HINT}"
            raise TestCameraUnavailable(f"test camera {exc}{self._stderr_tail()}{hint}") from exc
        if not line.startswith("READY "):
            raise TestCameraUnavailable(f"test camera: {line}{self._stderr_tail()}; {INSTALL_HINT}")
        self.port = int(line.split()[1].rsplit(":", 1)[1].split("/", 1)[0])

    def _stderr_tail(self) -> str:
        if self._stderr is None:
            return ""
        self._stderr.seek(0)
        text = self._stderr.read()[-2000:].decode("utf-8", "replace").strip()
        return f": {text}" if text else ""

    def _terminate(self) -> None:
        process, self._process = self._process, None
        if process is not None:
            if self._frozen:
                os.kill(process.pid, signal.SIGCONT)
                self._frozen = False
            end_server(process)
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None
