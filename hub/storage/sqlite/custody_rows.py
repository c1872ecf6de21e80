"""The custody log in SQLite: the append-only ``audit`` table (its name since the first schema).

SQLite triggers refuse updates and deletions; ``append_in`` runs in the caller's write
transaction, so a custody row commits with what it records.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime
from typing import Any, Final

from cctv_common.clock import iso_utc, utc_now
from cctv_common.evidence.manifest import canonical_json
from hub.domain.custody import (
    GENESIS_HASH,
    MAX_DETAIL_BYTES,
    CustodyAction,
    CustodyEvent,
    CustodyLogError,
    row_hash,
)
from hub.storage.sql_session import SqlSession

_VERIFY_BATCH: Final = 5000


def append_in(
    db: SqlSession,
    actor: str,
    action: CustodyAction,
    subject: str,
    detail: Mapping[str, Any] | None = None,
    *,
    at: datetime | None = None,
) -> CustodyEvent:
    """Append one row inside the caller's write transaction (so it commits with what it records)."""
    if not db.in_transaction:
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
    db.lock_custody_log()  # the head read next stays the head until this transaction ends
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


def custody_event(raw: Mapping[str, Any]) -> CustodyEvent:
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


def rows_in(
    db: SqlSession, subjects: Iterable[str], after_seq: int, limit: int
) -> list[CustodyEvent]:
    wanted = list(subjects)
    where = "seq > ?"
    params: list[Any] = [after_seq]
    if wanted:
        where += f" AND subject IN ({', '.join('?' for _ in wanted)})"
        params += wanted
    params.append(limit)
    return [
        custody_event(raw)
        for raw in db.query(f"SELECT * FROM audit WHERE {where} ORDER BY seq LIMIT ?", params)  # noqa: S608
    ]


def raw_rows(db: SqlSession) -> Iterator[dict[str, Any]]:
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


def chain_head(db: SqlSession) -> tuple[int, str] | None:
    row = db.execute("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1").fetchone()
    return None if row is None else (int(row[0]), str(row[1]))
