"""Hub tests on each engine. ``engine`` hands a test each engine's storage ports; ``hub_engine``
(and ``hub_engine_per_module`` for a module-scoped hub) runs a whole hub test once on SQLite and
once on PostgreSQL.

While the PostgreSQL case runs, the hub builders (``hub_kit.make_settings``,
``hub_config.write_hub_config``) put that case's schema in the settings' ``[database] url``, and
the hub opens it by ``open_database`` as a hub in production does; a hub run as a process (the
CLI, uvicorn) reads the same ``hub.toml``. A module opts in with
``pytestmark = pytest.mark.usefixtures("hub_engine")``; its tests are then named
``test_x[sqlite]`` and ``test_x[postgresql]`` (``-k postgresql`` runs only those). The
PostgreSQL case is skipped, with the reason, where the test server is unreachable or
``CCTV_SKIP_POSTGRES=1``. Its schema comes migrated and empty from ``schema_pool``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from hub.storage.sqlite.database import HubDatabase
from hub.storage.sqlite.unit_of_work import SqliteStorage
from tests.support.schema_pool import drop_all, give_back, migrated_schema
from tests.support.storage_engines import ENGINES, Engine, PostgresSchema


@dataclass
class _Case:
    schema: PostgresSchema | None  # None: SQLite
    asked: bool = False  # whether a hub builder read the engine while the case ran


# The engine of each hub_engine fixture set up now, innermost last (so that a test's own SQLite
# case inside a module-scoped PostgreSQL hub is on SQLite). One test at a time per process,
# also under xdist.
_active: list[_Case] = []


def active_database_url() -> str | None:
    """The running test's PostgreSQL schema URL, or None when its hub is on SQLite."""
    if not _active:
        return None
    case = _active[-1]
    case.asked = True
    return None if case.schema is None else case.schema.url


def database_section() -> dict[str, Any]:
    """``hub.toml``'s ``[database]`` for the running test's engine (none for SQLite)."""
    url = active_database_url()
    return {"database": {"url": url, "pool_size": 4}} if url else {}


def _hub_on(engine_name: str) -> Iterator[str]:
    case = _Case(None if engine_name == "sqlite" else migrated_schema())
    _active.append(case)
    try:
        yield engine_name
    finally:
        _active.pop()
        if case.schema is not None:
            give_back(case.schema)
    # A PostgreSQL case whose hub was built before the fixture (or without the builders) ran
    # on SQLite under PostgreSQL's name: say so rather than pass.
    if case.schema is not None and not case.asked:
        pytest.fail("this PostgreSQL case's hub never read its engine (hub_engines)")


@pytest.fixture(params=ENGINES)
def hub_engine(request: pytest.FixtureRequest) -> Iterator[str]:
    """This test's hub runs on SQLite, then on PostgreSQL (its own schema)."""
    yield from _hub_on(request.param)


@pytest.fixture(params=ENGINES, scope="module")
def hub_engine_per_module(request: pytest.FixtureRequest) -> Iterator[str]:
    """As ``hub_engine``, for a module-scoped hub that its tests share."""
    yield from _hub_on(request.param)


@pytest.fixture(params=ENGINES)
def engine(request: pytest.FixtureRequest) -> Iterator[Engine]:
    """Each engine's storage ports and database: SQLite in memory, a PostgreSQL schema."""
    if request.param == "sqlite":
        database = HubDatabase(None)
        yield Engine("sqlite", SqliteStorage(database), database)
        database.close()
        return
    from hub.storage.postgres.database import PostgresDatabase
    from hub.storage.postgres.storage import PostgresStorage

    schema = migrated_schema()
    pg = PostgresDatabase(schema.url, max_size=4)
    try:
        yield Engine("postgresql", PostgresStorage(pg), pg)
    finally:
        pg.close()
        give_back(schema)


def pytest_sessionfinish() -> None:
    drop_all()
