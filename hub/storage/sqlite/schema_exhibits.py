"""Schema migration 6 (issue 12, exhibits): derived items kept at the hub, and the exhibit
reference each released evidence item is given. Kept apart from ``database.py`` for its length;
``database.MIGRATIONS`` lists it in order. A migration never changes once released."""

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
