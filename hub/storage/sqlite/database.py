"""The hub's SQLite database: schema and migrations in one place, and one writer thread.

Every write runs as one ``BEGIN IMMEDIATE`` transaction on a single writer thread (the datasette
pattern), so writes never interleave and the event loop never waits on SQLite: asyncio code awaits
``awrite``/``aread``; threads call ``write``/``read``. A file database is in WAL mode, so readers
(one connection per thread) never block the writer. An in-memory database (tests) has a single
connection and reads go through the writer thread too.

The schema is created and migrated here only: ``MIGRATIONS`` is an ordered list, and
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

from sqlite_utils import Database

from hub.storage.sqlite.schema_exhibits import EXHIBITS_MIGRATION

log = logging.getLogger(__name__)

T = TypeVar("T")

BUSY_TIMEOUT_MS: Final = 10_000

# Each migration is a tuple of statements (not one script: executescript would commit halfway).
MIGRATIONS: Final[tuple[tuple[str, ...], ...]] = (
    # 1: the first schema.
    (
        """CREATE TABLE sites (
            id TEXT PRIMARY KEY,
            name TEXT NOT NULL DEFAULT '',
            public_key_pem TEXT NOT NULL,
            key_id TEXT NOT NULL,
            state TEXT NOT NULL DEFAULT 'unknown' CHECK (state IN ('unknown', 'online', 'offline')),
            status TEXT,
            last_seen TEXT,
            registered_at TEXT NOT NULL,
            registered_by TEXT NOT NULL
        )""",
        """CREATE TABLE cameras (
            site_id TEXT NOT NULL REFERENCES sites(id),
            camera_id TEXT NOT NULL,
            state TEXT NOT NULL,
            status TEXT NOT NULL,
            buffer_start TEXT,
            buffer_end TEXT,
            codec TEXT,
            width INTEGER,
            height INTEGER,
            updated_at TEXT NOT NULL,
            PRIMARY KEY (site_id, camera_id)
        )""",
        """CREATE TABLE jobs (
            id TEXT PRIMARY KEY,
            site_id TEXT NOT NULL REFERENCES sites(id),
            camera_id TEXT NOT NULL,
            start TEXT NOT NULL,
            "end" TEXT NOT NULL,
            reason TEXT NOT NULL,
            priority INTEGER NOT NULL DEFAULT 5,
            requested_by TEXT NOT NULL,
            state TEXT NOT NULL,
            percent INTEGER NOT NULL DEFAULT 0,
            error TEXT,
            clip_id TEXT,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL
        )""",
        "CREATE INDEX jobs_requested_by ON jobs (requested_by, created_at)",
        "CREATE INDEX jobs_state ON jobs (state)",
        """CREATE TABLE uploads (
            clip_id TEXT PRIMARY KEY,
            site_id TEXT NOT NULL,
            job_id TEXT NOT NULL,
            offer TEXT NOT NULL,
            clip_sha256 TEXT NOT NULL,
            clip_bytes INTEGER NOT NULL,
            chunk_count INTEGER NOT NULL,
            chunk_size INTEGER NOT NULL,
            held TEXT NOT NULL DEFAULT '[]',
            state TEXT NOT NULL CHECK (state IN ('receiving', 'stored', 'rejected', 'expired')),
            reason TEXT,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL
        )""",
        "CREATE INDEX uploads_state ON uploads (state, updated_at)",
        """CREATE TABLE evidence_items (
            clip_id TEXT PRIMARY KEY,
            sha256 TEXT NOT NULL,
            store_key TEXT NOT NULL,
            site_id TEXT NOT NULL,
            camera_id TEXT NOT NULL,
            job_id TEXT NOT NULL,
            requested_by TEXT NOT NULL,
            manifest TEXT NOT NULL,
            signature TEXT NOT NULL,
            key_id TEXT NOT NULL,
            bytes INTEGER NOT NULL,
            delivered_start TEXT NOT NULL,
            delivered_end TEXT NOT NULL,
            codec TEXT NOT NULL,
            width INTEGER NOT NULL,
            height INTEGER NOT NULL,
            stored_at TEXT NOT NULL,
            category TEXT NOT NULL DEFAULT 'unclassified',
            retention_until TEXT,
            legal_hold INTEGER NOT NULL DEFAULT 0
        )""",
        "CREATE INDEX evidence_requested_by ON evidence_items (requested_by, stored_at)",
        "CREATE INDEX evidence_job ON evidence_items (job_id)",
        """CREATE TABLE audit (
            seq INTEGER PRIMARY KEY,
            at TEXT NOT NULL,
            actor TEXT NOT NULL,
            action TEXT NOT NULL,
            subject TEXT NOT NULL,
            detail TEXT NOT NULL,
            prev_hash TEXT NOT NULL,
            hash TEXT NOT NULL
        )""",
        "CREATE INDEX audit_subject ON audit (subject, seq)",
        # The custody log is append-only for the application: SQLite refuses edits and deletions.
        # Someone with the file can still drop these triggers; verify_chain() detects what they do.
        """CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
            BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END""",
        """CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
            BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END""",
        """CREATE TABLE users (
            username TEXT PRIMARY KEY,
            role TEXT NOT NULL,
            password_hash TEXT NOT NULL,
            source TEXT NOT NULL CHECK (source IN ('config', 'db')),
            disabled INTEGER NOT NULL DEFAULT 0,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL
        )""",
        """CREATE TABLE sessions (
            token_hash TEXT PRIMARY KEY,
            username TEXT NOT NULL REFERENCES users(username),
            created_at TEXT NOT NULL,
            expires_at TEXT NOT NULL
        )""",
        "CREATE INDEX sessions_expiry ON sessions (expires_at)",
    ),
    # 2: camera events (motion, tamper) each site sends, for the operator's timeline. One row per
    # (site, event id): a re-sent event is the same row.
    (
        """CREATE TABLE camera_events (
            site_id TEXT NOT NULL REFERENCES sites(id),
            event_id TEXT NOT NULL,
            camera_id TEXT NOT NULL,
            at TEXT NOT NULL,
            kind TEXT NOT NULL CHECK (kind IN ('motion', 'tamper')),
            active INTEGER NOT NULL CHECK (active IN (0, 1)),
            topic TEXT NOT NULL,
            data TEXT NOT NULL,
            received_at TEXT NOT NULL,
            PRIMARY KEY (site_id, event_id)
        )""",
        "CREATE INDEX camera_events_time ON camera_events (site_id, camera_id, at)",
    ),
    # 3: evidence re-verification, deletion kept as a tombstone, and persisted login throttling.
    (
        # The last check of each stored object against its SHA-256 (by the scrub, verify-store,
        # or a download that hashed what it served). ok = 0 marks the object damaged.
        """CREATE TABLE evidence_checks (
            store_key TEXT PRIMARY KEY,
            checked_at TEXT NOT NULL,
            ok INTEGER NOT NULL CHECK (ok IN (0, 1)),
            problem TEXT,
            checked_by TEXT NOT NULL
        )""",
        # A deleted item keeps its row (what it was, who deleted it, when); its bytes are gone.
        "ALTER TABLE evidence_items ADD COLUMN deleted_at TEXT",
        "ALTER TABLE evidence_items ADD COLUMN deleted_by TEXT",
        # Failed logins per client address and per known user (bounded: see
        # hub.services.login_throttle).
        """CREATE TABLE login_throttle (
            kind TEXT NOT NULL CHECK (kind IN ('address', 'user')),
            key TEXT NOT NULL,
            failures INTEGER NOT NULL,
            last_failure TEXT NOT NULL,
            next_allowed TEXT NOT NULL,
            PRIMARY KEY (kind, key)
        )""",
        "CREATE INDEX login_throttle_age ON login_throttle (kind, last_failure)",
    ),
    # 4: a job's state may only be one of cctv_common.wire.job_state.JobState (SQLite cannot add
    # a CHECK to a column, so the table is rebuilt). The list is written out, not generated:
    # a migration never changes once released; a test checks that it matches JobState.
    (
        """CREATE TABLE jobs_checked (
            id TEXT PRIMARY KEY,
            site_id TEXT NOT NULL REFERENCES sites(id),
            camera_id TEXT NOT NULL,
            start TEXT NOT NULL,
            "end" TEXT NOT NULL,
            reason TEXT NOT NULL,
            priority INTEGER NOT NULL DEFAULT 5,
            requested_by TEXT NOT NULL,
            state TEXT NOT NULL CHECK (state IN
                ('dispatched', 'queued', 'cutting', 'uploading', 'stored', 'failed')),
            percent INTEGER NOT NULL DEFAULT 0,
            error TEXT,
            clip_id TEXT,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL
        )""",
        """INSERT INTO jobs_checked (id, site_id, camera_id, start, "end", reason, priority,
            requested_by, state, percent, error, clip_id, created_at, updated_at)
        SELECT id, site_id, camera_id, start, "end", reason, priority, requested_by, state,
            percent, error, clip_id, created_at, updated_at FROM jobs""",
        "DROP TABLE jobs",
        "ALTER TABLE jobs_checked RENAME TO jobs",
        "CREATE INDEX jobs_requested_by ON jobs (requested_by, created_at)",
        "CREATE INDEX jobs_state ON jobs (state)",
    ),
    # 5: footage requests (issue 11): the request, its decision, holds, clip jobs, the disclosure
    # log, the requester's mail, and what a user is beyond a login (name, e-mail, force).
    (
        """CREATE TABLE request_numbers (
            year INTEGER PRIMARY KEY,
            last INTEGER NOT NULL
        )""",
        """CREATE TABLE requests (
            id TEXT PRIMARY KEY,
            state TEXT NOT NULL CHECK (state IN ('submitted', 'approved', 'partly_approved',
                'declined', 'withdrawn', 'fulfilling', 'ready', 'released', 'closed',
                'expired', 'deleted')),
            requested_by TEXT NOT NULL,
            filed_by TEXT NOT NULL,
            urgency TEXT NOT NULL,
            ripa INTEGER NOT NULL CHECK (ripa IN (0, 1)),
            district TEXT NOT NULL,
            body TEXT NOT NULL,
            received_at TEXT NOT NULL,
            decision TEXT,
            decided_at TEXT,
            released_at TEXT,
            outcome TEXT,
            outcome_note TEXT NOT NULL DEFAULT '',
            retention_category TEXT NOT NULL DEFAULT 'no_further_action',
            review_at TEXT,
            case_closed_at TEXT,
            updated_at TEXT NOT NULL
        )""",
        "CREATE INDEX requests_state ON requests (state, received_at)",
        "CREATE INDEX requests_requested_by ON requests (requested_by, received_at)",
        """CREATE TABLE request_colleagues (
            request_id TEXT NOT NULL REFERENCES requests(id),
            username TEXT NOT NULL,
            PRIMARY KEY (request_id, username)
        )""",
        "CREATE INDEX request_colleagues_user ON request_colleagues (username)",
        """CREATE TABLE request_jobs (
            job_id TEXT PRIMARY KEY REFERENCES jobs(id),
            request_id TEXT NOT NULL REFERENCES requests(id),
            site_id TEXT NOT NULL,
            camera_id TEXT NOT NULL,
            created_at TEXT NOT NULL
        )""",
        "CREATE INDEX request_jobs_request ON request_jobs (request_id)",
        """CREATE TABLE holds (
            id TEXT PRIMARY KEY,
            request_id TEXT NOT NULL REFERENCES requests(id),
            site_id TEXT NOT NULL,
            camera_id TEXT NOT NULL,
            window_start TEXT NOT NULL,
            window_end TEXT NOT NULL,
            placed_at TEXT NOT NULL,
            placed_by TEXT NOT NULL,
            edge_confirmed_at TEXT,
            lifted_at TEXT,
            lifted_by TEXT
        )""",
        "CREATE INDEX holds_request ON holds (request_id)",
        "CREATE INDEX holds_site ON holds (site_id, lifted_at)",
        # The disclosure log: numbered 1, 2, 3... with no gaps; rows are never changed.
        """CREATE TABLE disclosures (
            number INTEGER PRIMARY KEY,
            request_id TEXT NOT NULL REFERENCES requests(id),
            disclosed_at TEXT NOT NULL,
            entry TEXT NOT NULL
        )""",
        """CREATE TRIGGER disclosures_no_update BEFORE UPDATE ON disclosures
            BEGIN SELECT RAISE(ABORT, 'the disclosure log is append-only'); END""",
        """CREATE TRIGGER disclosures_no_delete BEFORE DELETE ON disclosures
            BEGIN SELECT RAISE(ABORT, 'the disclosure log is append-only'); END""",
        """CREATE TABLE notification_outbox (
            id INTEGER PRIMARY KEY,
            request_id TEXT NOT NULL,
            step TEXT NOT NULL,
            recipients TEXT NOT NULL,
            subject TEXT NOT NULL,
            state TEXT NOT NULL CHECK (state IN ('queued', 'sent', 'logged', 'failed')),
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL
        )""",
        "CREATE INDEX notification_outbox_request ON notification_outbox (request_id, id)",
        "ALTER TABLE users ADD COLUMN display_name TEXT NOT NULL DEFAULT ''",
        "ALTER TABLE users ADD COLUMN email TEXT NOT NULL DEFAULT ''",
        "ALTER TABLE users ADD COLUMN force TEXT NOT NULL DEFAULT ''",
        "ALTER TABLE users ADD COLUMN collar_number TEXT NOT NULL DEFAULT ''",
    ),
    # 6: derived items and exhibit references (issue 12): see schema_exhibits.
    EXHIBITS_MIGRATION,
)
SCHEMA_VERSION: Final = len(MIGRATIONS)


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
        self._readers: list[Database] = []
        self._readers_lock = threading.Lock()
        self._closed = False
        self._write_db: Database = self._writer.submit(self._open_writer).result()
        self.write(migrate)

    # Connections.

    def _connect(self) -> Database:
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
        return Database(conn)

    def _open_writer(self) -> Database:
        self._writer_ident = threading.get_ident()
        db = self._connect()
        if self.path is not None:
            mode = db.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise DatabaseError(f"database {self.path} refused WAL mode (got {mode})")
        return db

    def _reader(self) -> Database:
        db: Database | None = getattr(self._local, "db", None)
        if db is None:
            db = self._connect()
            db.execute("PRAGMA query_only = ON")
            self._local.db = db
            with self._readers_lock:
                self._readers.append(db)
        return db

    # Writes.

    def _run_write(self, fn: Callable[[Database], T]) -> T:
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

    def _submit_write(self, fn: Callable[[Database], T]) -> Future[T]:
        if self._closed:
            raise DatabaseError("the database is closed")
        return self._writer.submit(self._run_write, fn)

    def write(self, fn: Callable[[Database], T]) -> T:
        """Run ``fn`` in one transaction on the writer thread and wait for it (not on a loop)."""
        if threading.get_ident() == self._writer_ident:
            return self._run_write(fn)
        _not_on_event_loop("write")
        return self._submit_write(fn).result()

    async def awrite(self, fn: Callable[[Database], T]) -> T:
        """Run ``fn`` in one transaction on the writer thread; the event loop keeps running."""
        return await asyncio.wrap_future(self._submit_write(fn))

    # Reads.

    def _run_read(self, fn: Callable[[Database], T]) -> T:
        if self.path is None:
            return fn(self._write_db)
        db = self._reader()
        db.execute("BEGIN")  # one snapshot for everything fn reads
        try:
            return fn(db)
        finally:
            db.execute("ROLLBACK")

    def read(self, fn: Callable[[Database], T]) -> T:
        """Run ``fn`` on a consistent snapshot and wait for it (not on an event loop)."""
        if threading.get_ident() == self._writer_ident:
            return fn(self._write_db)
        _not_on_event_loop("read")
        if self.path is None:
            return self._submit_memory_read(fn).result()
        return self._run_read(fn)

    async def aread(self, fn: Callable[[Database], T]) -> T:
        if self.path is None:
            return await asyncio.wrap_future(self._submit_memory_read(fn))
        return await asyncio.to_thread(self._run_read, fn)

    def _submit_memory_read(self, fn: Callable[[Database], T]) -> Future[T]:
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


def current_version(db: Database) -> int:
    if not db["schema_version"].exists():
        return 0
    row = db.execute("SELECT MAX(version) FROM schema_version").fetchone()
    return int(row[0] or 0)


def migrate(db: Database) -> int:
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
