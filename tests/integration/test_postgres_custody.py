"""Several hub workers append to one custody log on PostgreSQL at once: the chain stays one
strict order (every row names the one before, seq has no gaps): every write transaction takes
the writer lock first, so none has to be run again."""

from __future__ import annotations

import multiprocessing
from functools import partial

from hub.domain.custody import CustodyAction, CustodyEvent
from hub.services.custody import CustodyLog
from hub.storage.postgres.database import PostgresDatabase
from hub.storage.postgres.storage import PostgresStorage
from hub.storage.sqlite.unit_of_work import SqlUnitOfWork
from tests.support.storage_engines import PostgresSchema

WORKERS = 4
APPENDS = 200


def append_many(url: str, worker: int) -> int:
    database = PostgresDatabase(url, max_size=1)
    try:
        log = CustodyLog(PostgresStorage(database))
        for n in range(APPENDS):
            log.append(f"worker-{worker}", CustodyAction.VIEW, f"clip:w{worker}", {"n": n})
        return database.retries
    finally:
        database.close()


def _rows_of(subject: str, uow: SqlUnitOfWork) -> list[CustodyEvent]:
    return uow.custody.after([subject], 0, 1000)


def test_four_workers_append_one_unbroken_chain(postgres_schema: PostgresSchema) -> None:
    PostgresDatabase(postgres_schema.url).close()  # migrated once before the workers start
    with multiprocessing.get_context("spawn").Pool(WORKERS) as pool:
        retries = pool.starmap(append_many, [(postgres_schema.url, w) for w in range(WORKERS)])
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
    assert sum(retries) == 0  # the writer lock: no transaction was run again
