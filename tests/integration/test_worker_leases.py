"""Background jobs on one hub worker at a time (``hub.services.leases``): two workers' lease
keepers on one database (two storages on one SQLite file, two pools on one PostgreSQL schema).
The clocks are the test's, so a lease expires without waiting for it."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from hub.services.leases import LeasedJobs
from tests.support.worker_storages import TwoStorages, two_storages

NOW = datetime(2026, 12, 7, 23, 0, tzinfo=UTC)
LEASE = timedelta(seconds=30)


class LeaseClock:
    def __init__(self) -> None:
        self.at = NOW
        self.mono = 1000.0

    def now(self) -> datetime:
        return self.at

    def monotonic(self) -> float:
        return self.mono

    def advance(self, seconds: float) -> None:
        self.at += timedelta(seconds=seconds)
        self.mono += seconds


@pytest.fixture(params=["sqlite", "postgresql"])
def storages(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[TwoStorages]:
    yield from two_storages(request.param, tmp_path)


def keeper(
    storage: object, clock: LeaseClock, worker: str, ran: list[str], process: str = "p1"
) -> LeasedJobs:
    jobs = LeasedJobs(
        storage,  # type: ignore[arg-type]
        lease=LEASE,
        now=clock.now,
        worker=worker,
        process=process,
        monotonic=clock.monotonic,
    )

    async def scrub() -> None:
        ran.append(worker)
        await asyncio.Event().wait()  # runs until cancelled, as the real loops do

    jobs.add("scrub", scrub)
    return jobs


async def settle() -> None:
    for _ in range(3):
        await asyncio.sleep(0)


def test_one_worker_runs_a_job_and_the_other_takes_over_when_it_dies(
    storages: TwoStorages,
) -> None:
    async def scenario() -> None:
        clock, ran = LeaseClock(), list[str]()
        first = keeper(storages.first, clock, "w1", ran)
        second = keeper(storages.second, clock, "w2", ran)
        await first.renew()
        await second.renew()
        await settle()
        assert ran == ["w1"] and first.running == ["scrub"] and second.running == []
        assert first.holds("scrub") and not second.holds("scrub")

        # The holder renews: the other still waits, however long it runs.
        for _ in range(5):
            clock.advance(LEASE.total_seconds() / 3)
            await first.renew()
            await second.renew()
        await settle()
        assert ran == ["w1"] and second.running == []

        # w1 is killed: it renews no more (and releases nothing). Until its lease runs out
        # the job is not started elsewhere; then w2 takes it over.
        for task in first._tasks.values():
            task.cancel()
        clock.advance(LEASE.total_seconds() - 1)
        await second.renew()
        await settle()
        assert ran == ["w1"]
        clock.advance(2)
        await second.renew()
        await settle()
        assert ran == ["w1", "w2"] and second.running == ["scrub"]
        holders = await storages.second.aread(lambda uow: uow.leases.holders(clock.now()))
        assert holders == {"scrub": second.holder, "worker:w2": second.holder}
        await second.stop()

    asyncio.run(scenario())


def test_a_clean_stop_hands_the_job_over_at_once(storages: TwoStorages) -> None:
    async def scenario() -> None:
        clock, ran = LeaseClock(), list[str]()
        first = keeper(storages.first, clock, "w1", ran)
        second = keeper(storages.second, clock, "w2", ran)
        await first.renew()
        await settle()
        await first.stop()
        assert first.running == [] and not first.holds("scrub")
        await second.renew()
        await settle()
        assert ran == ["w1", "w2"]
        await second.stop()

    asyncio.run(scenario())


def test_a_holder_that_cannot_renew_stops_when_its_lease_would_end(
    storages: TwoStorages,
) -> None:
    async def scenario() -> None:
        clock, ran = LeaseClock(), list[str]()
        first = keeper(storages.first, clock, "w1", ran)
        await first.renew()
        await settle()
        storages.break_first()  # the database is out of reach for w1
        clock.advance(LEASE.total_seconds() / 2)
        await first.renew()
        assert first.running == ["scrub"]  # still ours: nobody else may take it yet
        clock.advance(LEASE.total_seconds() / 2 + 1)
        await first.renew()
        assert first.running == [] and not first.holds("scrub")

    asyncio.run(scenario())


def test_a_worker_restarted_after_it_died_takes_its_own_leases_back_at_once(
    storages: TwoStorages,
) -> None:
    async def scenario() -> None:
        clock, ran = LeaseClock(), list[str]()
        dead = keeper(storages.first, clock, "w1", ran, process="host:100:aa")
        await dead.renew()
        await settle()
        for task in dead._tasks.values():
            task.cancel()  # killed: nothing released
        other = keeper(storages.second, clock, "w1x", ran, process="host:300:cc")
        await other.renew()  # another worker (whose id merely starts alike) must wait
        restarted = keeper(storages.second, clock, "w1", ran, process="host:200:bb")
        await restarted.renew()
        await settle()
        assert restarted.running == ["scrub"] and other.running == []
        assert ran == ["w1", "w1"]
        holders = await storages.second.aread(lambda uow: uow.leases.holders(clock.now()))
        assert holders["scrub"] == holders["worker:w1"] == "w1@host:200:bb"
        await restarted.stop()

    asyncio.run(scenario())
