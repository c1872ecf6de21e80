"""The hub's SQLite database: schema and migrations in one place, and one writer thread.

Every write runs as one ``BEGIN IMMEDIATE`` transaction on a single writer thread (the datasette
pattern), so writes never interleave and the event loop never waits on SQLite: asyncio code awaits
``awrite``/``aread``; threads call ``write``/``read``. A file database is in WAL mode, so readers
(one connection per thread) never block the writer. An in-memory database (tests) has a single
connection and reads go through the writer thread too.

The schema is migrated here only: ``schema.MIGRATIONS`` is the ordered list, and
``schema_version`` records the last one applied. A migration runs in the same transaction as its
version bump, so a crash leaves the database at either version, never between.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import sqlite3
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Final, TypeVar

from hub.storage.sqlite.schema import MIGRATIONS, SCHEMA_VERSION
from hub.storage.sqlite.session import SqliteSession

log = logging.getLogger(__name__)

T = TypeVar("T")

BUSY_TIMEOUT_MS: Final = 10_000


class DatabaseError(Exception):
    """The database cannot be opened or migrated; the message says which file and why."""


_memory_names = itertools.count()


class HubDatabase:
    """The hub's database: ``path`` is a file (WAL mode) or ``None`` for a private in-memory one."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="hub-db-writer")
        self._writer_ident: int | None = None
        self._local = threading.local()
        self._readers: list[SqliteSession] = []
        self._readers_lock = threading.Lock()
        self._closed = False
        self._write_db: SqliteSession = self._writer.submit(self._open_writer).result()
        self.write(migrate)

    # Connections.

    def _connect(self) -> SqliteSession:
        target = ":memory:" if self.path is None else str(self.path)
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        try:
            conn = sqlite3.connect(
                target,
                isolation_level=None,
                check_same_thread=False,
                timeout=BUSY_TIMEOUT_MS / 1000,
            )
        except sqlite3.Error as exc:
            raise DatabaseError(f"cannot open database {target}: {exc}") from exc
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        conn.execute("PRAGMA foreign_keys = ON")
        # FULL: a "stored" ack tells the agent to delete its copy, so the evidence row must be on
        # disk before the ack leaves, even across a power cut.
        conn.execute("PRAGMA synchronous = FULL")
        return SqliteSession(conn)

    def _open_writer(self) -> SqliteSession:
        self._writer_ident = threading.get_ident()
        db = self._connect()
        if self.path is not None:
            mode = db.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise DatabaseError(f"database {self.path} refused WAL mode (got {mode})")
        return db

    def _reader(self) -> SqliteSession:
        db: SqliteSession | None = getattr(self._local, "db", None)
        if db is None:
            db = self._connect()
            db.execute("PRAGMA query_only = ON")
            self._local.db = db
            with self._readers_lock:
                self._readers.append(db)
        return db

    # Writes.

    def _run_write(self, fn: Callable[[SqliteSession], T]) -> T:
        conn = self._write_db.conn
        if conn.in_transaction:  # nested call from inside a write: same transaction
            return fn(self._write_db)
        conn.execute("BEGIN IMMEDIATE")
        try:
            result = fn(self._write_db)
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
        return result

    def _submit_write(self, fn: Callable[[SqliteSession], T]) -> Future[T]:
        if self._closed:
            raise DatabaseError("the database is closed")
        return self._writer.submit(self._run_write, fn)

    def write(self, fn: Callable[[SqliteSession], T]) -> T:
        """Run ``fn`` in one transaction on the writer thread and wait for it (not on a loop)."""
        if threading.get_ident() == self._writer_ident:
            return self._run_write(fn)
        _not_on_event_loop("write")
        return self._submit_write(fn).result()

    async def awrite(self, fn: Callable[[SqliteSession], T]) -> T:
        """Run ``fn`` in one transaction on the writer thread; the event loop keeps running."""
        return await asyncio.wrap_future(self._submit_write(fn))

    async def ainsert(self, fn: Callable[[SqliteSession], T]) -> T:
        """A write (SQLite has no lighter kind: one writer)."""
        return await self.awrite(fn)

    # Reads.

    def _run_read(self, fn: Callable[[SqliteSession], T]) -> T:
        if self.path is None:
            return fn(self._write_db)
        db = self._reader()
        db.execute("BEGIN")  # one snapshot for everything fn reads
        try:
            return fn(db)
        finally:
            db.execute("ROLLBACK")

    def read(self, fn: Callable[[SqliteSession], T]) -> T:
        """Run ``fn`` on a consistent snapshot and wait for it (not on an event loop)."""
        if threading.get_ident() == self._writer_ident:
            return fn(self._write_db)
        _not_on_event_loop("read")
        if self.path is None:
            return self._submit_memory_read(fn).result()
        return self._run_read(fn)

    async def aread(self, fn: Callable[[SqliteSession], T]) -> T:
        if self.path is None:
            return await asyncio.wrap_future(self._submit_memory_read(fn))
        return await asyncio.to_thread(self._run_read, fn)

    def _submit_memory_read(self, fn: Callable[[SqliteSession], T]) -> Future[T]:
        # One in-memory connection: reads queue behind writes on its thread, outside transactions.
        if self._closed:
            raise DatabaseError("the database is closed")
        return self._writer.submit(fn, self._write_db)

    # Life cycle.

    @property
    def schema_version(self) -> int:
        return self.read(current_version)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._writer.submit(self._write_db.conn.close).result()
        self._writer.shutdown(wait=True)
        with self._readers_lock:
            readers, self._readers = self._readers, []
        for reader in readers:
            reader.conn.close()

    def __repr__(self) -> str:
        return f"HubDatabase({self.path or ':memory:'})"


def _not_on_event_loop(what: str) -> None:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return
    raise RuntimeError(f"HubDatabase.{what}() would block the event loop: await a{what}() instead")


def current_version(db: SqliteSession) -> int:
    if not db["schema_version"].exists():
        return 0
    row = db.execute("SELECT MAX(version) FROM schema_version").fetchone()
    return int(row[0] or 0)


def migrate(db: SqliteSession) -> int:
    """Apply every migration not yet applied (inside the caller's transaction); return version."""
    db.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY)")
    version = current_version(db)
    if version > SCHEMA_VERSION:
        raise DatabaseError(
            f"database schema is version {version}, newer than this software ({SCHEMA_VERSION}):"
            " upgrade the hub"
        )
    for number, statements in enumerate(MIGRATIONS[version:], start=version + 1):
        for statement in statements:
            db.execute(statement)
        db.execute("INSERT INTO schema_version (version) VALUES (?)", [number])
        log.info("database migrated to schema version %s", number)
    return SCHEMA_VERSION
