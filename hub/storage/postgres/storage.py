"""``hub.storage.ports.HubStorage`` on PostgreSQL: the same unit of work as SQLite's (one set of
row modules), over a ``PostgresSession``; PostgreSQL's errors come out as ``StorageFailure``."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import psycopg

from hub.storage.ports import StorageFailure
from hub.storage.postgres.database import PostgresDatabase
from hub.storage.sqlite.unit_of_work import SqlUnitOfWork

T = TypeVar("T")


class PostgresStorage:
    """Units of work on a ``PostgresDatabase``: one transaction each under the writer lock
    (writes one at a time across every worker), reads on one snapshot."""

    def __init__(self, database: PostgresDatabase) -> None:
        self.database = database

    async def awrite(self, work: Callable[[SqlUnitOfWork], T]) -> T:
        try:
            return await self.database.awrite(lambda session: work(SqlUnitOfWork(session)))
        except psycopg.Error as exc:
            raise StorageFailure(f"database {self.database.name}: {exc}") from exc

    async def aread(self, work: Callable[[SqlUnitOfWork], T]) -> T:
        try:
            return await self.database.aread(lambda session: work(SqlUnitOfWork(session)))
        except psycopg.Error as exc:
            raise StorageFailure(f"database {self.database.name}: {exc}") from exc

    def write(self, work: Callable[[SqlUnitOfWork], T]) -> T:
        try:
            return self.database.write(lambda session: work(SqlUnitOfWork(session)))
        except psycopg.Error as exc:
            raise StorageFailure(f"database {self.database.name}: {exc}") from exc

    def read(self, work: Callable[[SqlUnitOfWork], T]) -> T:
        try:
            return self.database.read(lambda session: work(SqlUnitOfWork(session)))
        except psycopg.Error as exc:
            raise StorageFailure(f"database {self.database.name}: {exc}") from exc
