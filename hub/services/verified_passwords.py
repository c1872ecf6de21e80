"""Passwords this process has just checked with scrypt, so that an API client's HTTP Basic
requests do not each pay a scrypt (about 45 ms of CPU per request here, most of a job dispatch).

What is remembered is an HMAC-SHA256 of the password under a random key of this process (never
the password, never written anywhere), filed under the user name *and the stored hash it was
checked against*. Revocation stays exact because the caller still reads the user from the
database on every request: a changed password changes the stored hash, so the old entry no
longer matches; a disabled user or a changed role is seen in that same read. Only a password that
passed scrypt is remembered; a wrong one always costs scrypt (and the throttle). An entry lives
``lifetime`` at most (re-checked with scrypt after that) and the oldest are dropped past
``max_entries``, so memory stays bounded.

The cost: someone who can read this process's memory could test guesses against an entry with
HMAC instead of scrypt; they could as well read passwords from the requests passing through it.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections import OrderedDict
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Final

from cctv_common.clock import utc_now

DEFAULT_LIFETIME: Final = timedelta(minutes=10)
DEFAULT_MAX_ENTRIES: Final = 1024


class VerifiedPasswords:
    """(user name, stored hash) -> keyed hash of the password that passed, and when."""

    def __init__(
        self,
        *,
        lifetime: timedelta = DEFAULT_LIFETIME,
        max_entries: int = DEFAULT_MAX_ENTRIES,
        now: Callable[[], datetime] = utc_now,
    ) -> None:
        self._key = secrets.token_bytes(32)
        self._lifetime = lifetime
        self._max_entries = max_entries
        self._now = now
        self._entries: OrderedDict[tuple[str, str], tuple[bytes, datetime]] = OrderedDict()

    def _tag(self, password: str) -> bytes:
        return hmac.new(self._key, password.encode("utf-8"), hashlib.sha256).digest()

    def passed(self, username: str, password: str, stored_hash: str) -> bool:
        """True if ``password`` passed scrypt against ``stored_hash`` within the lifetime."""
        found = self._entries.get((username, stored_hash))
        if found is None:
            return False
        tag, checked_at = found
        if self._now() - checked_at > self._lifetime:
            del self._entries[(username, stored_hash)]
            return False
        return hmac.compare_digest(tag, self._tag(password))

    def remember(self, username: str, password: str, stored_hash: str) -> None:
        """Note that ``password`` has just passed scrypt against ``stored_hash``."""
        key = (username, stored_hash)
        self._entries[key] = (self._tag(password), self._now())
        self._entries.move_to_end(key)
        while len(self._entries) > self._max_entries:
            self._entries.popitem(last=False)

    def __len__(self) -> int:
        return len(self._entries)
