"""The hub's SQLite schema: every migration, in order, in one list.

``MIGRATIONS[n]`` takes the database from version n to n + 1; ``database.HubDatabase`` applies
them, each in one transaction with its version bump. A released migration never changes: a new
table or column is a new entry at the end. Larger families keep their statements in their own
module (``schema_uploads``, ``site_access_rows``, ``schema_exhibits``, ``uplink_cap_rows``) and are
listed here.
"""

from __future__ import annotations

from typing import Final

from hub.storage.sqlite import site_access_rows, uplink_cap_rows, worker_rows
from hub.storage.sqlite.schema_exhibits import EXHIBIT_ITEMS_MIGRATION, EXHIBITS_MIGRATION
from hub.storage.sqlite.schema_uploads import UPLOADS_MIGRATION

# Each migration is a tuple of statements (not one script: executescript would commit halfway).
MIGRATIONS: Final[tuple[tuple[str, ...], ...]] = (
    # 1: the first schema.
    (
        """CREATE TABLE sites (
            id TEXT PRIMARY KEY,
            name TEXT NOT NULL DEFAULT '',
            public_key_pem TEXT NOT NULL,
            key_id TEXT NOT NULL,
            state TEXT NOT NULL DEFAULT 'unknown' CHECK (state IN ('unknown', 'online', 'offline')),
            status TEXT,
            last_seen TEXT,
            registered_at TEXT NOT NULL,
            registered_by TEXT NOT NULL
        )""",
        """CREATE TABLE cameras (
            site_id TEXT NOT NULL REFERENCES sites(id),
            camera_id TEXT NOT NULL,
            state TEXT NOT NULL,
            status TEXT NOT NULL,
            buffer_start TEXT,
            buffer_end TEXT,
            codec TEXT,
            width INTEGER,
            height INTEGER,
            updated_at TEXT NOT NULL,
            PRIMARY KEY (site_id, camera_id)
        )""",
        """CREATE TABLE jobs (
            id TEXT PRIMARY KEY,
            site_id TEXT NOT NULL REFERENCES sites(id),
            camera_id TEXT NOT NULL,
            start TEXT NOT NULL,
            "end" TEXT NOT NULL,
            reason TEXT NOT NULL,
            priority INTEGER NOT NULL DEFAULT 5,
            requested_by TEXT NOT NULL,
            state TEXT NOT NULL,
            percent INTEGER NOT NULL DEFAULT 0,
            error TEXT,
            clip_id TEXT,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL
        )""",
        "CREATE INDEX jobs_requested_by ON jobs (requested_by, created_at)",
        "CREATE INDEX jobs_state ON jobs (state)",
        """CREATE TABLE uploads (
            clip_id TEXT PRIMARY KEY,
            site_id TEXT NOT NULL,
            job_id TEXT NOT NULL,
            offer TEXT NOT NULL,
            clip_sha256 TEXT NOT NULL,
            clip_bytes INTEGER NOT NULL,
            chunk_count INTEGER NOT NULL,
            chunk_size INTEGER NOT NULL,
            held TEXT NOT NULL DEFAULT '[]',
            state TEXT NOT NULL CHECK (state IN ('receiving', 'stored', 'rejected', 'expired')),
            reason TEXT,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL
        )""",
        "CREATE INDEX uploads_state ON uploads (state, updated_at)",
        """CREATE TABLE evidence_items (
            clip_id TEXT PRIMARY KEY,
            sha256 TEXT NOT NULL,
            store_key TEXT NOT NULL,
            site_id TEXT NOT NULL,
            camera_id TEXT NOT NULL,
            job_id TEXT NOT NULL,
            requested_by TEXT NOT NULL,
            manifest TEXT NOT NULL,
            signature TEXT NOT NULL,
            key_id TEXT NOT NULL,
            bytes INTEGER NOT NULL,
            delivered_start TEXT NOT NULL,
            delivered_end TEXT NOT NULL,
            codec TEXT NOT NULL,
            width INTEGER NOT NULL,
            height INTEGER NOT NULL,
            stored_at TEXT NOT NULL,
            category TEXT NOT NULL DEFAULT 'unclassified',
            retention_until TEXT,
            legal_hold INTEGER NOT NULL DEFAULT 0
        )""",
        "CREATE INDEX evidence_requested_by ON evidence_items (requested_by, stored_at)",
        "CREATE INDEX evidence_job ON evidence_items (job_id)",
        """CREATE TABLE audit (
            seq INTEGER PRIMARY KEY,
            at TEXT NOT NULL,
            actor TEXT NOT NULL,
            action TEXT NOT NULL,
            subject TEXT NOT NULL,
            detail TEXT NOT NULL,
            prev_hash TEXT NOT NULL,
            hash TEXT NOT NULL
        )""",
        "CREATE INDEX audit_subject ON audit (subject, seq)",
        # The custody log is append-only for the application: SQLite refuses edits and deletions.
        # Someone with the file can still drop these triggers; verify_chain() detects what they do.
        """CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
            BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END""",
        """CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
            BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END""",
        """CREATE TABLE users (
            username TEXT PRIMARY KEY,
            role TEXT NOT NULL,
            password_hash TEXT NOT NULL,
            source TEXT NOT NULL CHECK (source IN ('config', 'db')),
            disabled INTEGER NOT NULL DEFAULT 0,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL
        )""",
        """CREATE TABLE sessions (
            token_hash TEXT PRIMARY KEY,
            username TEXT NOT NULL REFERENCES users(username),
            created_at TEXT NOT NULL,
            expires_at TEXT NOT NULL
        )""",
        "CREATE INDEX sessions_expiry ON sessions (expires_at)",
    ),
    # 2: camera events (motion, tamper) each site sends, for the operator's timeline. One row per
    # (site, event id): a re-sent event is the same row.
    (
        """CREATE TABLE camera_events (
            site_id TEXT NOT NULL REFERENCES sites(id),
            event_id TEXT NOT NULL,
            camera_id TEXT NOT NULL,
            at TEXT NOT NULL,
            kind TEXT NOT NULL CHECK (kind IN ('motion', 'tamper')),
            active INTEGER NOT NULL CHECK (active IN (0, 1)),
            topic TEXT NOT NULL,
            data TEXT NOT NULL,
            received_at TEXT NOT NULL,
            PRIMARY KEY (site_id, event_id)
        )""",
        "CREATE INDEX camera_events_time ON camera_events (site_id, camera_id, at)",
    ),
    # 3: evidence re-verification, deletion kept as a tombstone, and persisted login throttling.
    (
        # The last check of each stored object against its SHA-256 (by the scrub, verify-store,
        # or a download that hashed what it served). ok = 0 marks the object damaged.
        """CREATE TABLE evidence_checks (
            store_key TEXT PRIMARY KEY,
            checked_at TEXT NOT NULL,
            ok INTEGER NOT NULL CHECK (ok IN (0, 1)),
            problem TEXT,
            checked_by TEXT NOT NULL
        )""",
        # A deleted item keeps its row (what it was, who deleted it, when); its bytes are gone.
        "ALTER TABLE evidence_items ADD COLUMN deleted_at TEXT",
        "ALTER TABLE evidence_items ADD COLUMN deleted_by TEXT",
        # Failed logins per client address and per known user (bounded: see
        # hub.services.login_throttle).
        """CREATE TABLE login_throttle (
            kind TEXT NOT NULL CHECK (kind IN ('address', 'user')),
            key TEXT NOT NULL,
            failures INTEGER NOT NULL,
            last_failure TEXT NOT NULL,
            next_allowed TEXT NOT NULL,
            PRIMARY KEY (kind, key)
        )""",
        "CREATE INDEX login_throttle_age ON login_throttle (kind, last_failure)",
    ),
    # 4: a job's state may only be one of cctv_common.wire.job_state.JobState (SQLite cannot add
    # a CHECK to a column, so the table is rebuilt). The list is written out, not generated:
    # a migration never changes once released; a test checks that it matches JobState.
    (
        """CREATE TABLE jobs_checked (
            id TEXT PRIMARY KEY,
            site_id TEXT NOT NULL REFERENCES sites(id),
            camera_id TEXT NOT NULL,
            start TEXT NOT NULL,
            "end" TEXT NOT NULL,
            reason TEXT NOT NULL,
            priority INTEGER NOT NULL DEFAULT 5,
            requested_by TEXT NOT NULL,
            state TEXT NOT NULL CHECK (state IN
                ('dispatched', 'queued', 'cutting', 'uploading', 'stored', 'failed')),
            percent INTEGER NOT NULL DEFAULT 0,
            error TEXT,
            clip_id TEXT,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL
        )""",
        """INSERT INTO jobs_checked (id, site_id, camera_id, start, "end", reason, priority,
            requested_by, state, percent, error, clip_id, created_at, updated_at)
        SELECT id, site_id, camera_id, start, "end", reason, priority, requested_by, state,
            percent, error, clip_id, created_at, updated_at FROM jobs""",
        "DROP TABLE jobs",
        "ALTER TABLE jobs_checked RENAME TO jobs",
        "CREATE INDEX jobs_requested_by ON jobs (requested_by, created_at)",
        "CREATE INDEX jobs_state ON jobs (state)",
    ),
    # 5: footage requests (issue 11): the request, its decision, holds, clip jobs, the disclosure
    # log, the requester's mail, and what a user is beyond a login (name, e-mail, force).
    (
        """CREATE TABLE request_numbers (
            year INTEGER PRIMARY KEY,
            last INTEGER NOT NULL
        )""",
        """CREATE TABLE requests (
            id TEXT PRIMARY KEY,
            state TEXT NOT NULL CHECK (state IN ('submitted', 'approved', 'partly_approved',
                'declined', 'withdrawn', 'fulfilling', 'ready', 'released', 'closed',
                'expired', 'deleted')),
            requested_by TEXT NOT NULL,
            filed_by TEXT NOT NULL,
            urgency TEXT NOT NULL,
            ripa INTEGER NOT NULL CHECK (ripa IN (0, 1)),
            district TEXT NOT NULL,
            body TEXT NOT NULL,
            received_at TEXT NOT NULL,
            decision TEXT,
            decided_at TEXT,
            released_at TEXT,
            outcome TEXT,
            outcome_note TEXT NOT NULL DEFAULT '',
            retention_category TEXT NOT NULL DEFAULT 'no_further_action',
            review_at TEXT,
            case_closed_at TEXT,
            updated_at TEXT NOT NULL
        )""",
        "CREATE INDEX requests_state ON requests (state, received_at)",
        "CREATE INDEX requests_requested_by ON requests (requested_by, received_at)",
        """CREATE TABLE request_colleagues (
            request_id TEXT NOT NULL REFERENCES requests(id),
            username TEXT NOT NULL,
            PRIMARY KEY (request_id, username)
        )""",
        "CREATE INDEX request_colleagues_user ON request_colleagues (username)",
        """CREATE TABLE request_jobs (
            job_id TEXT PRIMARY KEY REFERENCES jobs(id),
            request_id TEXT NOT NULL REFERENCES requests(id),
            site_id TEXT NOT NULL,
            camera_id TEXT NOT NULL,
            created_at TEXT NOT NULL
        )""",
        "CREATE INDEX request_jobs_request ON request_jobs (request_id)",
        """CREATE TABLE holds (
            id TEXT PRIMARY KEY,
            request_id TEXT NOT NULL REFERENCES requests(id),
            site_id TEXT NOT NULL,
            camera_id TEXT NOT NULL,
            window_start TEXT NOT NULL,
            window_end TEXT NOT NULL,
            placed_at TEXT NOT NULL,
            placed_by TEXT NOT NULL,
            edge_confirmed_at TEXT,
            lifted_at TEXT,
            lifted_by TEXT
        )""",
        "CREATE INDEX holds_request ON holds (request_id)",
        "CREATE INDEX holds_site ON holds (site_id, lifted_at)",
        # The disclosure log: numbered 1, 2, 3... with no gaps; rows are never changed.
        """CREATE TABLE disclosures (
            number INTEGER PRIMARY KEY,
            request_id TEXT NOT NULL REFERENCES requests(id),
            disclosed_at TEXT NOT NULL,
            entry TEXT NOT NULL
        )""",
        """CREATE TRIGGER disclosures_no_update BEFORE UPDATE ON disclosures
            BEGIN SELECT RAISE(ABORT, 'the disclosure log is append-only'); END""",
        """CREATE TRIGGER disclosures_no_delete BEFORE DELETE ON disclosures
            BEGIN SELECT RAISE(ABORT, 'the disclosure log is append-only'); END""",
        """CREATE TABLE notification_outbox (
            id INTEGER PRIMARY KEY,
            request_id TEXT NOT NULL,
            step TEXT NOT NULL,
            recipients TEXT NOT NULL,
            subject TEXT NOT NULL,
            state TEXT NOT NULL CHECK (state IN ('queued', 'sent', 'logged', 'failed')),
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL
        )""",
        "CREATE INDEX notification_outbox_request ON notification_outbox (request_id, id)",
        "ALTER TABLE users ADD COLUMN display_name TEXT NOT NULL DEFAULT ''",
        "ALTER TABLE users ADD COLUMN email TEXT NOT NULL DEFAULT ''",
        "ALTER TABLE users ADD COLUMN force TEXT NOT NULL DEFAULT ''",
        "ALTER TABLE users ADD COLUMN collar_number TEXT NOT NULL DEFAULT ''",
    ),
    # 6: upload links, tus uploads and outside items (issue 12): see schema_uploads.
    UPLOADS_MIGRATION,
    # 7: site enrollment tokens and broker access (issue 14): see site_access_rows.
    site_access_rows.MIGRATION,
    # 8: derived items and exhibit references (issue 12): see schema_exhibits.
    EXHIBITS_MIGRATION,
    # 9: exhibit references for any item, derived progress, deleted derived and outside items.
    EXHIBIT_ITEMS_MIGRATION,
    # 10: several hub workers (issue 16): the one hub process completing an upload (store and
    # record), so that two processes that both see every chunk held do not both complete it.
    (
        "ALTER TABLE uploads ADD COLUMN completing_by TEXT",
        "ALTER TABLE uploads ADD COLUMN completing_since TEXT",
    ),
    # 11: each site's upload cap as set at the hub (issue 15): see uplink_cap_rows.
    uplink_cap_rows.MIGRATION,
    # 12: where a job's footage is taken from (auto, buffer or nvr; docs/nvr.md), sent with the
    # job and kept so that it is sent again on every re-publish.
    (
        "ALTER TABLE jobs ADD COLUMN source TEXT NOT NULL DEFAULT 'auto'"
        " CHECK (source IN ('auto', 'buffer', 'nvr'))",
    ),
    # 13: several hub workers without in-process locks (issue 16): leases on background jobs,
    # dispatch claims, live sessions, tus PATCH claims; see worker_rows.
    worker_rows.MIGRATION,
)
SCHEMA_VERSION: Final = len(MIGRATIONS)
