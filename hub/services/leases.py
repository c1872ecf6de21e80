"""Background jobs that run on one hub worker at a time: a lease per job in the database.

The integrity scrub, the retention check, the request and upload sweeps, the fleet alerts and
the custody checkpoints each run where their lease is held (table ``leases``: a holder and an
expiry). Every worker tries every few seconds (a third of ``[database] lease_seconds``) to take
or renew each lease; the holder renews, so it keeps them; a worker that dies stops renewing,
and once its leases have expired another takes each over and starts the job there. A clean stop
gives the leases up at once. A holder that cannot reach the database to renew stops its jobs
when its lease would have expired (counted on its own monotonic clock from before the last
renewal), so two workers never run a job together while the clocks agree to within the lease
(keep the workers' clocks in NTP sync).

One process on SQLite takes every lease at start, so a single hub runs everything as before. A
worker that restarts (the same ``worker_id``, or the hub id for a single hub) takes its own
leases back at once: its earlier process is gone, and the jobs need not wait its lease out. Two
processes must therefore never share a ``worker_id``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
import time
from collections.abc import Awaitable, Callable, Coroutine
from datetime import datetime, timedelta
from functools import partial
from typing import Any, Final

from hub.storage.ports import HubStorage, StorageFailure, UnitOfWork

log = logging.getLogger(__name__)

# This process, unique among every worker's processes (a restarted worker is a new holder).
PROCESS: Final = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"

JobFactory = Callable[[], Coroutine[Any, Any, None]]
PRESENCE: Final = "worker:"  # the lease each running worker holds on itself


async def _present() -> None:
    await asyncio.Event().wait()  # nothing to do but hold the lease


class LeasedJobs:
    """Runs each named background job while this process holds its lease."""

    def __init__(
        self,
        storage: HubStorage,
        *,
        lease: timedelta,
        now: Callable[[], datetime],
        worker: str,
        process: str = PROCESS,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._storage = storage
        self._lease = lease
        self._now = now
        self._monotonic = monotonic
        # The worker (its worker_id, or the hub id) and this process of it: a worker that
        # restarts takes its own leases back at once instead of waiting them out.
        self._worker = f"{worker}@"
        self.holder = f"{worker}@{process}"
        self._jobs: dict[str, JobFactory] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._until: dict[str, float] = {}  # name -> monotonic deadline of our lease
        # Every worker holds a lease of its own while it runs: the others see it is alive.
        self.add(f"{PRESENCE}{worker}", _present)

    def add(self, name: str, job: JobFactory) -> None:
        self._jobs[name] = job

    def holds(self, name: str) -> bool:
        return self._monotonic() < self._until.get(name, 0.0)

    @property
    def running(self) -> list[str]:
        """The background jobs running here (not counting this worker's presence)."""
        return sorted(
            name
            for name, task in self._tasks.items()
            if not task.done() and not name.startswith(PRESENCE)
        )

    async def alive(self) -> set[str]:
        """The workers running now (each renews its presence lease)."""
        holders = await self._storage.aread(lambda uow: uow.leases.holders(self._now()))
        return {name.removeprefix(PRESENCE) for name in holders if name.startswith(PRESENCE)}

    async def run(self) -> None:
        """Keep taking and renewing the leases (a task of the hub service)."""
        while True:
            await self.renew()
            await asyncio.sleep(self._lease.total_seconds() / 3)

    async def renew(self) -> None:
        """One round: take or renew every lease (one transaction); start the jobs held, stop
        those lost."""
        started = self._monotonic()
        names = list(self._jobs)
        try:
            taken = await self._storage.awrite(partial(self._take, names=names, now=self._now()))
        except StorageFailure as exc:
            log.warning("leases not renewed: %s", exc)
            taken = {name: self.holds(name) for name in names}  # ours until they would expire
        else:
            for name in names:
                if taken[name]:
                    self._until[name] = started + self._lease.total_seconds()
        for name in names:
            if taken[name]:
                self._start(name)
            else:
                self._until.pop(name, None)
                await self._stop(name, "its lease is held by another worker")

    async def stop(self) -> None:
        """Stop every job and give the leases up, so another worker takes them at once."""
        for name in list(self._tasks):
            await self._stop(name, "the hub is stopping")
        held = [name for name in self._jobs if self.holds(name)]
        self._until.clear()
        if not held:
            return

        def release(uow: UnitOfWork) -> None:
            for name in held:
                uow.leases.release(name, self.holder)

        try:
            await self._storage.awrite(release)
        except StorageFailure as exc:
            log.warning("leases %s not released (they expire): %s", held, exc)

    def _take(self, uow: UnitOfWork, *, names: list[str], now: datetime) -> dict[str, bool]:
        until = now + self._lease
        return {
            name: uow.leases.take(name, self.holder, now, until, heir_of=self._worker)
            for name in names
        }

    def _start(self, name: str) -> None:
        task = self._tasks.get(name)
        if task is not None and not task.done():
            return
        if task is not None and not task.cancelled() and task.exception() is not None:
            log.error("background job %s ended with %r; starting it again", name, task.exception())
        else:
            log.info("background job %s runs on this worker (%s)", name, self.holder)
        self._tasks[name] = asyncio.get_running_loop().create_task(
            self._jobs[name](), name=f"hub-{name}"
        )

    async def _stop(self, name: str, why: str) -> None:
        task = self._tasks.pop(name, None)
        if task is None or task.done():
            return
        log.info("background job %s stopped on this worker: %s", name, why)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task


async def repeat(
    every_seconds: float, one_pass: Callable[[], Awaitable[object]], what: str
) -> None:
    """Run ``one_pass`` every ``every_seconds`` for ever (a background job's loop); a failed
    pass is logged with its cause and the next one runs."""
    while True:
        await asyncio.sleep(every_seconds)
        try:
            await one_pass()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("%s failed", what)
