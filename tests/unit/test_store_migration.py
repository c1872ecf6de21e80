"""The store's one SQLite helper: schema versions, migrations in place, one time format; and the
outbox of the first agents (tests/fixtures/outbox) migrated in place, keeping every job and clip."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest

from cctv_common.wire.job_state import JobState
from edge_agent.store.database import Migration, SchemaTooNew, StoreDatabase, from_us, to_us
from edge_agent.store.outbox import SCHEMA_VERSION, Outbox, OutboxError
from tests.support.paths import FIXTURES

FIXTURE = FIXTURES / "outbox" / "outbox_v0.sql"


@pytest.fixture
def old_outbox(tmp_path: Path) -> Path:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    connection = sqlite3.connect(data_dir / "outbox.db")
    dump = FIXTURE.read_text(encoding="utf-8").replace("DATA_DIR", str(data_dir))
    connection.executescript(dump)
    connection.close()
    return data_dir


def test_an_outbox_of_version_0_is_migrated_in_place_and_keeps_every_job_and_clip(
    old_outbox: Path,
) -> None:
    outbox = Outbox(old_outbox)
    assert outbox.schema_version == SCHEMA_VERSION == 2
    states = {job.job_id: job.state for job in outbox.jobs()}
    assert states == {
        "job-1": JobState.STORED,
        "job-2": JobState.UPLOADING,
        "job-3": JobState.CUTTING,
        "job-4": JobState.QUEUED,
        "job-5": JobState.FAILED,
    }
    # Most urgent first, then in order of arrival, as before.
    assert outbox.jobs()[0].job_id == "job-4"
    # ISO text times became integer microseconds, to the microsecond.
    job1 = outbox.job("job-1")
    assert job1 is not None and job1.updated_at.tzinfo is not None
    assert job1.updated_at.microsecond == 250000
    assert [clip.clip_id for clip in outbox.pending_clips()] == ["clip-2"]
    rejected = outbox.clip("clip-5")
    assert rejected is not None and rejected.reason == "manifest signature does not verify"
    assert rejected.directory == old_outbox / "outbox" / "clip-5"
    outbox.close()
    columns = {
        row[1]
        for row in sqlite3.connect(old_outbox / "outbox.db").execute("pragma table_info(jobs)")
    }
    assert "updated_us" in columns and "updated_at" not in columns

    # A second open does not migrate again, and new rows use the new layout.
    again = Outbox(old_outbox)
    clip = again.clip_stored("clip-2")[0]
    assert clip.state == "stored" and again.schema_version == SCHEMA_VERSION
    again.close()


def test_a_new_file_runs_every_migration_and_a_newer_file_is_refused(tmp_path: Path) -> None:
    calls: list[int] = []

    def step(number: int) -> Migration:
        def migrate(conn: sqlite3.Connection) -> None:
            calls.append(number)
            conn.execute(f"create table t{number} (x integer)")

        return migrate

    path = tmp_path / "store.db"
    store = StoreDatabase(path, migrations=[step(1), step(2)], write_error=OutboxError)
    assert store.schema_version == 2 and calls == [1, 2]
    store.close()
    store = StoreDatabase(path, migrations=[step(1), step(2), step(3)], write_error=OutboxError)
    assert store.schema_version == 3 and calls == [1, 2, 3]
    store.close()
    with pytest.raises(SchemaTooNew, match="newer than this agent's 1"):
        StoreDatabase(path, migrations=[step(1)], write_error=OutboxError)


def test_a_failed_migration_leaves_the_last_whole_version(tmp_path: Path) -> None:
    path = tmp_path / "store.db"

    def good(conn: sqlite3.Connection) -> None:
        conn.execute("create table kept (x integer)")

    def bad(conn: sqlite3.Connection) -> None:
        conn.execute("create table half (x integer)")
        conn.execute("insert into no_such_table values (1)")

    with pytest.raises(OutboxError, match="write failed"):
        StoreDatabase(path, migrations=[good, bad], write_error=OutboxError)
    connection = sqlite3.connect(path)
    assert connection.execute("pragma user_version").fetchone()[0] == 1
    tables = {row[0] for row in connection.execute("select name from sqlite_master")}
    connection.close()
    assert "kept" in tables and "half" not in tables


def test_times_are_integer_microseconds_utc() -> None:
    moment = datetime(2026, 11, 23, 10, 0, 0, 123456, tzinfo=UTC)
    assert to_us(moment) == 1_795_428_000_123_456
    assert from_us(to_us(moment)) == moment
