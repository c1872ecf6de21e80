"""systemd's notify protocol in a few lines, with no dependency (``Type=notify``, ``WatchdogSec=``).

A no-op when ``NOTIFY_SOCKET`` is unset (not run by systemd). ``READY=1`` once every service is up,
``WATCHDOG=1`` every half of ``WATCHDOG_USEC`` while the event loop runs, ``STOPPING=1`` on stop.
``watchdog_running()`` is the watchdog task both programs use: it pings from the event loop, so a
loop that hangs stops the pings and systemd restarts the process.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from collections.abc import AsyncIterator, Mapping

log = logging.getLogger(__name__)


class SdNotify:
    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        env = os.environ if environ is None else environ
        path = env.get("NOTIFY_SOCKET", "")
        # "@name" is a socket in the abstract namespace.
        self.address = ("\0" + path[1:]) if path.startswith("@") else path
        self.watchdog_seconds: float | None = None
        usec = env.get("WATCHDOG_USEC", "")
        pid = env.get("WATCHDOG_PID", "")
        if usec.isdigit() and int(usec) > 0 and (not pid or pid == str(os.getpid())):
            self.watchdog_seconds = int(usec) / 1_000_000 / 2

    @property
    def enabled(self) -> bool:
        return bool(self.address)

    def notify(self, *lines: str) -> bool:
        """Send ``lines`` as one datagram; False (and a log line) when it cannot be sent."""
        if not self.enabled:
            return False
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
                sock.sendto("\n".join(lines).encode("utf-8"), self.address)
        except OSError as exc:
            log.warning("sd_notify to %r failed: %s", self.address, exc)
            return False
        return True

    def ready(self, status: str = "") -> bool:
        return self.notify("READY=1", *([f"STATUS={status}"] if status else []))

    def watchdog(self) -> bool:
        return self.notify("WATCHDOG=1")

    def stopping(self) -> bool:
        return self.notify("STOPPING=1")

    async def ping_watchdog(self) -> None:
        """``WATCHDOG=1`` every ``watchdog_seconds`` until cancelled; returns at once when
        systemd asked for no watchdog."""
        interval = self.watchdog_seconds
        if interval is None:
            return
        while True:
            self.watchdog()
            await asyncio.sleep(interval)

    @contextlib.asynccontextmanager
    async def watchdog_running(self) -> AsyncIterator[None]:
        """Ping the watchdog from the running event loop while inside the block."""
        task = asyncio.create_task(self.ping_watchdog(), name="sd-watchdog")
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
