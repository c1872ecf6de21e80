"""Schema migration for footage from elsewhere (issue 12 item 6): upload links, tus uploads in
progress, and the outside items they become. ``schema.MIGRATIONS`` lists it in order. A
migration never changes once released."""

from __future__ import annotations

from typing import Final

UPLOADS_MIGRATION: Final[tuple[str, ...]] = (
    # A link a supervisor made for a request; only the SHA-256 of its token is kept.
    """CREATE TABLE upload_links (
        id TEXT PRIMARY KEY,
        request_id TEXT NOT NULL REFERENCES requests(id),
        token_hash TEXT NOT NULL UNIQUE,
        recipient_name TEXT NOT NULL,
        recipient_organisation TEXT NOT NULL DEFAULT '',
        recipient_email TEXT NOT NULL DEFAULT '',
        purpose TEXT NOT NULL,
        created_by TEXT NOT NULL,
        created_at TEXT NOT NULL,
        expires_at TEXT NOT NULL,
        max_bytes INTEGER NOT NULL CHECK (max_bytes > 0),
        max_files INTEGER NOT NULL CHECK (max_files > 0),
        revoked_at TEXT,
        revoked_by TEXT
    )""",
    "CREATE INDEX upload_links_request ON upload_links (request_id, created_at)",
    # One tus upload: its bytes are in the staging folder until whole and checked.
    """CREATE TABLE tus_uploads (
        id TEXT PRIMARY KEY,
        link_id TEXT NOT NULL REFERENCES upload_links(id),
        request_id TEXT NOT NULL,
        filename TEXT NOT NULL,
        declared_type TEXT NOT NULL DEFAULT '',
        statement TEXT NOT NULL,
        length INTEGER NOT NULL CHECK (length > 0),
        "offset" INTEGER NOT NULL DEFAULT 0,
        state TEXT NOT NULL CHECK (state IN
            ('receiving', 'stored', 'refused', 'terminated', 'discarded')),
        error TEXT,
        outside_id TEXT,
        uploader_ip TEXT NOT NULL,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
    )""",
    "CREATE INDEX tus_uploads_link ON tus_uploads (link_id, state)",
    "CREATE INDEX tus_uploads_state ON tus_uploads (state, updated_at)",
    # A file from outside, whole and checked: in the evidence store under its SHA-256.
    """CREATE TABLE outside_items (
        id TEXT PRIMARY KEY,
        request_id TEXT NOT NULL REFERENCES requests(id),
        link_id TEXT NOT NULL REFERENCES upload_links(id),
        upload_id TEXT NOT NULL UNIQUE,
        filename TEXT NOT NULL,
        media_type TEXT NOT NULL,
        kind TEXT NOT NULL CHECK (kind IN ('video', 'picture')),
        bytes INTEGER NOT NULL,
        sha256 TEXT NOT NULL,
        store_key TEXT NOT NULL,
        statement TEXT NOT NULL,
        uploaded_at TEXT NOT NULL,
        uploader_ip TEXT NOT NULL,
        source TEXT NOT NULL DEFAULT 'not from a site agent',
        receipt BLOB NOT NULL,
        receipt_signature TEXT NOT NULL
    )""",
    "CREATE INDEX outside_items_request ON outside_items (request_id, uploaded_at)",
)
