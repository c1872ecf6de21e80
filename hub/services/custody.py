"""The custody log: an append-only table in which every row carries the hash of the one before.

A row's ``hash`` is the SHA-256 of the canonical JSON of ``seq, at, actor, action, subject,
detail, prev_hash``; the first row's ``prev_hash`` is 64 zeros. Changing, removing or inserting a
row breaks the chain at that row (or the next one), and ``verify_chain`` names the first bad
``seq``. There is no update or delete here, and SQLite triggers refuse both.

Subjects name what a row is about: ``clip:{id}``, ``job:{id}``, ``site:{id}``. Actors are user
names, or ``hub:{hub_id}`` for what the hub does by itself.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Final

from sqlite_utils import Database

from cctv_common.clock import iso_utc, utc_now
from cctv_common.evidence.manifest import canonical_json
from hub.storage.sqlite.database import HubDatabase

GENESIS_HASH: Final = "0" * 64
_VERIFY_BATCH: Final = 5000
MAX_DETAIL_BYTES: Final = 64 * 1024


class CustodyAction(StrEnum):
    DISPATCH = "dispatch"  # a clip job was sent to a site
    STORED = "stored"  # a verified clip entered the evidence store
    REJECTED = "rejected"  # an offered clip was refused, with the reason
    VIEW = "view"  # someone played a clip
    DOWNLOAD = "download"  # someone downloaded a clip or its manifest
    EXPORT = "export"
    HOLD = "hold"
    RELEASE = "release"
    DELETE = "delete"
    REGISTER_SITE = "register_site"  # a site and its public key were registered
    LIVE_START = "live_start"  # someone started watching a camera live
    LIVE_END = "live_end"  # that live session ended
    SNAPSHOT = "snapshot"  # someone looked at a camera's current picture (a preview, not evidence)
    REASSIGN = "reassign"  # an evidence item was given to another owner (requester)
    INTEGRITY_FAILED = "integrity_failed"  # a stored item no longer matches its SHA-256
    INTEGRITY_RESTORED = "integrity_restored"  # a damaged item matches its SHA-256 again
    REFUSED = "refused"  # someone was refused an item (damaged, deleted), with the reason
    LOGIN = "login"  # someone logged in
    LOGIN_FAILED = "login_failed"  # failed logins, aggregated (see hub.services.login_throttle)
    LOGOUT = "logout"


class CustodyLogError(Exception):
    """A row that cannot be written (detail too large or not JSON)."""


@dataclass(frozen=True)
class CustodyEvent:
    seq: int
    at: str
    actor: str
    action: str
    subject: str
    detail: dict[str, Any]
    prev_hash: str
    hash: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "at": self.at,
            "actor": self.actor,
            "action": self.action,
            "subject": self.subject,
            "detail": self.detail,
            "prev_hash": self.prev_hash,
            "hash": self.hash,
        }


def row_hash(
    seq: int,
    at: str,
    actor: str,
    action: str,
    subject: str,
    detail: Mapping[str, Any],
    prev_hash: str,
) -> str:
    body = {
        "seq": seq,
        "at": at,
        "actor": actor,
        "action": action,
        "subject": subject,
        "detail": dict(detail),
        "prev_hash": prev_hash,
    }
    return hashlib.sha256(canonical_json(body)).hexdigest()


def append_in(
    db: Database,
    actor: str,
    action: CustodyAction,
    subject: str,
    detail: Mapping[str, Any] | None = None,
    *,
    at: datetime | None = None,
) -> CustodyEvent:
    """Append one row inside the caller's write transaction (so it commits with what it records)."""
    if not db.conn.in_transaction:
        raise CustodyLogError("append_in() must run inside a write transaction (HubDatabase.write)")
    detail_dict = dict(detail or {})
    try:
        detail_text = canonical_json(detail_dict).decode("utf-8")
    except (TypeError, ValueError) as exc:
        raise CustodyLogError(f"audit detail for {action} {subject} is not JSON: {exc}") from exc
    if len(detail_text) > MAX_DETAIL_BYTES:
        raise CustodyLogError(
            f"audit detail for {action} {subject} is over {MAX_DETAIL_BYTES} bytes"
        )
    last = db.execute("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1").fetchone()
    seq, prev_hash = (1, GENESIS_HASH) if last is None else (int(last[0]) + 1, str(last[1]))
    when = iso_utc(at or utc_now())
    digest = row_hash(seq, when, actor, action.value, subject, detail_dict, prev_hash)
    db.execute(
        "INSERT INTO audit (seq, at, actor, action, subject, detail, prev_hash, hash)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        [seq, when, actor, action.value, subject, detail_text, prev_hash, digest],
    )
    return CustodyEvent(seq, when, actor, action.value, subject, detail_dict, prev_hash, digest)


