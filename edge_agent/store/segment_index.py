"""The agent's local SQLite index of recorded segments, gaps, pins and camera events.

``data_dir/index.db``, on the store's one SQLite helper (``edge_agent.store.database``): times are
integer microseconds since the Unix epoch (UTC), every write is one transaction, so a full disk
fails the write (``IndexWriteFailed``), never the file. Only the agent's main process opens the
index for writing: the recorder processes send their segments and gaps to it
(``edge_agent.recording.recorder_supervisor``), so SQLite never sees two writers.

Schema versions (``PRAGMA user_version``; an older index is migrated in place when opened, so a
site box in the field keeps its buffer across an upgrade):

- 1: the tables of the first agents (segments, gaps, pins, events, camera facts; created where
  missing), plus the frame accounting of segments, the cause of gaps, open gaps (``end_us`` NULL
  while the camera is still down) and the retention horizon (how far retention has deleted each
  camera's footage). Rows of version 0 stay valid as they are (the new columns are nullable).
- 2: the legal holds the hub placed at this site (``holds``, see ``edge_agent.store.holds``);
  nothing to move.
"""

from __future__ import annotations

import dataclasses
import json
import sqlite3
from datetime import datetime
from pathlib import Path
from typing import Any, Final

from cctv_common.clock import utc_now
from cctv_common.evidence.manifest import GapCause
from edge_agent.recording.segments import Gap, Pin, Segment
from edge_agent.store.database import (
    Migration,
    StoreDatabase,
    columns,
    from_us,
    rows_in,
    to_us,
)
from edge_agent.store.holds import EdgeHolds, create_holds_table, hold_pins
from edge_agent.store.index_port import IndexWriteFailed

__all__ = ["CameraEvent", "IndexWriteFailed", "SegmentIndex"]

_OPEN_END_US = 2**62


def _version_1(conn: sqlite3.Connection) -> None:
    """The tables as the first agents made them (where missing), and version 1's columns."""
    conn.execute(
        "create table if not exists segments (id integer primary key, camera_id text not null,"
        " path text not null, start_us integer not null, end_us integer not null,"
        " bytes integer not null, sha256 text not null, keyframes text, codec text,"
        " width integer, height integer, fps real)"
    )
    conn.execute("create unique index if not exists idx_segments_path on segments (path)")
    conn.execute(
        "create index if not exists idx_segments_camera_id_start_us"
        " on segments (camera_id, start_us)"
    )
    conn.execute(
        "create table if not exists gaps (id integer primary key, camera_id text,"
        " start_us integer, end_us integer, reason text)"
    )
    conn.execute(
        "create index if not exists idx_gaps_camera_id_start_us on gaps (camera_id, start_us)"
    )
    conn.execute(
        "create table if not exists pins (owner text primary key, camera_id text,"
        " start_us integer, end_us integer)"
    )
    conn.execute(
        "create table if not exists events (id integer primary key, camera_id text,"
        " at_us integer, kind text, active integer, topic text, data text)"
    )
    conn.execute(
        "create index if not exists idx_events_camera_id_at_us on events (camera_id, at_us)"
    )
    conn.execute(
        "create table if not exists camera_facts (camera_id text primary key, identity text,"
        " clock_offset real, checked_us integer)"
    )
    conn.execute(
        "create table if not exists retention_horizon (camera_id text primary key,"
        " deleted_until_us integer)"
    )
    new_columns = {
        "segments": {
            "frames": "integer",
            "frames_received": "integer",
            "frames_dropped": "text",
            "clock_jumps": "text",
        },
        "gaps": {"cause": "text"},
    }
    for table, wanted in new_columns.items():
        have = columns(conn, table)
        for name, kind in wanted.items():
            if name not in have:
                conn.execute(f"alter table {table} add column {name} {kind}")


MIGRATIONS: Final[tuple[Migration, ...]] = (_version_1, create_holds_table)
SCHEMA_VERSION: Final = len(MIGRATIONS)


@dataclasses.dataclass(frozen=True)
class CameraEvent:
    """An ONVIF event (motion, tamper) stored beside the segments so operators can jump to it."""

    camera_id: str
    at: datetime
    kind: str
    active: bool
    topic: str
    data: dict[str, str]


