"""The hub's PostgreSQL database: a connection pool, one transaction per unit of work, the same
ordered migrations as SQLite (translated by ``dialect``).

Several hub workers write at once. Each write transaction first takes one transaction-scoped
advisory lock (the writer lock), so writes run one after another across every worker, as they do
on SQLite's one writer thread; at ``READ COMMITTED`` each statement then sees every write committed
before the lock was granted. That is what keeps the custody chain strictly ordered (a row is
appended after the head the previous writer committed) and keeps every read-modify-write of the
row modules (written for SQLite's single writer) correct, without running a unit of work twice.
``SERIALIZABLE`` without the lock was measured too: the chain stayed whole, but every two
concurrent custody appends conflict, so 4 writers x 200 appends cost about 900 re-runs of whole
units of work, and a unit of work that is re-run must have no other effects; the writer lock
costs no re-run and took the same time. A deadlock (another session's locks) is retried from the
start. Reads run on one ``REPEATABLE READ READ ONLY`` snapshot and never wait for the lock.

Migrations run under another advisory lock, so workers starting together apply each migration
once. Both locks are per schema (``current_schema()``).
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import logging
import random
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Final, TypeVar

import psycopg
from psycopg import errors
from psycopg.pq import TransactionStatus
from psycopg_pool import ConnectionPool, PoolTimeout

from hub.storage.postgres import dialect
from hub.storage.postgres.session import PostgresSession
from hub.storage.sqlite.database import DatabaseError
from hub.storage.sqlite.schema import MIGRATIONS, SCHEMA_VERSION

log = logging.getLogger(__name__)

T = TypeVar("T")

MAX_ATTEMPTS: Final = 60
_RETRYABLE: Final = (errors.SerializationFailure, errors.DeadlockDetected)
_WRITER_LOCK: Final = (
    "SELECT pg_advisory_xact_lock(hashtext('cctv-hub-writer:' || current_schema()))"
)
_MIGRATION_LOCK: Final = (
    "SELECT pg_advisory_xact_lock(hashtext('cctv-hub-migrate:' || current_schema()))"
)


class PostgresDatabaseError(DatabaseError):
    """The database cannot be reached or migrated; the message says which and why (a
    ``DatabaseError``, so the CLI reports it as it does SQLite's)."""


def redacted(url: str) -> str:
    """The URL without its password, for logs and errors."""
    try:
        info = psycopg.conninfo.conninfo_to_dict(url)
    except psycopg.ProgrammingError:
        return "postgresql://(unreadable URL)"
    host = info.get("host", "")
    port = info.get("port", "")
    user = info.get("user", "")
    return f"postgresql://{user}@{host}{':' if port else ''}{port}/{info.get('dbname', '')}"


class PostgresDatabase:
    """A pool of connections to ``url`` (``postgresql://user@host:port/db``; the password in
    ``PGPASSWORD``, a ``~/.pgpass`` file or the URL)."""

    def __init__(self, url: str, *, min_size: int = 1, max_size: int = 8) -> None:
        self.url = url
        self.name = redacted(url)
        self._local = threading.local()
        self.retries = 0  # transactions run again (deadlock or serialization failure)
        # As many threads as connections, half for writes: none waits for a connection.
        writers = max(1, max_size // 2)
        self._write_threads = ThreadPoolExecutor(writers, thread_name_prefix="cctv-db-write")
        self._read_threads = ThreadPoolExecutor(
            max(1, max_size - writers), thread_name_prefix="cctv-db-read"
        )
        self._pool = ConnectionPool(
            url,
            min_size=min_size,
            max_size=max_size,
            kwargs={"autocommit": True},
            open=False,
            name="cctv-hub",
        )
        try:
            self._pool.open(wait=True, timeout=15)
        except PoolTimeout as exc:
            self.close()
            raise PostgresDatabaseError(f"cannot connect to {self.name}: {exc}") from exc
        self.migrate()

    # Transactions.

    def _run(
        self,
        begin: str,
        fn: Callable[[PostgresSession], T],
        *,
        retry: bool,
        lock: str = "",
        writing: bool = True,
    ) -> T:
        current: PostgresSession | None = getattr(self._local, "session", None)
        if current is not None:  # nested call from inside a unit of work: same transaction
            return fn(current)
        attempt = 0
        with self._pool.connection() as conn:
            while True:
                attempt += 1
                try:
                    return self._once(conn, begin, lock, fn, writing=writing)
                except _RETRYABLE:
                    self._roll_back(conn)
                    if not retry or attempt >= MAX_ATTEMPTS:
                        raise
                    self.retries += 1
                    time.sleep(random.uniform(0, min(0.002 * attempt, 0.05)))
                except BaseException:
                    self._roll_back(conn)
                    raise

    def _once(
        self,
        conn: psycopg.Connection[Any],
        begin: str,
        lock: str,
        fn: Callable[[PostgresSession], T],
        *,
        writing: bool,
    ) -> T:
        """One attempt, in pipeline mode: BEGIN (and the lock) go with the unit's first query,
        its last statements with COMMIT; leaving the pipeline waits for every result, so this
        returns only once the COMMIT is confirmed (a job is committed before it is published)."""
        with conn.pipeline() as pipeline:
            # Two statements, no round trip for either: the extended protocol of pipeline
            # mode takes one statement per execute.
            conn.execute(begin)
            if lock:
                conn.execute(lock)
            self._local.session = PostgresSession(conn, writing=writing, pipeline=pipeline)
            try:
                result = fn(self._local.session)
            finally:
                self._local.session = None
            conn.execute("COMMIT")
        return result

    @staticmethod
    def _roll_back(conn: psycopg.Connection[Any]) -> None:
        # Out of the pipeline by now, so the status is the server's, not a stale one.
        if not conn.closed and conn.info.transaction_status != TransactionStatus.IDLE:
            conn.execute("ROLLBACK")

    def write(self, fn: Callable[[PostgresSession], T]) -> T:
        """Run ``fn`` in one transaction holding the writer lock (again after a deadlock)."""
        return self._run("BEGIN ISOLATION LEVEL READ COMMITTED", fn, retry=True, lock=_WRITER_LOCK)

    def insert(self, fn: Callable[[PostgresSession], T]) -> T:
        """Run ``fn`` in one transaction *without* the writer lock: for a unit of work that only
        adds rows under new ids and custody rows (each append takes the custody log's own lock),
        and reads nothing it then changes. It does not queue behind every other write."""
        return self._run("BEGIN ISOLATION LEVEL READ COMMITTED", fn, retry=True)

    def read(self, fn: Callable[[PostgresSession], T]) -> T:
        """Run ``fn`` on one snapshot."""
        return self._run(
            "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", fn, retry=True, writing=False
        )

    # On the loop: writes on threads of their own, reads and insert-only units on others, so a
    # read (a login) or a dispatch never waits for a thread behind writes that are themselves
    # waiting for the writer lock, nor behind the hub's file work on asyncio's default threads.

    async def _on(self, threads: ThreadPoolExecutor, run: Callable[[], T]) -> T:
        context = contextvars.copy_context()  # as asyncio.to_thread: the caller's context
        return await asyncio.get_running_loop().run_in_executor(threads, context.run, run)

    async def awrite(self, fn: Callable[[PostgresSession], T]) -> T:
        return await self._on(self._write_threads, functools.partial(self.write, fn))

    async def ainsert(self, fn: Callable[[PostgresSession], T]) -> T:
        return await self._on(self._read_threads, functools.partial(self.insert, fn))

    async def aread(self, fn: Callable[[PostgresSession], T]) -> T:
        return await self._on(self._read_threads, functools.partial(self.read, fn))

    # Schema.

    def migrate(self) -> int:
        """Apply every migration not yet applied, each in one transaction with its version."""
        while True:
            applied = self._run("BEGIN", self._migrate_one, retry=False)
            if applied is None:
                return SCHEMA_VERSION

    def _migrate_one(self, session: PostgresSession) -> int | None:
        session.execute(_MIGRATION_LOCK)
        session.execute("CREATE TABLE IF NOT EXISTS schema_version (version BIGINT PRIMARY KEY)")
        version = current_version(session)
        if version > SCHEMA_VERSION:
            raise PostgresDatabaseError(
                f"database {self.name} is schema version {version}, newer than this software"
                f" ({SCHEMA_VERSION}): upgrade the hub"
            )
        if version == SCHEMA_VERSION:
            return None
        number = version + 1
        for statement in MIGRATIONS[version]:
            for translated in dialect.migration(statement):
                session.execute(translated)
        session.execute("INSERT INTO schema_version (version) VALUES (?)", [number])
        log.info("database %s migrated to schema version %s", self.name, number)
        return number

    @property
    def schema_version(self) -> int:
        return self.read(current_version)

    def close(self) -> None:
        self._write_threads.shutdown(wait=True)
        self._read_threads.shutdown(wait=True)
        self._pool.close()

    def __repr__(self) -> str:
        return f"PostgresDatabase({self.name})"


def current_version(session: PostgresSession) -> int:
    row: Any = session.execute("SELECT MAX(version) FROM schema_version").fetchone()
    return int(row[0] or 0)
