"""``SqlSession`` on SQLite: the row modules' SQL runs as written on the writer's connection.

A ``sqlite_utils.Database`` with the three things the row modules need beyond it, so that every
connection ``HubDatabase`` hands out serves sqlite-utils' API and the row modules alike.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlite_utils import Database


class SqliteSession(Database):
    """One SQLite connection seen through ``hub.storage.sql_session.SqlSession``."""

    engine = "sqlite"

    def lock_custody_log(self) -> None:
        """Nothing: SQLite writes one transaction at a time."""

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> int:
        return int(self.conn.executemany(sql, rows).rowcount)

    @property
    def in_transaction(self) -> bool:
        return self.conn.in_transaction
