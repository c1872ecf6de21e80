"""The custody log: an append-only table in which every row carries the hash of the one before.

A row's ``hash`` is the SHA-256 of the canonical JSON of ``seq, at, actor, action, subject,
detail, prev_hash``; the first row's ``prev_hash`` is 64 zeros. Changing, removing or inserting a
row breaks the chain at that row (or the next one), and ``verify_chain`` names the first bad
``seq``. There is no update or delete here, and SQLite triggers refuse both.

Subjects name what a row is about: ``clip:{id}``, ``job:{id}``, ``site:{id}``. Actors are user
names, or ``hub:{hub_id}`` for what the hub does by itself.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from hub.domain.custody import (
    GENESIS_HASH,
    MAX_DETAIL_BYTES,
    CustodyAction,
    CustodyEvent,
    CustodyLogError,
    row_hash,
    verify_rows,
)
from hub.storage.ports import HubStorage

__all__ = [
    "GENESIS_HASH",
    "MAX_DETAIL_BYTES",
    "CustodyAction",
    "CustodyEvent",
    "CustodyLog",
    "CustodyLogError",
    "row_hash",
    "verify_rows",
]


class CustodyLog:
    """Append and read the custody log through the hub's storage."""

    def __init__(self, storage: HubStorage) -> None:
        self._storage = storage

    def append(
        self,
        actor: str,
        action: CustodyAction,
        subject: str,
        detail: Mapping[str, Any] | None = None,
    ) -> CustodyEvent:
        return self._storage.write(lambda uow: uow.custody.append(actor, action, subject, detail))

    async def aappend(
        self,
        actor: str,
        action: CustodyAction,
        subject: str,
        detail: Mapping[str, Any] | None = None,
    ) -> CustodyEvent:
        return await self._storage.awrite(
            lambda uow: uow.custody.append(actor, action, subject, detail)
        )

    def verify_chain(self) -> tuple[bool, int | None]:
        """Recompute every hash from row 1: ``(True, None)`` or ``(False, first_bad_seq)``."""
        return self._storage.read(lambda uow: verify_rows(uow.custody.raw()))

    async def averify_chain(self) -> tuple[bool, int | None]:
        return await self._storage.aread(lambda uow: verify_rows(uow.custody.raw()))

    def rows(
        self, *, subjects: Iterable[str] = (), after_seq: int = 0, limit: int = 1000
    ) -> list[CustodyEvent]:
        wanted = tuple(subjects)
        return self._storage.read(lambda uow: uow.custody.after(wanted, after_seq, limit))

    async def arows(
        self, *, subjects: Iterable[str] = (), after_seq: int = 0, limit: int = 1000
    ) -> list[CustodyEvent]:
        wanted = tuple(subjects)
        return await self._storage.aread(lambda uow: uow.custody.after(wanted, after_seq, limit))
