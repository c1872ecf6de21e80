"""A test NVR on loopback: ONVIF Profile G recording search and replay over real RTSP/RTP.

- ``make_recordings(root, specs)`` encodes recordings of the test picture with each frame's
  wall-clock time burnt in (``record_script.py``, GStreamer, faster than real time);
- ``TestNvr(root)`` serves them: a SOAP service in this process (``soap.py``: device, recording,
  search, replay) and GStreamer's ONVIF RTSP server in a child process of the system Python
  (``server_script.py``: ``Require: onvif-replay``, ``Range: clock=``, the 0xABAC extension with
  E/D/T flags, ``Rate-Control``, ``Frames``, and Hikvision/Dahua style playback paths).

``replay_support=False`` makes a server that answers 551 to ``Require: onvif-replay``.
"""

from __future__ import annotations

import subprocess
import tempfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO

from devkit.nvr.soap import NvrSoapService
from devkit.nvr.store import Recording, load_recordings
from devkit.server_process import ServerNotReady, end_server, first_line

HERE = Path(__file__).resolve().parent
SYSTEM_PYTHON = "/usr/bin/python3"
INSTALL_HINT = (
    "install python3-gi gir1.2-gst-rtsp-server-1.0 gstreamer1.0-plugins-good"
    " gstreamer1.0-plugins-ugly (x264) and gstreamer1.0-plugins-bad (rtponviftimestamp, x265)"
)


class TestNvrUnavailable(Exception):
    """The test NVR cannot start or record; the message says why and what to install."""

    __test__ = False


@dataclass(frozen=True)
class RecordingSpec:
    token: str
    channel: int
    spans: tuple[tuple[datetime, float], ...]  # (UTC start, seconds); two spans make a hole
    source_id: str = ""
    name: str = ""
    codec: str = "h264"
    width: int = 640
    height: int = 360
    fps: int = 25
    gop_seconds: float = 1.0
    bitrate_kbps: int = 1000


def make_recording(root: Path, spec: RecordingSpec, timeout: float = 600.0) -> Recording:
    folder = root / spec.token
    arguments = [
        SYSTEM_PYTHON,
        str(HERE / "record_script.py"),
        "--out", str(folder),
        "--token", spec.token,
        "--source-id", spec.source_id or f"VideoSource_{spec.channel}",
        "--channel", str(spec.channel),
        "--name", spec.name or f"Channel {spec.channel}",
        "--codec", spec.codec,
        "--width", str(spec.width),
        "--height", str(spec.height),
        "--fps", str(spec.fps),
        "--gop-seconds", str(spec.gop_seconds),
        "--bitrate", str(spec.bitrate_kbps),
    ]  # fmt: skip
    for start, seconds in spec.spans:
        arguments += ["--span", f"{start.isoformat()},{seconds}"]
    if not Path(SYSTEM_PYTHON).exists():
        raise TestNvrUnavailable(f"{SYSTEM_PYTHON} not found; {INSTALL_HINT}")
    done = subprocess.run(arguments, capture_output=True, timeout=timeout, check=False)
    out = done.stdout.decode("utf-8", "replace").strip()
    if done.returncode != 0 or not out.startswith("DONE"):
        tail = done.stderr.decode("utf-8", "replace")[-1500:]
        raise TestNvrUnavailable(f"recording {spec.token} failed: {out} {tail}; {INSTALL_HINT}")
    return load_recordings(root)[spec.token]


def make_recordings(root: Path, specs: list[RecordingSpec]) -> dict[str, Recording]:
    root.mkdir(parents=True, exist_ok=True)
    for spec in specs:
        make_recording(root, spec)
    return load_recordings(root)


class TestNvr:
    """The recordings under ``root`` served over ONVIF (SOAP) and RTSP on 127.0.0.1."""

    __test__ = False

    def __init__(
        self,
        root: Path,
        *,
        user: str = "admin",
        password: str = "nvr:Pa55/w@rd",
        replay_support: bool = True,
        rtsp_auth: str = "digest",
        page_size: int = 100,
        ready_timeout: float = 20.0,
    ) -> None:
        self.root = root
        self.user = user
        self.password = password
        self.replay_support = replay_support
        self.rtsp_auth = rtsp_auth
        self.ready_timeout = ready_timeout
        self.recordings = load_recordings(root)
        self.soap = NvrSoapService(
            self.recordings, user=user, password=password, page_size=page_size
        )
        self.rtsp_port: int | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._stderr: IO[bytes] | None = None

    @property
    def host(self) -> str:
        return "127.0.0.1"

    @property
    def onvif_port(self) -> int:
        return self.soap.port

    @property
    def rtsp_base(self) -> str:
        return f"rtsp://127.0.0.1:{self.rtsp_port}"

    def start(self) -> TestNvr:
        stderr = tempfile.TemporaryFile()
        arguments = [SYSTEM_PYTHON, str(HERE / "server_script.py"), "--root", str(self.root)]
        arguments += ["--user", self.user, "--password", self.password, "--auth", self.rtsp_auth]
        arguments += ["--exit-on-stdin-eof"]
        if not self.replay_support:
            arguments.append("--no-replay-support")
        process = subprocess.Popen(
            arguments, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr
        )
        self._process, self._stderr = process, stderr
        try:
            line = self._ready_line(process)
        except BaseException:
            self.stop()
            raise
        if not line.startswith("READY "):
            self.stop()
            raise TestNvrUnavailable(f"test NVR: {line}; {INSTALL_HINT}")
        self.rtsp_port = int(line.rsplit(":", 1)[1])
        self.soap.rtsp_base = self.rtsp_base
        self.soap.start()
        return self

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is not None:
            end_server(process)
            self.soap.stop()
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None

    def __enter__(self) -> TestNvr:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def server_log(self) -> str:
        if self._stderr is None:
            return ""
        self._stderr.seek(0)
        return self._stderr.read()[-4000:].decode("utf-8", "replace")

    def _ready_line(self, process: subprocess.Popen[bytes]) -> str:
        try:
            return first_line(process, self.ready_timeout)
        except ServerNotReady as exc:
            raise TestNvrUnavailable(f"test NVR {exc}: {self.server_log()}") from exc


__all__ = [
    "RecordingSpec",
    "TestNvr",
    "TestNvrUnavailable",
    "make_recording",
    "make_recordings",
]
