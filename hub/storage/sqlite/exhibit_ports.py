"""The SQLite side of the exhibit ports (``hub.storage.ports``): derived items and exhibit
references."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from hub.domain.derived_items import DerivedItem, DerivedState
from hub.domain.exhibit_numbers import ExhibitReference
from hub.storage.sql_session import SqlSession
from hub.storage.sqlite import exhibit_rows


class _ExhibitRows:
    def __init__(self, db: SqlSession) -> None:
        self._db = db


class SqliteDerivedItems(_ExhibitRows):
    def add(self, item: DerivedItem) -> None:
        exhibit_rows.insert_derived(self._db, item)

    def get(self, derived_id: str) -> DerivedItem | None:
        return exhibit_rows.get_derived(self._db, derived_id)

    def of_clips(self, clip_ids: Sequence[str]) -> list[DerivedItem]:
        return exhibit_rows.derived_of(self._db, clip_ids)

    def in_state(self, state: DerivedState) -> list[DerivedItem]:
        return exhibit_rows.derived_in_state(self._db, state)

    def finish(
        self,
        derived_id: str,
        *,
        sha256: str,
        size: int,
        manifest: bytes,
        signature: str,
        now: datetime,
    ) -> DerivedItem:
        return exhibit_rows.finish_derived(
            self._db,
            derived_id,
            sha256=sha256,
            size=size,
            manifest=manifest,
            signature=signature,
            now=now,
        )

    def fail(self, derived_id: str, error: str, now: datetime) -> None:
        exhibit_rows.fail_derived(self._db, derived_id, error, now)

    def live_with_key(self, store_key: str) -> list[DerivedItem]:
        return exhibit_rows.derived_live_with_key(self._db, store_key)

    def set_progress(self, derived_id: str, percent: int) -> None:
        exhibit_rows.set_progress(self._db, derived_id, percent)

    def delete(self, derived_id: str, now: datetime) -> None:
        exhibit_rows.delete_derived(self._db, derived_id, now)


class SqliteExhibitReferences(_ExhibitRows):
    def add(self, reference: ExhibitReference) -> None:
        exhibit_rows.insert_reference(self._db, reference)

    def of_clips(self, clip_ids: Sequence[str]) -> dict[str, ExhibitReference]:
        return exhibit_rows.references_of(self._db, clip_ids)

    def count_by(self, producer: str) -> int:
        return exhibit_rows.producer_count(self._db, producer)

    def taken(self, reference: str) -> bool:
        return exhibit_rows.reference_taken(self._db, reference)
