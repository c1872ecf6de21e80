"""The one clock and the one spelling of a time, for the agent, the hub, the wire and evidence.

``utc_now()`` is what every "now" defaults to (pass your own ``now`` callable in tests). A time is
written ``iso_utc``: ISO-8601 in UTC with a ``Z``, microseconds kept when there are any
(``2024-03-01T12:00:00Z``, ``2024-03-01T12:00:00.250000Z``); that is how times travel in payloads
and manifests. ``parse_iso`` reads that back, and any ISO-8601 time with a zone, as an aware UTC
``datetime``; a time without a zone is refused, never guessed.
"""

from __future__ import annotations

from datetime import UTC, datetime


def utc_now() -> datetime:
    return datetime.now(UTC)


def iso_utc(moment: datetime) -> str:
    """ISO-8601 in UTC with a Z, microseconds kept: the one spelling of a time on the wire and in
    evidence."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


class NoTimeZone(ValueError):
    """A time written without a zone: local to whom? It is refused, never guessed."""


def parse_iso(text: str) -> datetime:
    """An ISO-8601 time with a zone (``Z`` or ``+01:00``) as an aware UTC datetime.

    Raises ``ValueError`` for text that is not a time, ``NoTimeZone`` for a time without a zone.
    """
    cleaned = text.strip()
    if cleaned[-1:] in ("Z", "z"):
        cleaned = cleaned[:-1] + "+00:00"
    moment = datetime.fromisoformat(cleaned)
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise NoTimeZone(f"time {text[:40]!r} has no zone: write UTC with a Z")
    return moment.astimezone(UTC)
