"""A hub worker with the dispatch path timed, for ``bench/scale.py --timing``.

Run as ``python bench/dispatch_timing.py <cctv-hub arguments>`` with ``CCTV_DISPATCH_TIMING``
naming a file: it wraps the steps of ``POST /api/jobs`` (nothing in the hub itself is changed)
and appends one JSON line per request to that file, ``{"job": id, "events": [[step, t], ...]}``,
``t`` in ``time.monotonic()`` seconds: the same clock as the benchmark's (CLOCK_MONOTONIC is
system-wide), so the steps line up with the benchmark's send and the site's arrival times.

Steps, in order: ``http_in`` (the request reaches the app), ``read_*`` / ``write_*`` (a unit of
work: ``submit`` on the loop, ``run`` when a worker thread takes it, ``locked`` once ``fn`` runs
inside the transaction (after BEGIN and, for a write, the writer lock), ``done`` after COMMIT,
``back`` when the loop resumes), ``scrypt_*`` (the password check, same four), ``sealed`` (the
job signed), ``published`` (handed to paho), ``wire`` (paho's thread wrote it to the socket),
``http_out`` (the response sent). Loop steps over 20 ms go to ``<file>.slow`` with what ran;
with ``CCTV_TRACEMALLOC_SECONDS`` set, ``<file>.memory`` gets what grew (``tracemalloc``).
"""

from __future__ import annotations

import asyncio
import contextvars
import gc
import json
import os
import sys
import threading
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import paho.mqtt.client as mqtt

import hub.app
import hub.cli
from cctv_common.wire import hub_signing
from hub.services import auth, jobs
from hub.storage.postgres.database import PostgresDatabase

Events = list[tuple[str, float]]
_current: contextvars.ContextVar[Events | None] = contextvars.ContextVar("timing", default=None)
_by_mid: dict[int, Events] = {}
_done: list[tuple[float, dict[str, Any]]] = []
_lock = threading.Lock()


def mark(step: str) -> None:
    events = _current.get()
    if events is not None:
        events.append((step, time.monotonic()))


def _timed_unit(kind: str, original: Callable[..., Any]) -> Callable[..., Any]:
    """The unit of work in its thread: ``run``, ``locked`` (``fn`` starts), ``done``."""

    def run(self: PostgresDatabase, fn: Callable[[Any], Any]) -> Any:
        mark(f"{kind}_run")

        def inner(session: Any) -> Any:
            mark(f"{kind}_locked")
            return fn(session)

        try:
            return original(self, inner)
        finally:
            mark(f"{kind}_done")

    return run


def _timed_hop(kind: str, original: Callable[..., Any]) -> Callable[..., Any]:
    """The same unit seen from the loop: ``submit`` and ``back``."""

    async def run(self: PostgresDatabase, fn: Callable[[Any], Any]) -> Any:
        mark(f"{kind}_submit")
        try:
            return await original(self, fn)
        finally:
            mark(f"{kind}_back")

    return run


def _patch() -> None:
    for kind in ("write", "read", "insert"):
        unit, hop = getattr(PostgresDatabase, kind), getattr(PostgresDatabase, f"a{kind}")
        setattr(PostgresDatabase, kind, _timed_unit(kind, unit))
        setattr(PostgresDatabase, f"a{kind}", _timed_hop(kind, hop))

    verify = auth.verify_password

    def timed_verify(password: str, encoded: str) -> bool:
        mark("scrypt_run")
        try:
            return verify(password, encoded)
        finally:
            mark("scrypt_done")

    auth.verify_password = timed_verify

    seal = hub_signing.HubSigner.seal

    def timed_seal(self: hub_signing.HubSigner, topic: str, payload: Any) -> bytes:
        sealed = seal(self, topic, payload)
        mark("sealed")
        return sealed

    hub_signing.HubSigner.seal = timed_seal  # type: ignore[method-assign]

    create = jobs.JobService.create

    async def timed_create(self: jobs.JobService, **kwargs: Any) -> Any:
        job = await create(self, **kwargs)
        events = _current.get()
        if events is not None:
            events.append((f"job:{job.id}", 0.0))
        return job

    jobs.JobService.create = timed_create  # type: ignore[method-assign]

    queue = mqtt.Client._packet_queue

    def timed_queue(self: mqtt.Client, command: int, packet: Any, mid: int, *a: Any) -> Any:
        # Registered before paho's thread can see the packet, so its write is never missed.
        events = _current.get()
        if events is not None and command & 0xF0 == mqtt.PUBLISH:
            events.append(("published", time.monotonic()))
            with _lock:
                _by_mid[mid] = events
        return queue(self, command, packet, mid, *a)

    mqtt.Client._packet_queue = timed_queue  # type: ignore[method-assign,assignment]

    packet_write = mqtt.Client._packet_write

    def timed_packet_write(self: mqtt.Client) -> Any:
        result = packet_write(self)
        now = time.monotonic()
        with _lock:
            if _by_mid:
                unwritten = {p["mid"] for p in self._out_packet}
                for mid in [m for m in _by_mid if m not in unwritten]:
                    _by_mid.pop(mid).append(("wire", now))
        return result

    mqtt.Client._packet_write = timed_packet_write  # type: ignore[method-assign]

    create_app = hub.app.create_app

    def timed_app(*args: Any, **kwargs: Any) -> Any:
        app = create_app(*args, **kwargs)

        async def asgi(scope: Any, receive: Any, send: Any) -> None:
            if scope["type"] != "http" or scope["path"] != "/api/jobs" or scope["method"] != "POST":
                await app(scope, receive, send)
                return
            events: Events = [("http_in", time.monotonic())]
            _current.set(events)
            try:
                await app(scope, receive, send)
            finally:
                events.append(("http_out", time.monotonic()))
                with _lock:
                    _done.append((time.monotonic(), {"events": events}))

        return asgi

    hub.cli.create_app = timed_app


