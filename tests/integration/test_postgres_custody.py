"""Several hub workers append to one custody log on PostgreSQL at once: the chain stays one
strict order (every row names the one before, seq has no gaps): every write transaction takes
the writer lock first, so none has to be run again; and every custody append takes the custody
log's own lock, so units of work that skip the writer lock (``insert``: a job dispatch) append
into the same one order."""

from __future__ import annotations

import multiprocessing
from functools import partial

import pytest

from hub.domain.custody import CustodyAction, CustodyEvent
from hub.services.custody import CustodyLog
from hub.storage.postgres.database import PostgresDatabase
from hub.storage.postgres.session import PostgresSession
from hub.storage.postgres.storage import PostgresStorage
from hub.storage.sqlite.unit_of_work import SqlUnitOfWork
from tests.support.storage_engines import PostgresSchema

WORKERS = 4
APPENDS = 200


def append_many(url: str, worker: int, insert_only: bool = False) -> int:
    database = PostgresDatabase(url, max_size=1)
    try:
        log = CustodyLog(PostgresStorage(database))
        for n in range(APPENDS):
            if insert_only:  # as a dispatch does: no writer lock, only the custody lock
                database.insert(partial(_append_in, f"worker-{worker}", f"clip:w{worker}", n))
            else:
                log.append(f"worker-{worker}", CustodyAction.VIEW, f"clip:w{worker}", {"n": n})
        return database.retries
    finally:
        database.close()


def _append_in(actor: str, subject: str, n: int, session: PostgresSession) -> None:
    SqlUnitOfWork(session).custody.append(actor, CustodyAction.DISPATCH, subject, {"n": n})


def _rows_of(subject: str, uow: SqlUnitOfWork) -> list[CustodyEvent]:
    return uow.custody.after([subject], 0, 1000)


@pytest.mark.parametrize("insert_only", [False, True], ids=["all-locked", "half-insert-only"])
def test_four_workers_append_one_unbroken_chain(
    postgres_schema: PostgresSchema, insert_only: bool
) -> None:
    PostgresDatabase(postgres_schema.url).close()  # migrated once before the workers start
    jobs = [(postgres_schema.url, w, insert_only and w % 2 == 1) for w in range(WORKERS)]
    with multiprocessing.get_context("spawn").Pool(WORKERS) as pool:
        retries = pool.starmap(append_many, jobs)
    database = PostgresDatabase(postgres_schema.url)
    try:
        storage = PostgresStorage(database)
        assert CustodyLog(storage).verify_chain() == (True, None)
        seqs = [row["seq"] for row in storage.read(lambda uow: list(uow.custody.raw()))]
        assert seqs == list(range(1, WORKERS * APPENDS + 1))
        for worker in range(WORKERS):
            mine = storage.read(partial(_rows_of, f"clip:w{worker}"))
            assert [row.detail["n"] for row in mine] == list(range(APPENDS))
    finally:
        database.close()
    assert sum(retries) == 0  # the two locks: no transaction was run again
