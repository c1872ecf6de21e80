"""Which database the hub runs on, from its settings: SQLite in ``data_dir`` (one machine, the
default) or PostgreSQL at ``database_url`` (several hub workers). Only the composition (the
service, the app, the CLI) opens one; everything else speaks ``HubStorage``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from hub.settings import HubSettings
from hub.storage.ports import HubStorage
from hub.storage.sqlite.database import HubDatabase
from hub.storage.sqlite.unit_of_work import SqliteStorage

if TYPE_CHECKING:
    from hub.storage.postgres.database import PostgresDatabase

    AnyDatabase = HubDatabase | PostgresDatabase
else:
    AnyDatabase = object


def open_database(settings: HubSettings) -> AnyDatabase:
    """The settings' database, migrated to this software's schema."""
    if settings.database.url is None:
        return HubDatabase(settings.db_path)
    from hub.storage.postgres.database import PostgresDatabase  # psycopg only when asked for

    return PostgresDatabase(settings.database.url, max_size=settings.database.pool_size)


def storage_for(database: AnyDatabase) -> HubStorage:
    """The storage ports on ``database``."""
    if isinstance(database, HubDatabase):
        return SqliteStorage(database)
    from hub.storage.postgres.storage import PostgresStorage

    return PostgresStorage(database)
