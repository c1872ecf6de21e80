"""The custody log: a hash chain that is append-only and shows where it was tampered with, on
each engine (SQLite, PostgreSQL)."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator

import psycopg
import pytest

from hub.services.custody import (
    GENESIS_HASH,
    CustodyAction,
    CustodyLog,
    CustodyLogError,
    row_hash,
    verify_rows,
)
from hub.storage.engine import AnyDatabase, storage_for
from hub.storage.sqlite.custody_rows import append_in
from tests.support.hub_kit import drop_append_only_guards
from tests.support.storage_engines import Engine

# What each engine raises when a trigger refuses a change.
REFUSED = (sqlite3.IntegrityError, psycopg.errors.RestrictViolation)


@pytest.fixture
def database(engine: Engine) -> Iterator[AnyDatabase]:
    yield engine.database


def fill(log: CustodyLog, rows: int = 5) -> None:
    for n in range(rows):
        log.append(f"user-{n}", CustodyAction.VIEW, f"clip:c{n}", {"n": n, "note": "é"})


def drop_guards(database: AnyDatabase) -> None:
    """What someone with the database's login could do: remove the append-only triggers."""
    database.write(drop_append_only_guards)


def test_rows_chain_each_to_the_one_before(database: AnyDatabase) -> None:
    log = CustodyLog(storage_for(database))
    first = log.append("pc-1", CustodyAction.DISPATCH, "job:j1", {"site_id": "site-a"})
    second = log.append("hub:h", CustodyAction.STORED, "clip:c1", {"sha256": "ab" * 32})
    assert (first.seq, second.seq) == (1, 2)
    assert first.prev_hash == GENESIS_HASH
    assert second.prev_hash == first.hash
    assert second.hash == row_hash(
        2, second.at, "hub:h", "stored", "clip:c1", {"sha256": "ab" * 32}, first.hash
    )
    assert log.verify_chain() == (True, None)
    assert [row.seq for row in log.rows(subjects=["clip:c1"])] == [2]


def test_an_empty_log_verifies() -> None:
    assert verify_rows([]) == (True, None)


def test_the_database_refuses_updates_and_deletes(database: AnyDatabase) -> None:
    log = CustodyLog(storage_for(database))
    fill(log, 2)
    with pytest.raises(REFUSED, match="append-only"):
        database.write(lambda db: db.execute("UPDATE audit SET actor = 'x' WHERE seq = 1"))
    with pytest.raises(REFUSED, match="append-only"):
        database.write(lambda db: db.execute("DELETE FROM audit WHERE seq = 2"))
    assert log.verify_chain() == (True, None)


def test_a_changed_detail_is_found_at_its_row(database: AnyDatabase) -> None:
    log = CustodyLog(storage_for(database))
    fill(log)
    drop_guards(database)
    database.write(
        lambda db: db.execute("UPDATE audit SET detail = ? WHERE seq = 3", [json.dumps({"n": 99})])
    )
    assert log.verify_chain() == (False, 3)


def test_a_rehashed_forgery_breaks_the_link_to_the_next_row(database: AnyDatabase) -> None:
    log = CustodyLog(storage_for(database))
    fill(log)
    drop_guards(database)
    row = log.rows(subjects=["clip:c2"])[0]
    forged = row_hash(
        row.seq, row.at, "intruder", row.action, row.subject, row.detail, row.prev_hash
    )
    database.write(
        lambda db: db.execute(
            "UPDATE audit SET actor = 'intruder', hash = ? WHERE seq = ?", [forged, row.seq]
        )
    )
    assert log.verify_chain() == (False, row.seq + 1)


def test_a_deleted_row_is_found(database: AnyDatabase) -> None:
    log = CustodyLog(storage_for(database))
    fill(log)
    drop_guards(database)
    database.write(lambda db: db.execute("DELETE FROM audit WHERE seq = 2"))
    assert log.verify_chain() == (False, 3)


def test_rows_are_appended_only_inside_a_write_transaction(database: AnyDatabase) -> None:
    with pytest.raises(CustodyLogError, match="inside a write transaction"):
        database.read(lambda db: append_in(db, "x", CustodyAction.VIEW, "clip:c", {}))


def test_detail_must_be_json(database: AnyDatabase) -> None:
    with pytest.raises(CustodyLogError, match="not JSON"):
        CustodyLog(storage_for(database)).append(
            "x", CustodyAction.VIEW, "clip:c", {"when": object()}
        )
    assert CustodyLog(storage_for(database)).verify_chain() == (True, None)
