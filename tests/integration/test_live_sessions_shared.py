"""Live sessions shared by hub workers (``live_sessions``): any worker continues and ends a
session once, and the sessions of a worker that died and was not started again are ended by
the live sweep, with their ``live_end`` rows. Two storages on one database, both engines."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from hub.domain.custody import CustodyAction
from hub.services.leases import LeasedJobs
from hub.services.live import LiveBridge
from hub.settings import LiveSettings
from hub.storage.worker_ports import LiveSessionRecord
from tests.support.worker_storages import TwoStorages, two_storages

NOW = datetime(2026, 12, 7, 23, 0, tzinfo=UTC)


@pytest.fixture(params=["sqlite", "postgresql"])
def storages(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[TwoStorages]:
    yield from two_storages(request.param, tmp_path)


class SentToSites:
    def __init__(self) -> None:
        self.topics: list[str] = []

    def __call__(self, topic: str, payload: bytes, **_: Any) -> None:
        self.topics.append(topic)


def bridge(storage: Any, owner: str, sent: SentToSites) -> LiveBridge:
    return LiveBridge(LiveSettings(), storage, sent, lambda: True, owner=owner, now=lambda: NOW)


def a_session(session_id: str, worker: str) -> LiveSessionRecord:
    started = NOW - timedelta(minutes=3)
    return LiveSessionRecord(session_id, "site-a", "cam-1", "pc-one", worker, started)


def test_any_worker_ends_a_session_once_and_a_dead_workers_sessions_are_swept(
    storages: TwoStorages,
) -> None:
    async def scenario() -> None:
        sent = SentToSites()
        one, two = bridge(storages.first, "w1", sent), bridge(storages.second, "w2", sent)
        for session in (a_session("w1-a", "w1"), a_session("w2-b", "w2"), a_session("w3-c", "w3")):
            await storages.first.awrite(lambda uow, s=session: uow.live_sessions.add(s))

        # w2 ends w1's session (the viewer's close reached w2); w1 then finds it ended.
        found = await two.session("w1-a")
        assert found is not None and found.worker == "w1"
        await two.end(found, "pc-one", "closed by viewer")
        await one.end(found, "pc-one", "closed by viewer")  # a second close: nothing more
        assert await one.session("w1-a") is None

        # w3 died and was not started again: w2 and w1 are running (their presence leases).
        keepers = [
            LeasedJobs(storage, lease=timedelta(seconds=30), now=lambda: NOW, worker=name)
            for storage, name in ((storages.first, "w1"), (storages.second, "w2"))
        ]
        for keeper in keepers:
            await keeper.renew()
        assert await keepers[0].alive() == {"w1", "w2"}
        assert await one.end_orphans(keepers[0].alive, "hub:test") == 1
        assert [s.session_id for s in await two.sessions()] == ["w2-b"]
        assert await one.sessions() == []
        for keeper in keepers:
            await keeper.stop()

        rows = await storages.second.aread(lambda uow: list(uow.custody.raw()))
        ends = [r for r in rows if r["action"] == CustodyAction.LIVE_END.value]
        assert [(r["actor"], _detail(r)["session_id"], _detail(r)["seconds"]) for r in ends] == [
            ("pc-one", "w1-a", 180.0),
            ("hub:test", "w3-c", 180.0),
        ]
        assert _detail(ends[1])["reason"] == "its hub worker w3 stopped"
        assert sent.topics == [
            "cctv/v1/sites/site-a/live/w1-a/close",
            "cctv/v1/sites/site-a/live/w3-c/close",
        ]

    asyncio.run(scenario())


def _detail(row: dict[str, Any]) -> dict[str, Any]:
    import json

    detail = row["detail"]
    return json.loads(detail) if isinstance(detail, str) else dict(detail)
