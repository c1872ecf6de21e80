"""``hub.storage.ports.HubStorage`` on PostgreSQL: the same unit of work as SQLite's (one set of
row modules), over a ``PostgresSession``; PostgreSQL's errors come out as ``StorageFailure``."""

from __future__ import annotations

import psycopg

from hub.storage.postgres.database import PostgresDatabase
from hub.storage.postgres.session import PostgresSession
from hub.storage.sqlite.unit_of_work import SqlStorage


class PostgresStorage(SqlStorage[PostgresSession]):
    """Units of work on a ``PostgresDatabase``: one transaction each under the writer lock
    (writes one at a time across every worker), reads on one snapshot."""

    def __init__(self, database: PostgresDatabase) -> None:
        super().__init__(database, psycopg.Error, database.name)
        self.database = database
