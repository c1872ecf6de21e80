"""The narrow connection interface the row modules (``hub.storage.sqlite.*_rows``) speak to.

One set of row modules serves both engines: each function takes a ``SqlSession`` (the
connection of the running transaction) and writes SQL in the portable subset described in
``hub.storage.postgres.dialect`` with ``?`` placeholders. SQLite runs it as written
(``SqliteSession``); PostgreSQL's session translates it once per statement text.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any, Protocol

Params = Sequence[Any] | dict[str, Any]


class SqlCursor(Protocol):
    """What the row modules read from a cursor: rows as tuples, how many rows changed."""

    @property
    def rowcount(self) -> int: ...

    @property
    def description(self) -> Any: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...


class SqlSession(Protocol):
    """The connection of one open transaction, on either engine."""

    def execute(self, sql: str, parameters: Params | None = None) -> SqlCursor:
        """Run one statement; rows come back as tuples."""
        ...

    def query(self, sql: str, params: Params | None = None) -> Iterator[dict[str, Any]]:
        """Run one SELECT; rows come back as dicts by column name."""
        ...

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> int:
        """Run one statement for each row; how many rows it changed in all."""
        ...

    @property
    def in_transaction(self) -> bool:
        """Whether this runs inside a write transaction (what the custody log appends in)."""
        ...

    def lock_custody_log(self) -> None:
        """Hold the custody log's append lock until the transaction ends: appends one at a time
        across every process, also from units of work that do not hold the writer lock
        (``ainsert``). SQLite's one writer already orders them: nothing to do there."""
        ...

    @property
    def engine(self) -> str:
        """``sqlite`` or ``postgresql``: for the rare statement that cannot be written once."""
        ...
