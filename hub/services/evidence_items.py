"""Changes to an evidence item after it is stored: owner, legal hold, deletion. Each is a custody
event written in the same transaction as the change, so the log and the item never disagree
(and ``hub.services.custody_checks`` reports any item row changed some other way).

- ``reassign_in``: the item answers another requester (e.g. the case moved to another officer).
- ``set_hold_in``: a legal hold; an item on hold cannot be deleted.
- ``delete_in``: the item row stays as a tombstone (who, when, why); its bytes are removed from
  the store by the caller after the commit, unless another live item has the same bytes.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from cctv_common.clock import iso_utc
from hub.domain.custody import CustodyAction
from hub.domain.records import EvidenceCheck, EvidenceItem
from hub.storage.evidence.store import EvidenceStore, StoreError
from hub.storage.ports import HubStorage, UnitOfWork

log = logging.getLogger(__name__)


class ItemChangeError(Exception):
    """A change that cannot be made; ``status`` is the HTTP status to answer with."""

    status = 409

    def __init__(self, message: str) -> None:
        self.message = message
        super().__init__(message)


class ItemNotFound(ItemChangeError):
    status = 404


class NoSuchUser(ItemChangeError):
    status = 422


def _live(uow: UnitOfWork, clip_id: str) -> EvidenceItem:
    item = uow.evidence.get(clip_id)
    if item is None:
        raise ItemNotFound(f"no evidence item {clip_id}")
    if item.deleted_at is not None:
        raise ItemChangeError(
            f"evidence item {clip_id} was deleted at {iso_utc(item.deleted_at)} by"
            f" {item.deleted_by}"
        )
    return item


def reassign_in(
    uow: UnitOfWork, clip_id: str, new_owner: str, actor: str, reason: str, now: datetime
) -> EvidenceItem:
    item = _live(uow, clip_id)
    user = uow.users.get(new_owner)
    if user is None or user.disabled:
        raise NoSuchUser(f"there is no active user {new_owner!r} to give evidence item to")
    if item.requested_by == new_owner:
        return item
    uow.evidence.set_owner(clip_id, new_owner)
    uow.custody.append(
        actor,
        CustodyAction.REASSIGN,
        f"clip:{clip_id}",
        {"from": item.requested_by, "to": new_owner, "reason": reason},
        at=now,
    )
    changed = uow.evidence.get(clip_id)
    assert changed is not None
    return changed


def set_hold_in(
    uow: UnitOfWork, clip_id: str, hold: bool, actor: str, reason: str, now: datetime
) -> EvidenceItem:
    item = _live(uow, clip_id)
    if item.legal_hold == hold:
        return item
    uow.evidence.set_hold(clip_id, hold)
    uow.custody.append(
        actor,
        CustodyAction.HOLD if hold else CustodyAction.RELEASE,
        f"clip:{clip_id}",
        {"legal_hold": hold, "reason": reason},
        at=now,
    )
    changed = uow.evidence.get(clip_id)
    assert changed is not None
    return changed


@dataclass(frozen=True)
class Deletion:
    item: EvidenceItem  # the tombstone
    keys: tuple[str, ...]  # store keys to remove: the master's if unused, its derived copies'


def remove_deleted_bytes(store: EvidenceStore, deletion: Deletion) -> None:
    """Remove the bytes of a deleted item and its copies (blocking); a failure is logged."""
    for key in deletion.keys:
        try:
            store.delete(key)
        except StoreError as exc:
            log.error(
                "clip %s: deleted, but bytes %s could not be removed: %s",
                deletion.item.clip_id,
                key,
                exc,
            )


def delete_in(uow: UnitOfWork, clip_id: str, actor: str, reason: str, now: datetime) -> Deletion:
    """Mark the item deleted, and its derived copies with it (a custody row each)."""
    item = _live(uow, clip_id)
    if item.legal_hold:
        raise ItemChangeError(f"evidence item {clip_id} is under legal hold: release it first")
    uow.evidence.mark_deleted(clip_id, actor, now)
    uow.custody.append(
        actor,
        CustodyAction.DELETE,
        f"clip:{clip_id}",
        {"sha256": item.sha256, "bytes": item.bytes, "reason": reason},
        at=now,
    )
    keys = [] if uow.evidence.live_clips_with_key(item.store_key) else [item.store_key]
    for copy in uow.derived.of_clips([clip_id]):
        if copy.deleted_at is not None:
            continue
        uow.derived.delete(copy.id, now)
        uow.custody.append(
            actor,
            CustodyAction.DELETE,
            f"clip:{clip_id}",
            {
                "derived_id": copy.id,
                "operation": copy.operation,
                "sha256": copy.sha256,
                "reason": f"its master {clip_id} was deleted: {reason}",
            },
            at=now,
        )
        if copy.sha256 is not None:
            keys.append(copy.sha256)
    changed = uow.evidence.get(clip_id)
    assert changed is not None
    return Deletion(changed, tuple(keys))


class EvidenceItemService:
    """Evidence items for the API: reads, and the changes above, each in one unit of work."""

    def __init__(self, storage: HubStorage) -> None:
        self._storage = storage

    async def get(self, clip_id: str) -> EvidenceItem | None:
        return await self._storage.aread(lambda uow: uow.evidence.get(clip_id))

    async def recent_with_checks(
        self, *, requested_by: str | None, limit: int
    ) -> list[tuple[EvidenceItem, EvidenceCheck | None]]:
        """The newest items, each with the last integrity check of its bytes."""

        def read(uow: UnitOfWork) -> list[tuple[EvidenceItem, EvidenceCheck | None]]:
            items = uow.evidence.recent(requested_by=requested_by, limit=limit)
            found = uow.checks.for_keys(item.store_key for item in items)
            return [(item, found.get(item.store_key)) for item in items]

        return await self._storage.aread(read)

    async def with_checks(
        self, items: list[EvidenceItem]
    ) -> list[tuple[EvidenceItem, EvidenceCheck | None]]:
        """``items``, each with the last integrity check of its bytes."""

        def read(uow: UnitOfWork) -> list[tuple[EvidenceItem, EvidenceCheck | None]]:
            found = uow.checks.for_keys(item.store_key for item in items)
            return [(item, found.get(item.store_key)) for item in items]

        return await self._storage.aread(read)

    async def set_hold(
        self, clip_id: str, hold: bool, actor: str, reason: str, now: datetime
    ) -> EvidenceItem:
        return await self._storage.awrite(
            lambda uow: set_hold_in(uow, clip_id, hold, actor, reason, now)
        )

    async def reassign(
        self, clip_id: str, new_owner: str, actor: str, reason: str, now: datetime
    ) -> EvidenceItem:
        return await self._storage.awrite(
            lambda uow: reassign_in(uow, clip_id, new_owner, actor, reason, now)
        )

    async def delete(self, clip_id: str, actor: str, reason: str, now: datetime) -> Deletion:
        """Mark the item (and its derived copies) deleted; what to remove from the store."""
        return await self._storage.awrite(lambda uow: delete_in(uow, clip_id, actor, reason, now))
