"""One clip job per part of a request across hub workers: the dispatch of each part is claimed
in the database (``request_dispatches``), not under a lock of one process."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from hub.domain.requests.decision import ControllerDecision, DecisionKind
from hub.services.requests.deciding import DISPATCH_CLAIM_STALE, Deciding
from hub.services.requests.fulfilment import Fulfilment
from hub.settings_requests import RequestSettings
from hub.storage.ports import UnitOfWork
from hub.storage.sql_session import SqlSession
from tests.support.hub_kit import CAMERA
from tests.support.request_api_hub import Hub, request_body, request_hub
from tests.support.worker_storages import TwoStorages, two_storages

NOW = datetime(2026, 12, 7, 23, 0, tzinfo=UTC)


@pytest.fixture(params=["sqlite", "postgresql"])
def storages(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[TwoStorages]:
    yield from two_storages(request.param, tmp_path)


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[Hub]:
    yield from request_hub(tmp_path, RequestSettings(sweep_seconds=300))


def a_request(storages: TwoStorages) -> str:
    from tests.support.request_kit import footage_request

    def add(uow: UnitOfWork) -> str:
        reference = "R-2026-0001"  # (next_reference is not what is tested here)
        uow.requests.add(reference, footage_request())
        return reference

    result: str = storages.first.write(add)
    return result


def test_two_workers_claiming_one_part_together_get_one_claim(storages: TwoStorages) -> None:
    reference = a_request(storages)
    part = (reference, "site-a", "cam-1", NOW - timedelta(minutes=10), NOW)

    def claim(n: int) -> bool:
        storage = storages.first if n % 2 else storages.second
        won: bool = storage.write(
            lambda uow: uow.dispatches.claim(part, f"worker-{n}", NOW, NOW - DISPATCH_CLAIM_STALE)
        )
        return won

    with ThreadPoolExecutor(8) as pool:
        won = [n for n, ok in zip(range(16), pool.map(claim, range(16)), strict=True) if ok]
    assert len(won) == 1
    winner = f"worker-{won[0]}"

    # The winner died before making the job: after a while another worker takes it over...
    later = NOW + DISPATCH_CLAIM_STALE + timedelta(seconds=1)
    assert not storages.second.write(
        lambda uow: uow.dispatches.claim(part, "late", NOW, NOW - DISPATCH_CLAIM_STALE)
    )
    assert storages.second.write(
        lambda uow: uow.dispatches.claim(part, "heir", later, later - DISPATCH_CLAIM_STALE)
    )
    # ...and once the heir recorded its job, nobody claims the part again, however late.
    storages.first.write(lambda uow: uow.dispatches.settle(part, winner, "job-stale"))
    storages.second.write(lambda uow: uow.dispatches.settle(part, "heir", "job-1"))
    much_later = later + timedelta(days=1)
    assert not storages.first.write(
        lambda uow: uow.dispatches.claim(part, "x", much_later, much_later - DISPATCH_CLAIM_STALE)
    )


def test_a_refused_part_is_released_for_a_later_sweep(storages: TwoStorages) -> None:
    reference = a_request(storages)
    part = (reference, "site-a", "cam-1", NOW - timedelta(minutes=10), NOW)
    stale = NOW - DISPATCH_CLAIM_STALE
    assert storages.first.write(lambda uow: uow.dispatches.claim(part, "w1", NOW, stale))
    storages.first.write(lambda uow: uow.dispatches.settle(part, "w1", None))
    assert storages.second.write(lambda uow: uow.dispatches.claim(part, "w2", NOW, stale))


def test_two_workers_deciding_and_sweeping_at_once_make_one_job_per_camera(hub: Hub) -> None:
    """Worker 1 takes the decision (and dispatches) while worker 2's sweep dispatches what the
    approved request lacks: each its own ``Deciding``, as two processes have, and no lock in
    common: the claims alone keep it to one job per camera's part."""
    reference = hub.post("/api/requests", request_body(), "pc-one", 201)["id"]
    requests = hub.context.service.requests
    other = Fulfilment(requests.flow, Deciding(requests.flow))
    decision = ControllerDecision(
        DecisionKind.APPROVE, decided_by="supervisor", decided_at=datetime.now(UTC)
    )

    async def sweeping(fulfilment: Fulfilment) -> None:
        for _ in range(30):
            await fulfilment.sweep()
            await asyncio.sleep(0)

    async def all_at_once() -> None:
        await asyncio.gather(
            requests.deciding.decide(reference, decision),
            sweeping(other),
            sweeping(requests.fulfilment),
        )

    assert hub.client.portal is not None
    hub.client.portal.call(all_at_once)
    detail = hub.get(f"/api/requests/{reference}")
    assert sorted(job["camera_id"] for job in detail["jobs"]) == sorted([CAMERA, "cam-2"])
    assert detail["state"] == "fulfilling"


def test_a_job_made_by_a_worker_that_died_before_linking_it_is_linked_not_made_again(
    hub: Hub,
) -> None:
    """A worker claimed each part, made its job and died before linking it to the request and
    moving the request on. Once the claims are stale, the sweep links those jobs: none is made
    twice."""
    reference = hub.post("/api/requests", request_body(), "pc-one", 201)["id"]
    hub.post(f"/api/requests/{reference}/decision", {"outcome": "approve"}, "supervisor")
    made = sorted(job["job_id"] for job in hub.get(f"/api/requests/{reference}")["jobs"])
    assert len(made) == 2
    long_ago = "2000-01-01T00:00:00.000000Z"

    def died(db: SqlSession) -> None:
        db.execute("DELETE FROM request_jobs WHERE request_id = ?", [reference])
        db.execute(
            "UPDATE request_dispatches SET job_id = NULL, claimed_at = ? WHERE request_id = ?",
            [long_ago, reference],
        )
        db.execute("UPDATE requests SET state = 'approved' WHERE id = ?", [reference])

    hub.database.write(died)
    assert hub.get(f"/api/requests/{reference}")["jobs"] == []
    hub.sweep()
    detail = hub.get(f"/api/requests/{reference}")
    assert sorted(job["job_id"] for job in detail["jobs"]) == made
    assert detail["state"] == "fulfilling"
    jobs = hub.get("/api/jobs")
    assert len([job for job in jobs if job.get("requested_by") == reference]) == 2
