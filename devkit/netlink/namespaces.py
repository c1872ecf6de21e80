"""Network namespaces: create and remove them, and run code or processes inside one.

Creating and removing namespaces is ``ip netns`` (iproute2); entering one is ``setns(2)`` on the
calling thread only (Linux keeps the network namespace per thread), through libc, since Python
3.11 has no ``os.setns``. A socket belongs to the namespace its thread was in when it was made,
and a thread or child process starts in its creator's namespace, so:

* ``inside(name)``: a ``with`` block on this thread; sockets and subprocesses made in it belong to
  ``name``. Never ``await`` inside it (another task would run in the wrong namespace).
* ``call_in(name, fn)``: runs ``fn`` on a fresh thread that lives in ``name``.
* ``LoopThread(name)``: an asyncio loop on a thread in ``name``, for a whole program side (the
  agent's uplink, paho's thread and the loop's worker threads are all born there).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import ctypes
import os
import shutil
import subprocess
import threading
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any, Final, TypeVar

T = TypeVar("T")

CLONE_NEWNET: Final = 0x40000000
NETNS_DIR: Final = Path("/run/netns")
_libc = ctypes.CDLL(None, use_errno=True)


class NamespaceError(RuntimeError):
    """A namespace could not be made, entered or removed (the message says why)."""


def run(argv: list[str], what: str) -> str:
    """Run a setup command; its stdout, or ``NamespaceError`` with its stderr."""
    result = subprocess.run(argv, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        detail = (result.stderr or result.stdout).strip()
        raise NamespaceError(f"{what}: `{' '.join(argv)}` failed ({result.returncode}): {detail}")
    return result.stdout


def exec_prefix(name: str) -> list[str]:
    """The command prefix that runs a program inside namespace ``name``."""
    return ["ip", "netns", "exec", name]


def run_in(name: str, argv: list[str], what: str) -> str:
    return run([*exec_prefix(name), *argv], what)


def create(name: str) -> None:
    run(["ip", "netns", "add", name], f"create namespace {name}")


def remove(name: str) -> None:
    """Remove a namespace (its interfaces go with it); nothing happens if it is not there."""
    if (NETNS_DIR / name).exists():
        run(["ip", "netns", "delete", name], f"remove namespace {name}")


def names() -> list[str]:
    return sorted(path.name for path in NETNS_DIR.iterdir()) if NETNS_DIR.is_dir() else []


def _setns(fd: int) -> None:
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        code = ctypes.get_errno()
        raise NamespaceError(f"setns failed: {os.strerror(code)}")


@contextlib.contextmanager
def inside(name: str) -> Iterator[None]:
    """This thread is in namespace ``name`` for the block, and back where it was after."""
    own = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    try:
        try:
            target = os.open(NETNS_DIR / name, os.O_RDONLY)
        except OSError as exc:
            raise NamespaceError(f"no namespace {name}: {exc}") from exc
        try:
            _setns(target)
        finally:
            os.close(target)
        try:
            yield
        finally:
            _setns(own)
    finally:
        os.close(own)


def call_in(name: str, fn: Callable[[], T], *, timeout: float | None = None) -> T:
    """Run ``fn`` on a new thread inside ``name``; its result, or its exception raised here."""
    future: concurrent.futures.Future[T] = concurrent.futures.Future()

    def body() -> None:
        try:
            with inside(name):
                result = fn()
        except BaseException as exc:  # handed to the caller
            future.set_exception(exc)
        else:
            future.set_result(result)

    threading.Thread(target=body, name=f"netns-{name}", daemon=True).start()
    return future.result(timeout)


class LoopThread:
    """An asyncio event loop running on its own thread inside namespace ``name``."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._main, name=f"loop-{name}", daemon=True)

    def _main(self) -> None:
        try:
            with inside(self.name):
                loop = asyncio.new_event_loop()
                self._loop = loop
                self._ready.set()
                try:
                    loop.run_forever()
                finally:
                    loop.run_until_complete(loop.shutdown_asyncgens())
                    loop.run_until_complete(loop.shutdown_default_executor())
                    loop.close()
        except BaseException as exc:
            self._error = exc
            self._ready.set()

    def start(self) -> LoopThread:
        self._thread.start()
        self._ready.wait()
        if self._error is not None:
            raise NamespaceError(f"event loop in {self.name}: {self._error}") from self._error
        return self

    def submit(self, coroutine: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        if self._loop is None:
            raise NamespaceError(f"the loop in {self.name} is not running")
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop)

    def run(self, coroutine: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        """Run ``coroutine`` on the loop and wait for it here (from another thread)."""
        return self.submit(coroutine).result(timeout)

    async def run_async(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Await ``coroutine`` run on the namespace's loop from another event loop."""
        result: Awaitable[T] = asyncio.wrap_future(self.submit(coroutine))
        return await result

    def stop(self) -> None:
        if self._loop is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(30)


def tools_missing() -> str | None:
    """Why namespaces cannot be used here, or ``None`` if they can."""
    if os.geteuid() != 0:
        return "network namespaces need root (ip netns add)"
    for tool in ("ip", "tc", "nft", "ethtool"):
        if shutil.which(tool) is None and shutil.which(tool, path="/usr/sbin:/sbin") is None:
            package = {"ip": "iproute2", "tc": "iproute2"}.get(tool, tool)
            return f"{tool} is not installed (Debian: apt-get install {package})"
    return None
