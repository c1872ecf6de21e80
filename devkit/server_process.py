"""A helper server in a child process (the test camera's and the test NVR's GStreamer RTSP
servers): ready once it prints its first line on stdout, ended one way.

Each server prints ``READY <address>`` (or why it cannot start) as its first line and exits when
its stdin closes, so a test that dies never leaves one behind.
"""

from __future__ import annotations

import os
import selectors
import subprocess
import time


class ServerNotReady(Exception):
    """No first line: ``status`` is the exit status of a server that ended first, or None when
    ``timeout`` passed."""

    def __init__(self, status: int | None, timeout: float) -> None:
        self.status = status
        self.timeout = timeout
        super().__init__(
            f"not ready after {timeout:g} s" if status is None else f"exited with status {status}"
        )


def first_line(process: subprocess.Popen[bytes], timeout: float) -> str:
    """The first line ``process`` prints on stdout, stripped; ServerNotReady otherwise."""
    assert process.stdout is not None
    deadline = time.monotonic() + timeout
    buffer = b""
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        while b"\n" not in buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise ServerNotReady(None, timeout)
            if not selector.select(remaining):
                continue
            chunk = os.read(process.stdout.fileno(), 4096)
            if not chunk:
                process.wait(5)
                raise ServerNotReady(process.returncode, timeout)
            buffer += chunk
    return buffer.split(b"\n", 1)[0].decode("utf-8", "replace").strip()


def end_server(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM, SIGKILL if it has not ended within 10 s; its pipes closed."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)
    for pipe in (process.stdin, process.stdout):
        if pipe is not None:
            pipe.close()
