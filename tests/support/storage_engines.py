"""The engines hub tests run on: SQLite, and PostgreSQL on the test server
(``CCTV_TEST_POSTGRES_URL``, default postgresql://cctv_test@127.0.0.1:5432/cctv_test, made by
scripts/setup-test-postgres.sh), in schemas of their own (``search_path`` in the URL), so tests
run in parallel on one database without seeing each other's rows. A PostgreSQL case is skipped,
with the reason, where that server is unreachable or ``CCTV_SKIP_POSTGRES=1``.

``new_schema`` makes an empty schema (``postgres_schema`` for a test that migrates it itself);
``hub_engines`` has the fixtures that run a test on each engine.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from typing import Any

import pytest

# scripts/setup-test-postgres.sh makes this role and database (CI runs it via install-deps).
POSTGRES_URL = os.environ.get(
    "CCTV_TEST_POSTGRES_URL",
    f"postgresql://cctv_test@127.0.0.1:{os.environ.get('CCTV_TEST_PG_PORT', '5432')}/cctv_test",
)
ENGINES = ("sqlite", "postgresql")


@cache
def postgres_unreachable() -> str | None:
    """Why PostgreSQL cannot be used for tests, or None when it can."""
    if os.environ.get("CCTV_SKIP_POSTGRES", "") not in ("", "0"):
        return "CCTV_SKIP_POSTGRES is set"
    try:
        import psycopg
    except ImportError:
        return "psycopg is not installed"
    try:
        with psycopg.connect(POSTGRES_URL, connect_timeout=3) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as exc:
        return f"PostgreSQL test database {POSTGRES_URL} unreachable: {exc}".strip()
    return None


# Tests need no durability: a commit that does not wait for its WAL flush makes a schema's
# migrations about three times faster on a busy machine (measured: 1.1 s -> 0.35 s, load 10).
_NO_FLUSH = "-csynchronous_commit%3Doff"


def schema_url(schema: str) -> str:
    joiner = "&" if "?" in POSTGRES_URL else "?"
    return f"{POSTGRES_URL}{joiner}options={_NO_FLUSH}%20-csearch_path%3D{schema}"


@dataclass
class PostgresSchema:
    """A fresh schema on the test server; ``url`` selects it."""

    name: str
    url: str

    def drop(self) -> None:
        import psycopg

        with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
            conn.execute("SET synchronous_commit = off")
            conn.execute(f"DROP SCHEMA IF EXISTS {self.name} CASCADE")


def new_schema() -> PostgresSchema:
    reason = postgres_unreachable()
    if reason:
        pytest.skip(reason)
    import psycopg

    name = f"t_{secrets.token_hex(6)}"
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        conn.execute("SET synchronous_commit = off")
        conn.execute(f"CREATE SCHEMA {name}")
    return PostgresSchema(name, schema_url(name))


@pytest.fixture
def postgres_schema() -> Iterator[PostgresSchema]:
    schema = new_schema()
    yield schema
    schema.drop()


@dataclass
class Engine:
    """One engine's storage and its database, for a test that runs on both."""

    name: str
    storage: Any
    database: Any
