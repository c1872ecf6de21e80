"""Migrated PostgreSQL schemas for hub tests, emptied and used again within one test process.

Making a schema and running the hub's migrations in it costs 0.3-1.1 s on this 2-core machine
(80 DDL statements; measured at load averages 9-11), and dropping it another 0.1-0.5 s: over
the hub suite that would double the hub tests' time. Emptying a schema a test has used costs
10-20 ms instead: every table's rows deleted (the append-only tables' refusal triggers off for
that one transaction) and its sequences restarted, so the next test starts from exactly what a
freshly migrated schema holds: no rows, every identity from 1, the schema version. A schema
serves one test at a time (each xdist worker is its own process with its own schemas) and is
dropped when the process's session ends. A schema that cannot be emptied (a connection a test
left open still holds a lock) is dropped and not used again.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

from tests.support.storage_engines import PostgresSchema, new_schema

if TYPE_CHECKING:
    import psycopg

# Longer than any lock a closed hub leaves behind, short enough not to hang a session.
_LOCK_TIMEOUT: Final = "SET lock_timeout = '5s'"

_free: list[PostgresSchema] = []
_emptying: dict[str, str] = {}  # schema name -> the statements that empty it


def migrated_schema() -> PostgresSchema:
    """An empty schema at this software's schema version (skips when PostgreSQL is out)."""
    if _free:
        return _free.pop()
    from hub.storage.postgres.database import PostgresDatabase

    schema = new_schema()
    PostgresDatabase(schema.url, max_size=1).close()  # migrates
    return schema


def give_back(schema: PostgresSchema) -> None:
    """Empty ``schema`` for the next test, or drop it when it cannot be emptied."""
    import psycopg

    try:
        with psycopg.connect(schema.url, autocommit=True) as conn:
            conn.execute(_LOCK_TIMEOUT)
            script = _emptying.get(schema.name) or _emptying_script(conn)
            _emptying[schema.name] = script
            conn.execute(script)
    except psycopg.Error:
        _emptying.pop(schema.name, None)
        schema.drop()
        return
    _free.append(schema)


def drop_all() -> None:
    """Drop every schema kept for reuse (at the end of the test session)."""
    while _free:
        _free.pop().drop()


def _emptying_script(conn: psycopg.Connection[Any]) -> str:
    def names(sql: str) -> list[str]:
        return [str(row[0]) for row in conn.execute(sql)]

    tables = names(
        "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"
        " AND tablename <> 'schema_version' ORDER BY tablename"
    )
    guarded = names(
        "SELECT DISTINCT event_object_table FROM information_schema.triggers"
        " WHERE trigger_schema = current_schema() ORDER BY 1"
    )
    sequences = names(
        "SELECT sequencename FROM pg_sequences WHERE schemaname = current_schema() ORDER BY 1"
    )
    # DELETE, not TRUNCATE: truncating 25 tables makes 25 new files and took 0.2-0.6 s.
    statements = [
        *(f"ALTER TABLE {table} DISABLE TRIGGER USER" for table in guarded),
        *(f"DELETE FROM {table}" for table in tables),
        *(f"ALTER TABLE {table} ENABLE TRIGGER USER" for table in guarded),
        *(f"ALTER SEQUENCE {sequence} RESTART" for sequence in sequences),
    ]
    return "BEGIN; " + "; ".join(statements) + "; COMMIT"