def _row(raw: Mapping[str, Any]) -> CustodyEvent:
    detail = json.loads(raw["detail"])
    return CustodyEvent(
        seq=int(raw["seq"]),
        at=str(raw["at"]),
        actor=str(raw["actor"]),
        action=str(raw["action"]),
        subject=str(raw["subject"]),
        detail=detail if isinstance(detail, dict) else {"value": detail},
        prev_hash=str(raw["prev_hash"]),
        hash=str(raw["hash"]),
    )


def verify_rows(rows: Iterable[Mapping[str, Any]]) -> tuple[bool, int | None]:
    """Check a chain given as raw rows in ``seq`` order; ``(True, None)`` or the first bad seq."""
    expected_seq, prev_hash = 1, GENESIS_HASH
    for raw in rows:
        seq = raw.get("seq")
        if not isinstance(seq, int) or seq != expected_seq:
            # A deleted or inserted row: the first row that is not where it should be is bad.
            return False, seq if isinstance(seq, int) else expected_seq
        try:
            detail = json.loads(raw["detail"])
        except (TypeError, ValueError):
            return False, seq
        if not isinstance(detail, dict) or raw.get("prev_hash") != prev_hash:
            return False, seq
        digest = row_hash(
            seq,
            str(raw["at"]),
            str(raw["actor"]),
            str(raw["action"]),
            str(raw["subject"]),
            detail,
            prev_hash,
        )
        if raw.get("hash") != digest:
            return False, seq
        expected_seq, prev_hash = seq + 1, digest
    return True, None


class CustodyLog:
    """Append and read the custody log of one hub database."""

    def __init__(self, database: HubDatabase) -> None:
        self._database = database

    def append(
        self,
        actor: str,
        action: CustodyAction,
        subject: str,
        detail: Mapping[str, Any] | None = None,
    ) -> CustodyEvent:
        return self._database.write(lambda db: append_in(db, actor, action, subject, detail))

    async def aappend(
        self,
        actor: str,
        action: CustodyAction,
        subject: str,
        detail: Mapping[str, Any] | None = None,
    ) -> CustodyEvent:
        return await self._database.awrite(lambda db: append_in(db, actor, action, subject, detail))

    def verify_chain(self) -> tuple[bool, int | None]:
        """Recompute every hash from row 1: ``(True, None)`` or ``(False, first_bad_seq)``."""
        return self._database.read(lambda db: verify_rows(_raw_rows(db)))

    async def averify_chain(self) -> tuple[bool, int | None]:
        return await self._database.aread(lambda db: verify_rows(_raw_rows(db)))

    def rows(
        self, *, subjects: Iterable[str] = (), after_seq: int = 0, limit: int = 1000
    ) -> list[CustodyEvent]:
        return self._database.read(lambda db: rows_in(db, subjects, after_seq, limit))

    async def arows(
        self, *, subjects: Iterable[str] = (), after_seq: int = 0, limit: int = 1000
    ) -> list[CustodyEvent]:
        wanted = tuple(subjects)
        return await self._database.aread(lambda db: rows_in(db, wanted, after_seq, limit))


def rows_in(
    db: Database, subjects: Iterable[str], after_seq: int, limit: int
) -> list[CustodyEvent]:
    wanted = list(subjects)
    where = "seq > ?"
    params: list[Any] = [after_seq]
    if wanted:
        where += f" AND subject IN ({', '.join('?' for _ in wanted)})"
        params += wanted
    params.append(limit)
    return [
        _row(raw)
        for raw in db.query(f"SELECT * FROM audit WHERE {where} ORDER BY seq LIMIT ?", params)  # noqa: S608
    ]


def _raw_rows(db: Database) -> Iterator[dict[str, Any]]:
    after = 0
    while True:
        batch = list(
            db.query(
                "SELECT * FROM audit WHERE seq > ? ORDER BY seq LIMIT ?", [after, _VERIFY_BATCH]
            )
        )
        yield from batch
        if len(batch) < _VERIFY_BATCH:
            return
        after = int(batch[-1]["seq"])
