"""The database: WAL on disk, migrations recorded once, one writer, no blocking on the loop."""

from __future__ import annotations

import asyncio
import functools
import sqlite3
import threading
from pathlib import Path

import pytest
from sqlite_utils import Database

from hub.storage.sqlite.database import SCHEMA_VERSION, DatabaseError, HubDatabase


def test_a_file_database_is_in_wal_mode_and_at_the_latest_schema(tmp_path: Path) -> None:
    database = HubDatabase(tmp_path / "hub.db")
    try:
        mode = database.read(lambda db: db.execute("PRAGMA journal_mode").fetchone()[0])
        assert mode == "wal"
        assert database.schema_version == SCHEMA_VERSION
        tables = set(database.read(lambda db: db.table_names()))
        assert {
            "sites",
            "cameras",
            "jobs",
            "uploads",
            "evidence_items",
            "audit",
            "users",
            "sessions",
            "schema_version",
        } <= tables
    finally:
        database.close()


def test_reopening_applies_no_migration_twice(tmp_path: Path) -> None:
    HubDatabase(tmp_path / "hub.db").close()
    database = HubDatabase(tmp_path / "hub.db")
    try:
        versions = database.read(
            lambda db: [row[0] for row in db.execute("SELECT version FROM schema_version")]
        )
        assert versions == list(range(1, SCHEMA_VERSION + 1))
    finally:
        database.close()


def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    database = HubDatabase(tmp_path / "hub.db")
    database.write(
        lambda db: db.execute("INSERT INTO schema_version VALUES (?)", [SCHEMA_VERSION + 1])
    )
    database.close()
    with pytest.raises(DatabaseError, match="newer than this software"):
        HubDatabase(tmp_path / "hub.db")


def test_a_failed_write_leaves_nothing_behind() -> None:
    database = HubDatabase(None)

    def half_done(db: Database) -> None:
        db.execute("INSERT INTO schema_version VALUES (999)")
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        database.write(half_done)
    assert database.schema_version == SCHEMA_VERSION
    database.close()


def test_writes_run_on_one_thread_and_readers_see_them(tmp_path: Path) -> None:
    database = HubDatabase(tmp_path / "hub.db")
    threads: set[str] = set()

    def insert(n: int) -> None:
        def run(db: Database) -> None:
            threads.add(threading.current_thread().name)
            db.execute(
                "INSERT INTO users (username, role, password_hash, source, created_at, updated_at)"
                " VALUES (?, 'police', 'scrypt$x', 'db', 'now', 'now')",
                [f"user-{n}"],
            )

        database.write(run)

    workers = [threading.Thread(target=insert, args=(n,)) for n in range(20)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert len(threads) == 1
    assert database.read(lambda db: db["users"].count) == 20
    database.close()


def test_blocking_calls_are_refused_on_the_event_loop() -> None:
    database = HubDatabase(None)

    async def misuse() -> None:
        with pytest.raises(RuntimeError, match="awrite"):
            database.write(lambda db: None)
        assert await database.awrite(lambda db: 7) == 7
        assert await database.aread(lambda db: 8) == 8

    asyncio.run(misuse())
    database.close()


def test_a_job_state_outside_job_state_is_refused_by_the_database(tmp_path: Path) -> None:
    """Migration 4's written-out list is JobState's: a new state needs a new migration."""
    from cctv_common.wire.job_state import JobState

    database = HubDatabase(tmp_path / "hub.db")
    try:

        def insert(db: Database, job_id: str, state: str) -> None:
            db.execute(
                "INSERT INTO sites (id, public_key_pem, key_id, registered_at, registered_by)"
                " VALUES ('s', 'pem', 'k', 't', 'test') ON CONFLICT DO NOTHING"
            )
            db.execute(
                'INSERT INTO jobs (id, site_id, camera_id, start, "end", reason, requested_by,'
                " state, created_at, updated_at) VALUES (?, 's', 'c', 't', 't', 'r', 'u', ?,"
                " 't', 't')",
                [job_id, state],
            )

        for state in JobState:
            database.write(functools.partial(insert, job_id=f"job-{state}", state=state))
        for bogus in ("cancelled", "teleporting", ""):
            with pytest.raises(sqlite3.IntegrityError, match="CHECK"):
                database.write(functools.partial(insert, job_id=f"job-x{bogus}", state=bogus))
        stored = database.read(lambda db: [row[0] for row in db.execute("SELECT state FROM jobs")])
        assert sorted(stored) == sorted(state.value for state in JobState)
    finally:
        database.close()


def test_migration_9_keeps_exhibit_references_and_takes_outside_items(tmp_path: Path) -> None:
    """A hub at schema 8 keeps its exhibit references; after 9 one may name an outside item."""
    from hub.storage.sqlite.schema import MIGRATIONS

    path = tmp_path / "hub.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE schema_version (version INTEGER PRIMARY KEY)")
        for number, statements in enumerate(MIGRATIONS[:8], start=1):
            for statement in statements:
                conn.execute(statement)
            conn.execute("INSERT INTO schema_version VALUES (?)", [number])
        conn.execute(
            "INSERT INTO exhibit_references VALUES ('clip-1', 'R-1', 'JS/1', 'js', '2026-01-01')"
        )
    conn.close()
    database = HubDatabase(path)
    try:
        assert database.schema_version == SCHEMA_VERSION
        database.write(
            lambda db: db.execute(
                "INSERT INTO exhibit_references VALUES ('OUT-0123456789abcdef', 'R-1', 'JS/2',"
                " 'js', '2026-01-02')"
            )
        )
        rows = database.read(
            lambda db: [
                tuple(r)
                for r in db.execute(
                    "SELECT clip_id, reference FROM exhibit_references ORDER BY reference"
                )
            ]
        )
        assert rows == [("clip-1", "JS/1"), ("OUT-0123456789abcdef", "JS/2")]
        with pytest.raises(sqlite3.IntegrityError):
            database.write(
                lambda db: db.execute(
                    "INSERT INTO exhibit_references VALUES ('clip-2', 'R-1', 'JS/1', 'js', 'x')"
                )
            )
    finally:
        database.close()
