"""``SqlSession`` on PostgreSQL: the row modules' SQL, translated by ``dialect``, on the
connection of one open transaction."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any, Final

import psycopg
from psycopg.pq import TransactionStatus
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


class PostgresSession:
    """One psycopg connection, inside a transaction ``PostgresDatabase`` opened."""

    engine = "postgresql"

    def __init__(self, conn: psycopg.Connection[Any], *, writing: bool = True) -> None:
        self._conn = conn
        self._writing = writing

    def lock_custody_log(self) -> None:
        self._conn.execute(CUSTODY_LOCK)

    def execute(self, sql: str, parameters: Params | None = None) -> psycopg.Cursor[Any]:
        return self._conn.execute(dialect.query(sql), _params(parameters))

    def query(self, sql: str, params: Params | None = None) -> Iterator[dict[str, Any]]:
        with self._conn.cursor(row_factory=dict_row) as cursor:
            cursor.execute(dialect.query(sql), _params(params))
            rows = cursor.fetchall() if cursor.description is not None else []
        return iter(rows)

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> int:
        batch = [_params(row) for row in rows]
        if not batch:
            return 0
        with self._conn.cursor() as cursor:
            cursor.executemany(dialect.query(sql), batch)
            return max(cursor.rowcount, 0)

    @property
    def in_transaction(self) -> bool:
        # A read runs in a (read-only) transaction too, unlike SQLite's: only a write counts,
        # so that a custody append from a read is refused by name, not by the server.
        return self._writing and self._conn.info.transaction_status != TransactionStatus.IDLE
