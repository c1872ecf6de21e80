"""Schema migration 6 (issue 12, exhibits): derived items kept at the hub, and the exhibit
reference each released evidence item is given. Kept apart from ``database.py`` for its length;
``schema.MIGRATIONS`` lists it in order. A migration never changes once released."""

from __future__ import annotations

from typing import Final

EXHIBITS_MIGRATION: Final[tuple[str, ...]] = (
    # A working or redacted copy of a master; its video is in the evidence store under sha256.
    """CREATE TABLE derived_items (
        id TEXT PRIMARY KEY,
        clip_id TEXT NOT NULL REFERENCES evidence_items(clip_id),
        source_sha256 TEXT NOT NULL,
        operation TEXT NOT NULL CHECK (operation IN ('h264', 'timestamp', 'redact')),
        state TEXT NOT NULL CHECK (state IN ('working', 'ready', 'failed')),
        error TEXT,
        sha256 TEXT,
        bytes INTEGER,
        manifest BLOB,
        signature TEXT,
        created_by TEXT NOT NULL,
        created_at TEXT NOT NULL,
        finished_at TEXT,
        reason TEXT NOT NULL DEFAULT '',
        plan TEXT NOT NULL DEFAULT '{}'
    )""",
    "CREATE INDEX derived_items_clip ON derived_items (clip_id, created_at)",
    "CREATE INDEX derived_items_state ON derived_items (state)",
    # The exhibit reference given at release (e.g. JS/1): one per item, unique across the hub.
    """CREATE TABLE exhibit_references (
        clip_id TEXT PRIMARY KEY REFERENCES evidence_items(clip_id),
        request_id TEXT NOT NULL,
        reference TEXT NOT NULL UNIQUE,
        producer TEXT NOT NULL,
        assigned_at TEXT NOT NULL
    )""",
    "CREATE INDEX exhibit_references_producer ON exhibit_references (producer)",
    "CREATE INDEX exhibit_references_request ON exhibit_references (request_id)",
)

# Migration 9 (issue 12, finishing): footage from elsewhere is numbered like site clips, so an
# exhibit reference now names any evidence item (a clip id, or an outside item's OUT-...): the
# table is rebuilt without its reference to evidence_items (SQLite cannot drop a constraint).
# A derived item's progress is kept in its row (any hub process can read it), and derived and
# outside items are deleted (bytes removed, the row kept with who and when) like clips.
EXHIBIT_ITEMS_MIGRATION: Final[tuple[str, ...]] = (
    """CREATE TABLE exhibit_references_any (
        clip_id TEXT PRIMARY KEY,
        request_id TEXT NOT NULL,
        reference TEXT NOT NULL UNIQUE,
        producer TEXT NOT NULL,
        assigned_at TEXT NOT NULL
    )""",
    """INSERT INTO exhibit_references_any (clip_id, request_id, reference, producer, assigned_at)
        SELECT clip_id, request_id, reference, producer, assigned_at FROM exhibit_references""",
    "DROP TABLE exhibit_references",
    "ALTER TABLE exhibit_references_any RENAME TO exhibit_references",
    "CREATE INDEX exhibit_references_producer ON exhibit_references (producer)",
    "CREATE INDEX exhibit_references_request ON exhibit_references (request_id)",
    "ALTER TABLE derived_items ADD COLUMN progress INTEGER",
    "ALTER TABLE derived_items ADD COLUMN deleted_at TEXT",
    "ALTER TABLE outside_items ADD COLUMN deleted_at TEXT",
)
