"""``SqlSession`` on PostgreSQL: the row modules' SQL, translated by ``dialect``, on the
connection of one open transaction, in pipeline mode.

In pipeline mode a statement is sent at once and its result read only when the caller needs it
(a fetch, the row count): ``BEGIN`` goes with the first query, a custody lock with the head read,
an ``INSERT`` and ``COMMIT`` together, one round trip where each was one before (under load each
round trip is a wait for a PostgreSQL backend to get a core). An error of a statement whose
result nobody read comes out at the next read or at the end of the pipeline, still inside the
unit of work, which then rolls back as before. libpq reports the transaction status only from the
results it has read (IDLE while ``BEGIN``'s result is still on the way), so whether this is a
write transaction is known here, not asked of the connection.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any, Final

import psycopg
from psycopg.rows import dict_row

from hub.storage.postgres import dialect
from hub.storage.sql_session import Params

# Per schema, as the writer lock. Taken by every custody append, inside or outside the writer
# lock (always after it: the one order, so the two cannot deadlock each other).
CUSTODY_LOCK: Final = (
    "SELECT pg_advisory_xact_lock(hashtext('cctv-hub-custody:' || current_schema()))"
)


def _value(value: Any) -> Any:
    # SQLite keeps booleans as 0/1 in INTEGER columns; so do the BIGINT columns here.
    return int(value) if isinstance(value, bool) else value


def _params(parameters: Params | None) -> Sequence[Any] | Mapping[str, Any]:
    # Always a sequence: psycopg reads %% as % only when parameters are given.
    if parameters is None:
        return ()
    if isinstance(parameters, Mapping):
        return {key: _value(value) for key, value in parameters.items()}
    return [_value(value) for value in parameters]


class PipelinedCursor:
    """A cursor whose row count waits for its result (a fetch already does)."""

    def __init__(self, cursor: psycopg.Cursor[Any], pipeline: psycopg.Pipeline | None) -> None:
        self._cursor = cursor
        self._pipeline = pipeline

    @property
    def rowcount(self) -> int:
        if self._pipeline is not None and self._cursor.pgresult is None:
            self._pipeline.sync()
        return self._cursor.rowcount

    @property
    def description(self) -> Any:
        if self._pipeline is not None and self._cursor.pgresult is None:
            self._pipeline.sync()
        return self._cursor.description

    def fetchone(self) -> Any:
        return self._cursor.fetchone()

    def fetchall(self) -> list[Any]:
        return self._cursor.fetchall()


class PostgresSession:
    """One psycopg connection, inside a transaction ``PostgresDatabase`` opened (in
    ``pipeline`` mode when one is given)."""

    engine = "postgresql"

    def __init__(
        self,
        conn: psycopg.Connection[Any],
        *,
        writing: bool = True,
        pipeline: psycopg.Pipeline | None = None,
    ) -> None:
        self._conn = conn
        self._writing = writing
        self._pipeline = pipeline

    def lock_custody_log(self) -> None:
        self._conn.execute(CUSTODY_LOCK)  # no result to wait for: it rides with the head read

    def execute(self, sql: str, parameters: Params | None = None) -> PipelinedCursor:
        cursor = self._conn.execute(dialect.query(sql), _params(parameters))
        return PipelinedCursor(cursor, self._pipeline)

    def query(self, sql: str, params: Params | None = None) -> Iterator[dict[str, Any]]:
        with self._conn.cursor(row_factory=dict_row) as cursor:
            cursor.execute(dialect.query(sql), _params(params))
            result = PipelinedCursor(cursor, self._pipeline)
            rows = result.fetchall() if result.description is not None else []
        return iter(rows)

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> int:
        batch = [_params(row) for row in rows]
        if not batch:
            return 0
        with self._conn.cursor() as cursor:
            cursor.executemany(dialect.query(sql), batch)
            return max(PipelinedCursor(cursor, self._pipeline).rowcount, 0)

    @property
    def in_transaction(self) -> bool:
        # A read runs in a (read-only) transaction too, unlike SQLite's: only a write counts,
        # so that a custody append from a read is refused by name, not by the server. The
        # session is handed out only while its transaction is open (see the module's note).
        return self._writing
