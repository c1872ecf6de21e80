"""Changes to an evidence item after it is stored: owner, legal hold, deletion. Each is a custody
event written in the same transaction as the change, so the log and the item never disagree
(and ``hub.services.custody_checks`` reports any item row changed some other way).

- ``reassign_in``: the item answers another requester (e.g. the case moved to another officer).
- ``set_hold_in``: a legal hold; an item on hold cannot be deleted.
- ``delete_in``: the item row stays as a tombstone (who, when, why); its bytes are removed from
  the store by the caller after the commit, unless another live item has the same bytes.
"""

from __future__ import annotations

from datetime import datetime

from sqlite_utils import Database

from hub.domain.records import EvidenceItem
from hub.services.custody import CustodyAction, append_in
from hub.services.evidence_checks import live_clips_with_key
from hub.storage.sqlite import repository as repo
from hub.storage.sqlite.rows import db_time


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


def _live(db: Database, clip_id: str) -> EvidenceItem:
    item = repo.get_evidence(db, clip_id)
    if item is None:
        raise ItemNotFound(f"no evidence item {clip_id}")
    if item.deleted_at is not None:
        raise ItemChangeError(
            f"evidence item {clip_id} was deleted at {db_time(item.deleted_at)} by"
            f" {item.deleted_by}"
        )
    return item


def reassign_in(
    db: Database, clip_id: str, new_owner: str, actor: str, reason: str, now: datetime
) -> EvidenceItem:
    item = _live(db, clip_id)
    user = repo.get_user(db, new_owner)
    if user is None or user.disabled:
        raise NoSuchUser(f"there is no active user {new_owner!r} to give evidence item to")
    if item.requested_by == new_owner:
        return item
    db.execute("UPDATE evidence_items SET requested_by = ? WHERE clip_id = ?", [new_owner, clip_id])
    append_in(
        db,
        actor,
        CustodyAction.REASSIGN,
        f"clip:{clip_id}",
        {"from": item.requested_by, "to": new_owner, "reason": reason},
        at=now,
    )
    changed = repo.get_evidence(db, clip_id)
    assert changed is not None
    return changed


def set_hold_in(
    db: Database, clip_id: str, hold: bool, actor: str, reason: str, now: datetime
) -> EvidenceItem:
    item = _live(db, clip_id)
    if item.legal_hold == hold:
        return item
    db.execute("UPDATE evidence_items SET legal_hold = ? WHERE clip_id = ?", [int(hold), clip_id])
    append_in(
        db,
        actor,
        CustodyAction.HOLD if hold else CustodyAction.RELEASE,
        f"clip:{clip_id}",
        {"legal_hold": hold, "reason": reason},
        at=now,
    )
    changed = repo.get_evidence(db, clip_id)
    assert changed is not None
    return changed


def delete_in(
    db: Database, clip_id: str, actor: str, reason: str, now: datetime
) -> tuple[EvidenceItem, bool]:
    """Mark the item deleted; returns it and whether its stored bytes are now unused."""
    item = _live(db, clip_id)
    if item.legal_hold:
        raise ItemChangeError(f"evidence item {clip_id} is under legal hold: release it first")
    db.execute(
        "UPDATE evidence_items SET deleted_at = ?, deleted_by = ? WHERE clip_id = ?",
        [db_time(now), actor, clip_id],
    )
    append_in(
        db,
        actor,
        CustodyAction.DELETE,
        f"clip:{clip_id}",
        {"sha256": item.sha256, "bytes": item.bytes, "reason": reason},
        at=now,
    )
    changed = repo.get_evidence(db, clip_id)
    assert changed is not None
    return changed, not live_clips_with_key(db, item.store_key)