class SegmentIndex:
    def __init__(self, path: Path | None) -> None:
        self._store = StoreDatabase(path, migrations=MIGRATIONS, write_error=IndexWriteFailed)
        self._writing = self._store.writing
        self._rows = self._store.rows
        # Legal holds placed by the hub (edge_agent.store.holds), in the same file.
        self.holds = EdgeHolds(self._store)

    @property
    def schema_version(self) -> int:
        return self._store.schema_version

    # Segments

    def add_segment(self, segment: Segment) -> Segment:
        row = {
            "camera_id": segment.camera_id,
            "path": segment.path,
            "start_us": to_us(segment.start),
            "end_us": to_us(segment.end),
            "bytes": segment.bytes,
            "sha256": segment.sha256,
            "keyframes": json.dumps(list(segment.keyframes)),
            "codec": segment.codec,
            "width": segment.width,
            "height": segment.height,
            "fps": segment.fps,
            "frames": segment.frames,
            "frames_received": segment.frames_received,
            "frames_dropped": json.dumps(dict(segment.frames_dropped), sort_keys=True),
            "clock_jumps": json.dumps([list(jump) for jump in segment.clock_jumps]),
        }
        with self._writing() as db:
            cursor = db.execute(
                "insert into segments (camera_id, path, start_us, end_us, bytes, sha256,"
                " keyframes, codec, width, height, fps, frames, frames_received, frames_dropped,"
                " clock_jumps) values"
                " (:camera_id, :path, :start_us, :end_us, :bytes, :sha256, :keyframes, :codec,"
                " :width, :height, :fps, :frames, :frames_received, :frames_dropped,"
                " :clock_jumps)",
                row,
            )
            new_id = cursor.lastrowid
        return dataclasses.replace(segment, id=new_id)

    def segments_overlapping(self, camera_id: str, start: datetime, end: datetime) -> list[Segment]:
        rows = self._rows(
            "select * from segments where camera_id = ? and end_us > ? and start_us < ?"
            " order by start_us",
            (camera_id, to_us(start), to_us(end)),
        )
        return [_segment_from_row(row) for row in rows]

    def all_segments(self, camera_id: str | None = None) -> list[Segment]:
        if camera_id is None:
            rows = self._rows("select * from segments order by start_us", ())
        else:
            rows = self._rows(
                "select * from segments where camera_id = ? order by start_us", (camera_id,)
            )
        return [_segment_from_row(row) for row in rows]

    def oldest_segments(self, limit: int) -> list[Segment]:
        rows = self._rows("select * from segments order by start_us limit ?", (limit,))
        return [_segment_from_row(row) for row in rows]

    def buffer_extent(self, camera_id: str) -> tuple[datetime, datetime] | None:
        rows = self._rows(
            "select min(start_us) as first, max(end_us) as last from segments where camera_id = ?",
            (camera_id,),
        )
        if not rows or rows[0]["first"] is None:
            return None
        return from_us(rows[0]["first"]), from_us(rows[0]["last"])

    def total_bytes(self) -> int:
        rows = self._rows("select coalesce(sum(bytes), 0) as total from segments", ())
        return int(rows[0]["total"])

    def delete_segments(self, segments: list[Segment]) -> None:
        """Forget segments that retention deleted; each camera's retention horizon moves on."""
        horizon: dict[str, int] = {}
        for segment in segments:
            end = to_us(segment.end)
            horizon[segment.camera_id] = max(end, horizon.get(segment.camera_id, end))
        with self._writing() as db:
            for segment in segments:
                db.execute("delete from segments where path = ?", [segment.path])
            for camera_id, end in horizon.items():
                db.execute(
                    "insert into retention_horizon (camera_id, deleted_until_us) values (?, ?)"
                    " on conflict(camera_id) do update set deleted_until_us ="
                    " max(deleted_until_us, excluded.deleted_until_us)",
                    [camera_id, end],
                )

    def retention_horizon(self, camera_id: str) -> datetime | None:
        """The end of the newest footage of ``camera_id`` that retention has deleted."""
        rows = self._rows(
            "select deleted_until_us from retention_horizon where camera_id = ?", (camera_id,)
        )
        return from_us(rows[0]["deleted_until_us"]) if rows else None

    def known_paths(self) -> set[str]:
        return {row["path"] for row in self._rows("select path from segments", ())}

    # Gaps

    def add_gap(self, camera_id: str, gap: Gap) -> None:
        """Record a gap that has ended (e.g. a stall inside a segment)."""
        with self._writing() as db:
            _insert_gap(db, _gap_row(camera_id, gap, gap.end))

    def open_gap(self, camera_id: str, gap: Gap) -> None:
        """The camera's footage stops at ``gap.start`` for ``gap.cause``; a no-op while a gap of
        the camera is open already (the first cause is what began it)."""
        with self._writing() as db:
            if self._open_gap_row(db, camera_id) is None:
                _insert_gap(db, _gap_row(camera_id, gap, None))

    def close_gap(self, camera_id: str, gap: Gap, tolerance: float) -> Gap | None:
        """Footage of the camera resumes at ``gap.end``; return the gap this leaves, if any.

        An open gap of the camera ends there (its start, reason and cause stay); without one,
        ``gap`` itself is recorded. A gap of ``tolerance`` seconds or less is not a gap.
        """
        with self._writing() as db:
            row = self._open_gap_row(db, camera_id)
            if row is not None and row["start_us"] > to_us(gap.end):
                return None  # footage from before the open gap began: it stays open
            if row is not None:
                ended = Gap(
                    from_us(row["start_us"]),
                    gap.end,
                    row["reason"],
                    _cause(row["cause"], row["reason"]),
                )
                if ended.seconds <= tolerance:
                    db.execute("delete from gaps where id = ?", [row["id"]])
                    return None
                db.execute("update gaps set end_us = ? where id = ?", [to_us(gap.end), row["id"]])
                return ended
            if gap.seconds <= tolerance:
                return None
            _insert_gap(db, _gap_row(camera_id, gap, gap.end))
            return gap

    @staticmethod
    def _open_gap_row(db: sqlite3.Connection, camera_id: str) -> dict[str, Any] | None:
        rows = rows_in(
            db,
            "select * from gaps where camera_id = ? and end_us is null"
            " order by start_us desc limit 1",
            [camera_id],
        )
        return rows[0] if rows else None

    def gaps_overlapping(self, camera_id: str, start: datetime, end: datetime) -> list[Gap]:
        """Recorded gaps that overlap [start, end); an open gap ends at ``end`` here."""
        rows = self._rows(
            "select * from gaps where camera_id = ? and coalesce(end_us, ?) > ? and start_us < ?"
            " order by start_us",
            (camera_id, _OPEN_END_US, to_us(start), to_us(end)),
        )
        return [
            Gap(
                from_us(r["start_us"]),
                from_us(r["end_us"])
                if r["end_us"] is not None
                else max(end, from_us(r["start_us"])),
                r["reason"],
                _cause(r["cause"], r["reason"]),
                open=r["end_us"] is None,
            )
            for r in rows
        ]

    # Pins (open jobs, legal holds)

    def pin(self, pin: Pin) -> None:
        with self._writing() as db:
            db.execute(
                "insert into pins (owner, camera_id, start_us, end_us) values (?, ?, ?, ?)"
                " on conflict(owner) do update set camera_id = excluded.camera_id,"
                " start_us = excluded.start_us, end_us = excluded.end_us",
                [pin.owner, pin.camera_id, to_us(pin.start), to_us(pin.end)],
            )

    def unpin(self, owner: str) -> None:
        with self._writing() as db:
            db.execute("delete from pins where owner = ?", [owner])

    def pins(self) -> list[Pin]:
        """The pins of open jobs and running cuts (not holds: see ``pins_in_force``)."""
        return [
            Pin(r["owner"], r["camera_id"], from_us(r["start_us"]), from_us(r["end_us"]))
            for r in self._rows("select * from pins", ())
        ]

    def pins_in_force(self) -> list[Pin]:
        """Everything retention must keep: the pins of jobs and cuts and every hold in force."""
        return [*self.pins(), *hold_pins(self.holds.in_force())]

    # Camera events

    def add_event(self, event: CameraEvent) -> None:
        with self._writing() as db:
            db.execute(
                "insert into events (camera_id, at_us, kind, active, topic, data)"
                " values (?, ?, ?, ?, ?, ?)",
                [
                    event.camera_id,
                    to_us(event.at),
                    event.kind,
                    int(event.active),
                    event.topic,
                    json.dumps(event.data, sort_keys=True),
                ],
            )

    def events_between(self, camera_id: str, start: datetime, end: datetime) -> list[CameraEvent]:
        rows = self._rows(
            "select * from events where camera_id = ? and at_us >= ? and at_us < ? order by at_us",
            (camera_id, to_us(start), to_us(end)),
        )
        return [_event_from_row(r) for r in rows]

    def events_after(self, after_id: int, limit: int) -> list[tuple[int, CameraEvent]]:
        """Events stored after row ``after_id`` (every camera), oldest first, with their row ids:
        the uplink's cursor through the events it has sent to the hub."""
        rows = self._rows(
            "select * from events where id > ? order by id limit ?", (after_id, limit)
        )
        return [(r["id"], _event_from_row(r)) for r in rows]

    # Camera facts: what ONVIF last told of a camera, for manifests cut while it is unreachable

    def save_camera_facts(
        self, camera_id: str, identity: dict[str, str], clock_offset: float | None
    ) -> None:
        with self._writing() as db:
            db.execute(
                "insert into camera_facts (camera_id, identity, clock_offset, checked_us)"
                " values (?, ?, ?, ?) on conflict(camera_id) do update set"
                " identity = excluded.identity, clock_offset = excluded.clock_offset,"
                " checked_us = excluded.checked_us",
                [camera_id, json.dumps(identity, sort_keys=True), clock_offset, to_us(utc_now())],
            )

    def camera_facts(self, camera_id: str) -> tuple[dict[str, str], float | None] | None:
        rows = self._rows("select * from camera_facts where camera_id = ?", (camera_id,))
        if not rows:
            return None
        return json.loads(rows[0]["identity"]), rows[0]["clock_offset"]

    def close(self) -> None:
        self._store.close()


