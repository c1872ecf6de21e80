"""Logins: a signed session cookie for the browser, HTTP Basic for API clients.

A session token is 32 random bytes. The cookie carries ``token.signature`` where the signature is
an HMAC-SHA256 of the token with the hub's session secret; the database keeps only the SHA-256 of
the token, so neither a copied database nor a forged cookie opens a session. The secret comes from
the settings or is generated once into ``data_dir/session_secret`` (mode 0600).

Failed logins are throttled per user name (``LoginThrottle``, pure); a name that does not exist
costs the same scrypt work as one that does.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import logging
import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Final

from hub import repository as repo
from hub.acl import Role
from hub.db import HubDatabase
from hub.jobs import utc_now
from hub.passwords import InvalidPasswordHash, hash_password, verify_password
from hub.repository import UserRecord
from hub.settings import HubSettings

log = logging.getLogger(__name__)

COOKIE_NAME: Final = "cctv_session"
TOKEN_BYTES: Final = 32
SECRET_BYTES: Final = 32
MAX_FAILURES: Final = 5
FAILURE_WINDOW: Final = timedelta(minutes=5)


@dataclass(frozen=True)
class Principal:
    """Who is asking: the user, their role, and what identifies their login session."""

    username: str
    role: Role
    session_key: str  # "cookie:<hash prefix>" or "basic:<username>"
    via_cookie: bool


class LoginThrottle:
    """At most ``max_failures`` failed logins per name within ``window``. Pure apart from time."""

    def __init__(
        self, max_failures: int = MAX_FAILURES, window: timedelta = FAILURE_WINDOW
    ) -> None:
        self._max = max_failures
        self._window = window
        self._failures: dict[str, list[datetime]] = {}

    def blocked(self, username: str, now: datetime) -> bool:
        recent = [t for t in self._failures.get(username, []) if now - t < self._window]
        if recent:
            self._failures[username] = recent
        else:
            self._failures.pop(username, None)
        return len(recent) >= self._max

    def failed(self, username: str, now: datetime) -> None:
        if len(self._failures) > 10_000:
            self._failures.clear()
        self._failures.setdefault(username, []).append(now)

    def succeeded(self, username: str) -> None:
        self._failures.pop(username, None)


class LoginRefused(Exception):
    """Wrong name or password, or too many failures; the message is safe to show."""


def load_session_secret(settings: HubSettings) -> bytes:
    """The HMAC key for session cookies: from settings, or generated once into data_dir (0600)."""
    if settings.http.session_secret is not None:
        return settings.http.session_secret.get_secret_value().encode("utf-8")
    path = settings.session_secret_path
    try:
        return _read_secret(path)
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return _read_secret(path)
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(secrets.token_hex(SECRET_BYTES) + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    log.info("generated a new session secret in %s", path)
    return _read_secret(path)


def _read_secret(path: Path) -> bytes:
    text = path.read_text(encoding="ascii").strip()
    if len(text) < 32:
        raise ValueError(f"session secret in {path} is too short; delete it to make a new one")
    return text.encode("ascii")


@cache
def _dummy_hash() -> str:
    """Checked when the user name is unknown, so that timing does not tell names apart."""
    return hash_password(secrets.token_urlsafe(16))


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("ascii")).hexdigest()


class Authenticator:
    def __init__(
        self,
        database: HubDatabase,
        secret: bytes,
        *,
        session_lifetime: timedelta,
        now: Callable[[], datetime] = utc_now,
    ) -> None:
        self._database = database
        self._secret = secret
        self._lifetime = session_lifetime
        self._now = now
        self._throttle = LoginThrottle()

    # Cookies.

    def _sign(self, token: str) -> str:
        return hmac.new(self._secret, token.encode("ascii"), hashlib.sha256).hexdigest()

    def _unsign(self, cookie: str) -> str | None:
        token, sep, signature = cookie.partition(".")
        if not sep or len(token) > 100 or not hmac.compare_digest(self._sign(token), signature):
            return None
        return token

    @property
    def session_lifetime(self) -> timedelta:
        return self._lifetime

    # Logins.

    async def check_password(self, username: str, password: str) -> UserRecord:
        """The user if the password is right; ``LoginRefused`` otherwise."""
        now = self._now()
        if self._throttle.blocked(username, now):
            log.warning("login for %s refused: too many failures", username)
            raise LoginRefused("too many failed logins: wait a few minutes")
        user = await self._database.aread(lambda db: repo.get_user(db, username[:64]))
        encoded = user.password_hash if user is not None and not user.disabled else _dummy_hash()
        try:
            ok = await asyncio.to_thread(verify_password, password, encoded)
        except InvalidPasswordHash:
            log.error("user %s has a malformed password hash", username)
            ok = False
        if not ok or user is None or user.disabled:
            self._throttle.failed(username, now)
            log.warning("login failed for %s", username[:64])
            raise LoginRefused("wrong user name or password")
        self._throttle.succeeded(username)
        return user

    async def login(self, username: str, password: str) -> tuple[str, UserRecord]:
        """Check the password and open a session; returns the cookie value and the user."""
        user = await self.check_password(username, password)
        token = secrets.token_urlsafe(TOKEN_BYTES)
        now = self._now()
        await self._database.awrite(
            lambda db: repo.create_session(
                db, _token_hash(token), user.username, now, now + self._lifetime
            )
        )
        log.info("%s (%s) logged in", user.username, user.role.value)
        return f"{token}.{self._sign(token)}", user

    async def logout(self, cookie: str) -> None:
        token = self._unsign(cookie)
        if token is not None:
            await self._database.awrite(lambda db: repo.delete_session(db, _token_hash(token)))

    async def from_cookie(self, cookie: str) -> Principal | None:
        token = self._unsign(cookie)
        if token is None:
            return None
        digest = _token_hash(token)
        now = self._now()
        user = await self._database.aread(lambda db: repo.session_user(db, digest, now))
        if user is None:
            return None
        return Principal(user.username, user.role, f"cookie:{digest[:16]}", via_cookie=True)

    async def from_basic(self, authorization: str) -> Principal | None:
        """``Authorization: Basic ...``; None if it is not Basic; LoginRefused if it is wrong."""
        scheme, _, value = authorization.partition(" ")
        if scheme.lower() != "basic":
            return None
        try:
            decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError) as exc:
            raise LoginRefused("malformed Basic credentials") from exc
        username, sep, password = decoded.partition(":")
        if not sep:
            raise LoginRefused("malformed Basic credentials")
        user = await self.check_password(username, password)
        return Principal(user.username, user.role, f"basic:{user.username}", via_cookie=False)
