"""Round trips of a PostgreSQL unit of work (pipeline mode), counted on the wire by libpq's trace:
under load each round trip is a wait for a backend to get a core, so their number is what the
dispatch latency's tail is made of (docs/scale-out.md, "The scale benchmark")."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from hub.domain.custody import CustodyAction
from hub.storage.postgres.database import PostgresDatabase
from hub.storage.postgres.session import PostgresSession
from hub.storage.sqlite.custody_rows import append_in, chain_head
from tests.support.schema_pool import give_back, migrated_schema
from tests.support.storage_engines import postgres_unreachable

pytestmark = pytest.mark.skipif(
    postgres_unreachable() is not None, reason=str(postgres_unreachable())
)


@pytest.fixture
def database() -> Iterator[PostgresDatabase]:
    schema = migrated_schema()
    database = PostgresDatabase(schema.url, min_size=1, max_size=1)
    try:
        yield database
    finally:
        database.close()
        give_back(schema)


def round_trips(database: PostgresDatabase, tmp_path: Path, run: Callable[[], Any]) -> int:
    """How many times the client waited for the server (each Sync or Flush it sent) in ``run``."""
    from psycopg import pq

    trace = tmp_path / "libpq.trace"
    with trace.open("w") as out:
        with database._pool.connection() as conn:  # the pool's one connection
            conn.pgconn.trace(out.fileno())
            conn.pgconn.set_trace_flags(pq.Trace.SUPPRESS_TIMESTAMPS)
        try:
            run()
        finally:
            with database._pool.connection() as conn:
                conn.pgconn.untrace()
    sent = [
        f[2] for f in (line.split("\t") for line in trace.read_text().splitlines()) if f[0] == "F"
    ]
    # psycopg ends a pipeline with a Sync and a Flush together: one wait.
    waits = ("Sync", "Flush")
    return sum(
        1
        for i, message in enumerate(sent)
        if message in waits and (i == 0 or sent[i - 1] not in waits)
    )


def test_an_insert_only_unit_with_a_custody_row_takes_three_round_trips(
    database: PostgresDatabase, tmp_path: Path
) -> None:
    def dispatch_like(session: PostgresSession) -> None:
        session.execute("SELECT MAX(version) FROM schema_version").fetchone()  # the camera read
        append_in(session, "tester", CustodyAction.DISPATCH, "job:x", {"why": "test"})

    # BEGIN with the read; the custody lock with the chain's head; the INSERT with COMMIT.
    assert round_trips(database, tmp_path, lambda: database.insert(dispatch_like)) == 3
    head = database.read(chain_head)
    assert head is not None and head[0] == 1  # committed


def test_a_read_of_two_rows_takes_three_round_trips(
    database: PostgresDatabase, tmp_path: Path
) -> None:
    def two_reads(session: PostgresSession) -> int:
        first = list(session.query("SELECT MAX(version) AS v FROM schema_version"))
        second = session.execute("SELECT COUNT(*) FROM audit").fetchone()
        return int(first[0]["v"]) + int(second[0])

    assert round_trips(database, tmp_path, lambda: database.read(two_reads)) == 3


def test_an_error_seen_only_at_commit_rolls_the_unit_back(database: PostgresDatabase) -> None:
    def append_then_fail(session: PostgresSession) -> None:
        append_in(session, "tester", CustodyAction.DISPATCH, "job:y")
        session.execute("SELECT 1 / 0")  # no result read: the error comes with the COMMIT

    import psycopg

    with pytest.raises(psycopg.errors.DivisionByZero):
        database.insert(append_then_fail)
    assert database.read(chain_head) is None  # nothing of the unit was kept
    assert database.read(lambda s: s.execute("SELECT 1").fetchone()[0]) == 1  # usable again