def _insert_gap(db: sqlite3.Connection, row: dict[str, Any]) -> None:
    db.execute(
        "insert into gaps (camera_id, start_us, end_us, reason, cause)"
        " values (:camera_id, :start_us, :end_us, :reason, :cause)",
        row,
    )


def _gap_row(camera_id: str, gap: Gap, end: datetime | None) -> dict[str, Any]:
    return {
        "camera_id": camera_id,
        "start_us": to_us(gap.start),
        "end_us": None if end is None else to_us(end),
        "reason": gap.reason,
        "cause": None if gap.cause is None else gap.cause.value,
    }


# What rows written before causes were kept said, in words, mapped onto the closed list.
_REASON_CAUSES = (
    ("camera stalled", GapCause.STREAM_STALLED),
    ("disk full", GapCause.DISK_FULL),
    ("cannot write", GapCause.DISK_FULL),
    ("recorder was not running", GapCause.AGENT_STOPPED),
    ("the recorder was not running", GapCause.AGENT_STOPPED),
    ("recorder stopped", GapCause.AGENT_STOPPED),
    ("camera timestamps jumped", GapCause.CAMERA_CLOCK_JUMP),
)


def _cause(stored: str | None, reason: str) -> GapCause:
    if stored:
        try:
            return GapCause(stored)
        except ValueError:
            pass
    for words, cause in _REASON_CAUSES:
        if reason.startswith(words):
            return cause
    return GapCause.CAMERA_UNREACHABLE


def _event_from_row(row: dict[str, Any]) -> CameraEvent:
    return CameraEvent(
        row["camera_id"],
        from_us(row["at_us"]),
        row["kind"],
        bool(row["active"]),
        row["topic"],
        json.loads(row["data"]),
    )


def _segment_from_row(row: dict[str, Any]) -> Segment:
    return Segment(
        camera_id=row["camera_id"],
        path=row["path"],
        start=from_us(row["start_us"]),
        end=from_us(row["end_us"]),
        bytes=row["bytes"],
        sha256=row["sha256"],
        keyframes=tuple(json.loads(row["keyframes"] or "[0.0]")),
        codec=row["codec"] or "h264",
        width=row["width"] or 0,
        height=row["height"] or 0,
        fps=row["fps"],
        frames=row.get("frames"),
        frames_received=row.get("frames_received"),
        frames_dropped=tuple(sorted(json.loads(row.get("frames_dropped") or "{}").items())),
        clock_jumps=tuple(
            (float(offset), float(step))
            for offset, step in json.loads(row.get("clock_jumps") or "[]")
        ),
        id=row["id"],
    )
