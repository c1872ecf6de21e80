"""Site enrollment, as pure rules: the one-time token, its hash, and when it is refused.

A token is ``{site_id}.{secret}``: the site id tells the box which site it is joining (and lets
the hub say "this token is for another site"), the secret (32 random bytes) is what proves it.
The hub keeps only the token's SHA-256, so a copy of the database cannot enroll anything.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Final

DEFAULT_TOKEN_HOURS: Final = 24.0
SECRET_BYTES: Final = 32
BROKER_PASSWORD_BYTES: Final = 24


class RefusalReason(StrEnum):
    UNKNOWN = "unknown"  # no token with this hash: mistyped, tampered or never issued
    OTHER_SITE = "other_site"
    USED = "used"
    EXPIRED = "expired"
    REVOKED = "revoked"
    MALFORMED = "malformed"


class EnrollmentRefused(Exception):
    """The token cannot enroll this box; ``message`` says why in words an engineer can act on."""

    def __init__(self, reason: RefusalReason, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


@dataclass(frozen=True)
class SiteAccess:
    """A site's enrollment and broker login, as the hub keeps them (never the secrets)."""

    site_id: str
    name: str
    token_hash: str
    token_expires_at: datetime
    created_at: datetime
    created_by: str
    enrolled_at: datetime | None = None
    broker_password_hash: str | None = None  # Mosquitto's PBKDF2-SHA512 form, never the password
    revoked_at: datetime | None = None
    revoked_by: str | None = None

    @property
    def state(self) -> str:
        """``revoked``, ``enrolled`` or ``waiting`` (a token issued, not yet used)."""
        if self.revoked_at is not None:
            return "revoked"
        return "enrolled" if self.enrolled_at is not None else "waiting"

    def state_at(self, now: datetime) -> str:
        """``state``, with ``expired`` for a token that was never used and is out of time."""
        state = self.state
        return "expired" if state == "waiting" and now >= self.token_expires_at else state


def new_token(site_id: str) -> str:
    return f"{site_id}.{secrets.token_urlsafe(SECRET_BYTES)}"


def new_broker_password() -> str:
    return secrets.token_urlsafe(BROKER_PASSWORD_BYTES)


def token_site(token: str) -> str:
    """The site id a token names (before the last dot); EnrollmentRefused when it has none."""
    site_id, dot, secret = token.strip().rpartition(".")
    if not dot or not site_id or len(secret) < 20:
        raise EnrollmentRefused(
            RefusalReason.MALFORMED,
            "this is not an enrollment token (expected SITE.SECRET, as `cctv-hub sites create`"
            " prints it)",
        )
    return site_id


def token_hash(token: str) -> str:
    return hashlib.sha256(token.strip().encode("utf-8")).hexdigest()


def expiry(now: datetime, hours: float) -> datetime:
    return now + timedelta(hours=hours)


def check_enrollment(
    access: SiteAccess | None, token: str, site_id: str, now: datetime
) -> SiteAccess:
    """The access row the token opens, for ``site_id``; EnrollmentRefused with why otherwise.

    ``access`` is the row found by the token's hash (None: no such token).
    """
    named = token_site(token)
    if named != site_id:
        raise EnrollmentRefused(
            RefusalReason.OTHER_SITE,
            f"this token is for site {named!r}, not {site_id!r}",
        )
    if access is None or not hmac.compare_digest(access.token_hash, token_hash(token)):
        raise EnrollmentRefused(
            RefusalReason.UNKNOWN,
            f"the hub knows no such token for site {site_id!r} (mistyped, altered, or replaced"
            " by a newer one); ask the hub's supervisor for a new token",
        )
    if access.site_id != site_id:
        raise EnrollmentRefused(
            RefusalReason.OTHER_SITE,
            f"this token is for site {access.site_id!r}, not {site_id!r}",
        )
    if access.revoked_at is not None:
        raise EnrollmentRefused(
            RefusalReason.REVOKED, f"site {site_id!r} was revoked; ask for a new token"
        )
    if access.enrolled_at is not None:
        raise EnrollmentRefused(
            RefusalReason.USED,
            f"this token was already used at {access.enrolled_at.isoformat()}; a token enrolls"
            " one box once: ask for a new one",
        )
    if now >= access.token_expires_at:
        raise EnrollmentRefused(
            RefusalReason.EXPIRED,
            f"this token expired at {access.token_expires_at.isoformat()}; ask for a new one",
        )
    return access
