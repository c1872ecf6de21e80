"""Legal holds at the edge, in the segment index (``data_dir/index.db``, table ``holds``).

A hold is the hub's order (``HoldOrder`` on ``sites/{site}/holds/{hold}``, hub-signed, retained)
to keep one camera's footage over a window past the ring buffer's overwrite. The index keeps one
row per hold id: in force until the hub's signed order says ``lifted``; a lifted row stays as a
tombstone, so the genuine "placed" order replayed after the lift (an old retained copy, a replay
by anyone who can reach the broker) never pins the footage again. Retention reads the holds in
force as pins (``SegmentIndex.pins_in_force``), so they survive restarts with the index.

Every change is one transaction and idempotent on the hold id: the retained order comes again on
every reconnect and changes nothing.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Final

from edge_agent.recording.segments import Pin
from edge_agent.store.database import StoreDatabase, from_us, rows_in, to_us

# Pins that stand for holds are named after them; job and cut pins have their own prefixes.
HOLD_PIN_PREFIX: Final = "hold:"


def create_holds_table(conn: sqlite3.Connection) -> None:
    """Index schema version 2: the holds table (no rows to move: holds are new)."""
    conn.execute(
        "create table if not exists holds (hold_id text primary key, camera_id text not null,"
        " start_us integer not null, end_us integer not null, reason_ref text not null,"
        " placed_us integer not null, received_us integer not null, lifted_us integer)"
    )
    conn.execute("create index if not exists idx_holds_lifted_us on holds (lifted_us)")


@dataclass(frozen=True)
class EdgeHold:
    """A hold as the agent keeps it. ``lifted`` is when the hub's lift arrived (None: in force)."""

    hold_id: str
    camera_id: str
    start: datetime
    end: datetime
    reason_ref: str
    placed_at: datetime
    received_at: datetime
    lifted: datetime | None = None

    @property
    def in_force(self) -> bool:
        return self.lifted is None

    @property
    def pin(self) -> Pin:
        return Pin(HOLD_PIN_PREFIX + self.hold_id, self.camera_id, self.start, self.end)


class HoldChange(StrEnum):
    """What an order did to the store."""

    PLACED = "placed"  # a new hold, now in force
    CHANGED = "changed"  # a hold in force, its camera or window changed by the hub
    KNOWN = "known"  # the same order again: nothing changed
    ALREADY_LIFTED = "already lifted"  # a placed order for a hold lifted before: not pinned again
    LIFTED = "lifted"  # a hold in force, now lifted
    UNKNOWN_LIFTED = "unknown lifted"  # a lift for a hold never seen: kept as a tombstone


class EdgeHolds:
    """The holds table of the segment index (its ``StoreDatabase``)."""

    def __init__(self, store: StoreDatabase) -> None:
        self._store = store

    def place(self, hold: EdgeHold) -> HoldChange:
        """Put ``hold`` in force, unless it was lifted before (one transaction)."""
        with self._store.writing() as db:
            found = _hold_in(db, hold.hold_id)
            if found is not None and not found.in_force:
                return HoldChange.ALREADY_LIFTED
            if found is not None and _same_window(found, hold):
                return HoldChange.KNOWN
            db.execute(
                "insert into holds (hold_id, camera_id, start_us, end_us, reason_ref, placed_us,"
                " received_us, lifted_us) values (?, ?, ?, ?, ?, ?, ?, null)"
                " on conflict(hold_id) do update set camera_id = excluded.camera_id,"
                " start_us = excluded.start_us, end_us = excluded.end_us,"
                " reason_ref = excluded.reason_ref, placed_us = excluded.placed_us",
                [
                    hold.hold_id,
                    hold.camera_id,
                    to_us(hold.start),
                    to_us(hold.end),
                    hold.reason_ref,
                    to_us(hold.placed_at),
                    to_us(hold.received_at),
                ],
            )
            return HoldChange.PLACED if found is None else HoldChange.CHANGED

    def lift(self, hold: EdgeHold, at: datetime) -> HoldChange:
        """Lift ``hold`` (the hub's lifted order) at ``at``; a hold never seen is kept lifted."""
        with self._store.writing() as db:
            found = _hold_in(db, hold.hold_id)
            if found is None:
                db.execute(
                    "insert into holds (hold_id, camera_id, start_us, end_us, reason_ref,"
                    " placed_us, received_us, lifted_us) values (?, ?, ?, ?, ?, ?, ?, ?)",
                    [
                        hold.hold_id,
                        hold.camera_id,
                        to_us(hold.start),
                        to_us(hold.end),
                        hold.reason_ref,
                        to_us(hold.placed_at),
                        to_us(hold.received_at),
                        to_us(at),
                    ],
                )
                return HoldChange.UNKNOWN_LIFTED
            if not found.in_force:
                return HoldChange.KNOWN
            db.execute(
                "update holds set lifted_us = ? where hold_id = ?", [to_us(at), hold.hold_id]
            )
            return HoldChange.LIFTED

    def get(self, hold_id: str) -> EdgeHold | None:
        rows = self._store.rows("select * from holds where hold_id = ?", (hold_id,))
        return _hold_from_row(rows[0]) if rows else None

    def in_force(self) -> list[EdgeHold]:
        """Holds not lifted, oldest placed first."""
        rows = self._store.rows(
            "select * from holds where lifted_us is null order by placed_us, hold_id", ()
        )
        return [_hold_from_row(row) for row in rows]

    def all(self) -> list[EdgeHold]:
        rows = self._store.rows("select * from holds order by placed_us, hold_id", ())
        return [_hold_from_row(row) for row in rows]


def hold_pins(holds: Sequence[EdgeHold]) -> list[Pin]:
    return [hold.pin for hold in holds if hold.in_force]


def _same_window(found: EdgeHold, hold: EdgeHold) -> bool:
    return (found.camera_id, found.start, found.end) == (hold.camera_id, hold.start, hold.end)


def _hold_in(db: sqlite3.Connection, hold_id: str) -> EdgeHold | None:
    rows = rows_in(db, "select * from holds where hold_id = ?", [hold_id])
    return _hold_from_row(rows[0]) if rows else None


def _hold_from_row(row: dict[str, Any]) -> EdgeHold:
    return EdgeHold(
        hold_id=row["hold_id"],
        camera_id=row["camera_id"],
        start=from_us(row["start_us"]),
        end=from_us(row["end_us"]),
        reason_ref=row["reason_ref"],
        placed_at=from_us(row["placed_us"]),
        received_at=from_us(row["received_us"]),
        lifted=None if row["lifted_us"] is None else from_us(row["lifted_us"]),
    )
