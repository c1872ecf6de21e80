"""The custody log's rules, without I/O: the actions, one event, and the hash chain.

A row's ``hash`` is the SHA-256 of the canonical JSON of ``seq, at, actor, action, subject,
detail, prev_hash``; the first row's ``prev_hash`` is 64 zeros. Changing, removing or inserting a
row breaks the chain at that row (or the next one), and ``verify_rows`` names the first bad
``seq``. ``at`` is ``cctv_common.clock.iso_utc`` text: part of what each hash covers, so it never
changes format.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final

from cctv_common.evidence.manifest import canonical_json

GENESIS_HASH: Final = "0" * 64
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
    # Footage requests (subject ``request:R-2026-0001``) and users (subject ``user:NAME``).
    REQUEST_FILED = "request_filed"  # a footage request was filed (by the officer or for them)
    DECIDE = "decide"  # approved, partly approved or declined, with the reason
    DISPATCH_REFUSED = "dispatch_refused"  # an approved camera's clip job could not be made
    HOLD_CONFIRMED = "hold_confirmed"  # the agent reported a legal hold in force at the edge
    REQUEST_STATE = "request_state"  # the request moved on (fulfilling, ready, closed...)
    DISCLOSE = "disclose"  # a release to a recipient: one disclosure log entry
    OUTCOME = "outcome"  # the requester recorded what the footage led to
    RETENTION = "retention"  # a retention category or date was set
    USER_ADDED = "user_added"
    USER_CHANGED = "user_changed"  # disabled, enabled, password reset (never the password)
    FORBIDDEN = "forbidden"  # a logged-in user was refused an action their role may not do
    # Exhibits (issue 12), subject the master ``clip:ID``: a derived item made from it.
    DERIVE = "derive"  # a working copy (h264, timestamp): derived id, operation, SHA-256s
    REDACT = "redact"  # a redacted copy: the same, with the reason


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


def stored_row_hash(raw: Mapping[str, Any], detail: Mapping[str, Any], prev_hash: str) -> str:
    """The hash a row read back from storage should carry, given its parsed ``detail`` and the
    hash of the row before it."""
    return row_hash(
        int(raw["seq"]),
        str(raw["at"]),
        str(raw["actor"]),
        str(raw["action"]),
        str(raw["subject"]),
        detail,
        prev_hash,
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
        digest = stored_row_hash(raw, detail, prev_hash)
        if raw.get("hash") != digest:
            return False, seq
        expected_seq, prev_hash = seq + 1, digest
    return True, None
