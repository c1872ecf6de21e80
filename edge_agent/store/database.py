"""The agent's one SQLite helper: how its databases are opened, versioned, migrated and written.

Both of the agent's databases use it: the segment index (``data_dir/index.db``) and the outbox
(``data_dir/outbox.db``). The rules are the same for both:

- **Opening**: WAL journal and ``synchronous=FULL``, so a committed write survives a power cut,
  not only a SIGKILL. One connection per database, guarded by a lock, serves the agent's threads;
  only the agent's main process opens them for writing.
- **One write discipline**: every write is one ``BEGIN IMMEDIATE .. COMMIT`` transaction
  (``writing()``), rolled back on any error; a failure of SQLite itself (disk full, read-only,
  locked) raises the database's own write error with the reason in one line, never a half write.
  Statements run through the connection only: nothing inside a transaction commits on its own.
- **One time format**: every time is an integer count of microseconds since the Unix epoch, UTC
  (``to_us`` / ``from_us``), in a column whose name ends in ``_us``; range queries are plain
  integer comparisons.
- **Schema version and migrations**: ``PRAGMA user_version`` is the schema version. A database
  has a list of migrations; migration ``n`` (1-based) takes the schema from version ``n - 1`` to
  ``n``. Opening runs every migration above the file's version, each in its own transaction
  together with the new version number, so a site box in the field is upgraded in place and keeps
  every row; a crash mid-upgrade leaves the last whole version. A new file starts at version 0 and
  runs them all, so a fresh database and an upgraded one have the same schema. Migrations are only
  ever appended, never edited; a file of a newer version than the code knows is refused.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

Migration = Callable[[sqlite3.Connection], None]


def to_us(moment: datetime) -> int:
    """A time as the store keeps it: integer microseconds since the Unix epoch, UTC."""
    return round(moment.timestamp() * 1_000_000)


def from_us(value: int) -> datetime:
    return datetime.fromtimestamp(value / 1_000_000, tz=UTC)


class SchemaTooNew(Exception):
    """The file was written by a newer agent: opening it with this one could lose data."""


class StoreDatabase:
    """One SQLite file (or memory, for ``path=None``), migrated to its newest schema on open."""

    def __init__(
        self,
        path: Path | None,
        *,
        migrations: Sequence[Migration],
        write_error: Callable[[str], Exception],
    ) -> None:
        self.path = path
        self._write_error = write_error
        if path is None:
            connection = sqlite3.connect(":memory:", check_same_thread=False, isolation_level=None)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            connection = sqlite3.connect(
                str(path), check_same_thread=False, timeout=30, isolation_level=None
            )
        connection.row_factory = sqlite3.Row
        self.conn = connection
        self.lock = threading.RLock()
        if path is not None:
            connection.execute("pragma journal_mode = wal")
        # FULL: a committed change survives a power cut, not only a SIGKILL.
        connection.execute("pragma synchronous = full")
        self._migrate(migrations)

    @property
    def schema_version(self) -> int:
        with self.lock:
            return int(self.conn.execute("pragma user_version").fetchone()[0])

    def _migrate(self, migrations: Sequence[Migration]) -> None:
        current = self.schema_version
        if current > len(migrations):
            raise SchemaTooNew(
                f"{self.path}: schema version {current} is newer than this agent's"
                f" {len(migrations)}; upgrade the agent"
            )
        for version, migration in enumerate(migrations[current:], start=current + 1):
            with self.writing() as conn:
                migration(conn)
                conn.execute(f"pragma user_version = {version}")

    @contextmanager
    def writing(self) -> Iterator[sqlite3.Connection]:
        """One transaction (``BEGIN IMMEDIATE`` .. ``COMMIT``), rolled back on any error."""
        with self.lock:
            conn = self.conn
            try:
                conn.execute("begin immediate")
            except sqlite3.Error as exc:
                raise self._write_error(f"{self._name}: cannot start a write: {exc}") from exc
            try:
                yield conn
            except BaseException as exc:
                conn.execute("rollback")
                if isinstance(exc, sqlite3.OperationalError):
                    raise self._write_error(f"{self._name}: write failed: {exc}") from exc
                raise
            try:
                conn.execute("commit")
            except sqlite3.Error as exc:
                conn.execute("rollback")
                raise self._write_error(f"{self._name}: write failed: {exc}") from exc

    def rows(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> list[dict[str, Any]]:
        with self.lock:
            return [dict(row) for row in self.conn.execute(sql, params)]

    def close(self) -> None:
        with self.lock:
            self.conn.close()

    @property
    def _name(self) -> str:
        return str(self.path) if self.path is not None else "in-memory database"


def columns(conn: sqlite3.Connection, table: str) -> set[str]:
    """The column names of ``table`` (for migrations that add a column only where it is missing)."""
    return {row[1] for row in conn.execute(f"pragma table_info({table})")}


def rows_in(conn: sqlite3.Connection, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
    """Rows as dicts, inside a transaction (``writing()``'s connection)."""
    return [dict(row) for row in conn.execute(sql, params)]
