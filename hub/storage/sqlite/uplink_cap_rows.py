"""Each site's upload cap as set at the hub (the signed ``UplinkCap`` it publishes)."""

from __future__ import annotations

from typing import Final

from cctv_common.wire.payloads import UplinkCap
from hub.storage.sql_session import SqlSession

MIGRATION: Final[tuple[str, ...]] = (
    """CREATE TABLE site_uplink_caps (
        site_id TEXT PRIMARY KEY,
        payload TEXT NOT NULL,
        set_at TEXT NOT NULL,
        set_by TEXT NOT NULL
    )""",
)


def get_cap(db: SqlSession, site_id: str) -> UplinkCap | None:
    rows = list(db.query("SELECT payload FROM site_uplink_caps WHERE site_id = ?", [site_id]))
    return UplinkCap.parse(rows[0]["payload"].encode()) if rows else None


def all_caps(db: SqlSession) -> dict[str, UplinkCap]:
    rows = db.query("SELECT site_id, payload FROM site_uplink_caps ORDER BY site_id")
    return {row["site_id"]: UplinkCap.parse(row["payload"].encode()) for row in rows}


def put_cap(db: SqlSession, site_id: str, cap: UplinkCap) -> None:
    """Insert or replace the site's cap."""
    db.execute(
        "INSERT INTO site_uplink_caps (site_id, payload, set_at, set_by) VALUES (?, ?, ?, ?)"
        " ON CONFLICT (site_id) DO UPDATE SET payload = excluded.payload,"
        " set_at = excluded.set_at, set_by = excluded.set_by",
        [site_id, cap.to_bytes().decode(), cap.set_at.isoformat(), cap.set_by],
    )