SLOW_CALLBACK: float = 0.02
_slow: list[tuple[float, str]] = []  # (seconds, callback) of each loop step over SLOW_CALLBACK


def _what_ran(handle: asyncio.events.Handle) -> str:
    """A task's name and the await it stopped at after the slow step (innermost coroutine)."""
    task = getattr(getattr(handle, "_callback", None), "__self__", None)
    if not isinstance(task, asyncio.Task):
        return repr(handle)[:200]
    where = []
    coro: Any = task.get_coro()
    while coro is not None and hasattr(coro, "cr_frame"):
        frame = coro.cr_frame
        if frame is not None:
            where.append(f"{frame.f_code.co_qualname}:{frame.f_lineno}")
        coro = coro.cr_await
    return f"{task.get_name()} {' > '.join(where[-4:]) or '(done)'}"


def _watch_loop_steps() -> None:
    """What asyncio's debug mode logs as slow callbacks, without its other costs: every loop step
    that held the loop over ``SLOW_CALLBACK`` (time on the CPU or blocked: a blocking call)."""
    run = asyncio.events.Handle._run

    def timed_run(self: asyncio.events.Handle) -> None:
        started = time.monotonic()
        run(self)
        took = time.monotonic() - started
        if took > SLOW_CALLBACK:
            with _lock:
                _slow.append((took, f"at {started:.1f} {_what_ran(self)}"))

    asyncio.events.Handle._run = timed_run  # type: ignore[method-assign]


def _writer(path: Path) -> None:
    """Every second, append the requests finished over 2 s ago (their wire step is in by then)."""
    while True:
        time.sleep(1)
        cutoff = time.monotonic() - 2
        with _lock:
            ready = [r for t, r in _done if t < cutoff]
            _done[:] = [(t, r) for t, r in _done if t >= cutoff]
        with _lock:
            slow, _slow[:] = list(_slow), []
        if slow:
            with path.with_suffix(".slow").open("a", encoding="utf-8") as out:
                out.writelines(f"{took * 1000:.1f} ms {what}\n" for took, what in slow)
        if ready:
            with path.open("a", encoding="utf-8") as out:
                for record in ready:
                    events = record["events"]
                    job = next((s[4:] for s, _ in events if s.startswith("job:")), None)
                    steps = [(s, t) for s, t in events if not s.startswith("job:")]
                    out.write(json.dumps({"job": job, "events": steps}) + "\n")


def _trace_memory(path: Path, every: float) -> None:
    """Python's own allocations: a snapshot after ``every`` seconds (the hub warmed up), then
    every ``every`` seconds the 20 tracebacks (25 frames) that grew most since it
    (``tracemalloc``), and the 15 object types whose live count grew most (``gc``)."""
    tracemalloc.start(25)
    time.sleep(every)
    first = tracemalloc.take_snapshot()
    first_types = _type_counts()
    while True:
        time.sleep(every)
        grown = tracemalloc.take_snapshot().compare_to(first, "traceback")
        types = _type_counts()
        more = sorted(((n - first_types.get(t, 0), t) for t, n in types.items()), reverse=True)
        with path.open("a", encoding="utf-8") as out:
            total = sum(stat.size_diff for stat in grown) / 1e6
            traced, _ = tracemalloc.get_traced_memory()
            out.write(
                f"--- {time.monotonic():.0f}: {total:+.2f} MB traced since the first"
                f" ({traced / 1e6:.1f} MB traced now)\n"
            )
            out.writelines(f"  type {t}: {d:+d}\n" for d, t in more[:15])
            for stat in grown[:20]:
                out.write(f"{stat.size_diff / 1e3:+10.1f} kB {stat.count_diff:+7d} blocks\n")
                out.writelines(f"      {line}\n" for line in stat.traceback.format()[-25:])


def _type_counts() -> dict[str, int]:
    """Live objects the collector tracks, counted by type name."""
    counts: dict[str, int] = {}
    for thing in gc.get_objects():
        name = type(thing).__qualname__
        counts[name] = counts.get(name, 0) + 1
    return counts


def main() -> int:
    _patch()
    _watch_loop_steps()
    path = Path(os.environ["CCTV_DISPATCH_TIMING"])
    threading.Thread(target=_writer, args=(path,), name="timing-writer", daemon=True).start()
    if os.environ.get("CCTV_TRACEMALLOC_SECONDS"):
        every = float(os.environ["CCTV_TRACEMALLOC_SECONDS"])
        threading.Thread(
            target=_trace_memory, args=(path.with_suffix(".memory"), every), daemon=True
        ).start()
    return hub.cli.main(sys.argv[1:])


if __name__ == "__main__":
    raise SystemExit(main())
