"""Two hub workers' storages on one database, for the tests of what workers coordinate in the
database: two ``SqliteStorage`` on one SQLite file (each its own connections, as two processes
have), or two PostgreSQL pools on one fresh schema (skipped where the server is unreachable)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hub.storage.ports import StorageFailure
from tests.support.storage_engines import new_schema


@dataclass
class TwoStorages:
    first: Any
    second: Any
    databases: list[Any] = field(default_factory=list)

    def break_first(self) -> None:
        """Make every later unit of work of the first storage fail as an outage would."""

        async def failing(*_: Any) -> Any:
            raise StorageFailure("the database cannot be reached (test)")

        self.first.awrite = failing
        self.first.aread = failing


def two_storages(engine: str, tmp_path: Path) -> Iterator[TwoStorages]:
    if engine == "sqlite":
        from hub.storage.sqlite.database import HubDatabase
        from hub.storage.sqlite.unit_of_work import SqliteStorage

        path = tmp_path / "hub.db"
        one, two = HubDatabase(path), HubDatabase(path)
        try:
            yield TwoStorages(SqliteStorage(one), SqliteStorage(two), [one, two])
        finally:
            one.close()
            two.close()
        return
    from hub.storage.postgres.database import PostgresDatabase
    from hub.storage.postgres.storage import PostgresStorage

    schema = new_schema()
    pools = [PostgresDatabase(schema.url, max_size=4) for _ in range(2)]
    try:
        yield TwoStorages(PostgresStorage(pools[0]), PostgresStorage(pools[1]), list(pools))
    finally:
        for pool in pools:
            pool.close()
        schema.drop()
