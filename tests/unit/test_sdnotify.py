"""sd_notify against a fake systemd: a real AF_UNIX datagram socket that records what it gets."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from cctv_common.sdnotify import SdNotify


@pytest.fixture
def fake_systemd() -> Iterator[tuple[str, socket.socket]]:
    # A short path of our own: tmp_path can exceed the 108 bytes an AF_UNIX address may have.
    folder = Path(tempfile.mkdtemp(prefix="sdn-"))
    path = folder / "notify"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    sock.settimeout(5.0)
    try:
        yield str(path), sock
    finally:
        sock.close()
        path.unlink(missing_ok=True)
        folder.rmdir()


def test_no_socket_means_no_op() -> None:
    notifier = SdNotify({})
    assert not notifier.enabled
    assert notifier.watchdog_seconds is None
    assert notifier.ready() is False
    assert notifier.stopping() is False


def test_ready_watchdog_stopping_reach_the_socket(fake_systemd: tuple[str, socket.socket]) -> None:
    path, sock = fake_systemd
    notifier = SdNotify({"NOTIFY_SOCKET": path})
    assert notifier.ready("site a: 2 camera(s) recording")
    assert sock.recv(4096) == b"READY=1\nSTATUS=site a: 2 camera(s) recording"
    assert notifier.watchdog()
    assert sock.recv(4096) == b"WATCHDOG=1"
    assert notifier.stopping()
    assert sock.recv(4096) == b"STOPPING=1"


def test_abstract_socket_address() -> None:
    name = f"cctv-sdnotify-test-{os.getpid()}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind("\0" + name)
        sock.settimeout(5.0)
        notifier = SdNotify({"NOTIFY_SOCKET": "@" + name})
        assert notifier.ready()
        assert sock.recv(4096) == b"READY=1"


def test_watchdog_interval_is_half_of_watchdog_usec() -> None:
    env = {"NOTIFY_SOCKET": "/run/x", "WATCHDOG_USEC": "20000000"}
    assert SdNotify(env).watchdog_seconds == 10.0
    mine = {**env, "WATCHDOG_PID": str(os.getpid())}
    assert SdNotify(mine).watchdog_seconds == 10.0
    other = {**env, "WATCHDOG_PID": str(os.getpid() + 1)}
    assert SdNotify(other).watchdog_seconds is None
    assert SdNotify({**env, "WATCHDOG_USEC": "junk"}).watchdog_seconds is None


def test_a_missing_socket_is_logged_not_raised(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    notifier = SdNotify({"NOTIFY_SOCKET": str(tmp_path / "gone")})
    assert notifier.ready() is False
    assert "sd_notify" in caplog.text


def test_the_watchdog_task_pings_while_the_block_runs_and_stops_after(
    fake_systemd: tuple[str, socket.socket],
) -> None:
    path, sock = fake_systemd
    # 20 ms of WATCHDOG_USEC: a ping every 10 ms.
    notifier = SdNotify({"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "20000"})

    async def run() -> None:
        async with notifier.watchdog_running():
            for _ in range(3):
                assert await asyncio.to_thread(sock.recv, 4096) == b"WATCHDOG=1"

    asyncio.run(run())
    sock.settimeout(0.2)
    leftover = []
    with contextlib.suppress(TimeoutError):
        while True:
            leftover.append(sock.recv(4096))
    # Pings sent before the block ended may still be queued; none comes after that.
    assert set(leftover) <= {b"WATCHDOG=1"} and len(leftover) < 10
    with pytest.raises(TimeoutError):
        sock.recv(4096)


def test_without_a_watchdog_the_task_does_nothing() -> None:
    notifier = SdNotify({})

    async def run() -> None:
        async with notifier.watchdog_running():
            await asyncio.sleep(0)

    asyncio.run(run())
