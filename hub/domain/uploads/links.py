"""Upload links: who a link is for, until when, how much it may take; the token and its hash.

A link's token is 32 random bytes (43 URL-safe characters), shown once to the supervisor who
makes it; the hub keeps only its SHA-256, so a copy of the database lets no one upload. Whether
a link may take a new file is decided here (``check_new_file``) from the link and what it has
taken so far; the service only counts.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Final

TOKEN_BYTES: Final = 32
TOKEN_PATTERN: Final = re.compile(r"[A-Za-z0-9_-]{43}")
LINK_ID_PATTERN: Final = re.compile(r"UPL-[0-9a-f]{16}")
GIB: Final = 1024**3
DEFAULT_VALID_DAYS: Final = 7
DEFAULT_MAX_BYTES: Final = 2 * GIB
DEFAULT_MAX_FILES: Final = 20
MAX_TEXT: Final = 300


class LinkState(StrEnum):
    ACTIVE = "active"
    EXPIRED = "expired"
    REVOKED = "revoked"


class UploadRefused(Exception):
    """An upload or link the hub will not take: ``status`` is the HTTP answer, the message is
    safe to show to the person uploading."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def new_token() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("ascii", errors="replace")).hexdigest()


def well_formed_token(token: str) -> bool:
    return TOKEN_PATTERN.fullmatch(token) is not None


def new_link_id() -> str:
    return "UPL-" + secrets.token_hex(8)


@dataclass(frozen=True)
class LinkDraft:
    """What a supervisor asks for; ``check_draft`` bounds it."""

    recipient_name: str
    recipient_organisation: str
    recipient_email: str
    purpose: str
    valid_days: float = DEFAULT_VALID_DAYS
    max_bytes: int = DEFAULT_MAX_BYTES
    max_files: int = DEFAULT_MAX_FILES


@dataclass(frozen=True)
class LinkBounds:
    """The hub's limits on what a link may allow (``[uploads]`` settings)."""

    max_valid_days: float = 30
    max_bytes: int = 20 * GIB
    max_files: int = 200


_EMAIL: Final = re.compile(r"[^@\s]{1,64}@[^@\s]{1,190}\.[^@\s]{1,60}")


def check_draft(draft: LinkDraft, bounds: LinkBounds) -> LinkDraft:
    """The draft as given, or ``UploadRefused(422)`` naming the first thing wrong."""
    for label, value in (
        ("who the link is for (name)", draft.recipient_name),
        ("the purpose", draft.purpose),
    ):
        if not value.strip():
            raise UploadRefused(422, f"give {label}")
    for label, value in (
        ("name", draft.recipient_name),
        ("organisation", draft.recipient_organisation),
        ("e-mail", draft.recipient_email),
        ("purpose", draft.purpose),
    ):
        if len(value) > MAX_TEXT:
            raise UploadRefused(422, f"the {label} is longer than {MAX_TEXT} characters")
    if draft.recipient_email and _EMAIL.fullmatch(draft.recipient_email.strip()) is None:
        raise UploadRefused(422, f"{draft.recipient_email[:80]!r} is not an e-mail address")
    if not 0 < draft.valid_days <= bounds.max_valid_days:
        raise UploadRefused(
            422, f"a link is valid for more than 0 and at most {bounds.max_valid_days:g} days"
        )
    if not 0 < draft.max_bytes <= bounds.max_bytes:
        raise UploadRefused(422, f"the size limit is more than 0 and at most {bounds.max_bytes}")
    if not 0 < draft.max_files <= bounds.max_files:
        raise UploadRefused(422, f"a link takes 1 to {bounds.max_files} files")
    return draft


@dataclass(frozen=True)
class UploadLink:
    id: str
    request: str
    token_hash: str
    recipient_name: str
    recipient_organisation: str
    recipient_email: str
    purpose: str
    created_by: str
    created_at: datetime
    expires_at: datetime
    max_bytes: int
    max_files: int
    revoked_at: datetime | None = None
    revoked_by: str | None = None

    def state(self, now: datetime) -> LinkState:
        if self.revoked_at is not None:
            return LinkState.REVOKED
        if now >= self.expires_at:
            return LinkState.EXPIRED
        return LinkState.ACTIVE


def make_link(
    draft: LinkDraft, *, request: str, token: str, created_by: str, now: datetime
) -> UploadLink:
    return UploadLink(
        id=new_link_id(),
        request=request,
        token_hash=token_hash(token),
        recipient_name=draft.recipient_name.strip(),
        recipient_organisation=draft.recipient_organisation.strip(),
        recipient_email=draft.recipient_email.strip(),
        purpose=draft.purpose.strip(),
        created_by=created_by,
        created_at=now,
        expires_at=now + timedelta(days=draft.valid_days),
        max_bytes=draft.max_bytes,
        max_files=draft.max_files,
    )


@dataclass(frozen=True)
class LinkUse:
    """What a link has taken: files started (kept or still arriving) and their declared bytes."""

    files: int
    bytes: int


def check_usable(link: UploadLink, now: datetime) -> None:
    """``UploadRefused(410)`` for a link that has expired or was revoked."""
    state = link.state(now)
    if state is LinkState.REVOKED:
        raise UploadRefused(410, "this upload link was withdrawn; ask the council for a new one")
    if state is LinkState.EXPIRED:
        raise UploadRefused(410, "this upload link has expired; ask the council for a new one")


def check_new_file(link: UploadLink, use: LinkUse, length: int, now: datetime) -> None:
    """May ``link`` take one more file of ``length`` bytes? Decided before any byte is written:
    a file over what the link has left is refused with 413."""
    check_usable(link, now)
    if length <= 0:
        raise UploadRefused(400, "the file is empty")
    if use.files >= link.max_files:
        raise UploadRefused(403, f"this link takes at most {link.max_files} files, all used")
    left = link.max_bytes - use.bytes
    if length > left:
        raise UploadRefused(
            413,
            f"the file is {length} bytes; this link takes {max(left, 0)} more bytes"
            f" (limit {link.max_bytes})",
        )
