"""Logins: a signed session cookie for the browser, HTTP Basic for API clients.

A session token is 32 random bytes. The cookie carries ``token.signature`` where the signature is
an HMAC-SHA256 of the token with the hub's session secret; the database keeps only the SHA-256 of
the token, so neither a copied database nor a forged cookie opens a session. The secret comes from
the settings or is generated once into ``data_dir/session_secret`` (mode 0600).

Failed logins are throttled per client address and per user with an exponential delay, kept in
the database (``hub.services.login_throttle``); a name that does not exist costs the same scrypt
work as
one that does. Logins are custody rows (``login``; for HTTP Basic one per user and address per
half hour of use), and so are failed logins, aggregated (``login_failed``, see
``hub.services.login_throttle.FailureLog``).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import logging
import math
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Final

from cctv_common.clock import utc_now
from cctv_common.files import create_once
from hub.domain.acl import Role
from hub.domain.records import UserRecord
from hub.services import login_throttle as throttle
from hub.services.custody import CustodyAction
from hub.services.login_throttle import FailureLog, ThrottlePolicy
from hub.services.passwords import (
    SCRYPT_N,
    SCRYPT_P,
    SCRYPT_R,
    InvalidPasswordHash,
    hash_password,
    parse_hash,
    verify_password,
)
from hub.services.playback import ViewSessions
from hub.services.verified_passwords import VerifiedPasswords
from hub.settings import HubSettings, LoginSettings
from hub.storage.ports import HubStorage, UnitOfWork

log = logging.getLogger(__name__)

COOKIE_NAME: Final = "cctv_session"
TOKEN_BYTES: Final = 32
SECRET_BYTES: Final = 32
BASIC_LOGIN_WINDOW: Final = timedelta(minutes=30)


@dataclass(frozen=True)
class Principal:
    """Who is asking: the user, their role, and what identifies their login session."""

    username: str
    role: Role
    session_key: str  # "cookie:<hash prefix>" or "basic:<username>"
    via_cookie: bool


class LoginRefused(Exception):
    """Wrong name or password, or too many failures; the message is safe to show."""


class LoginThrottled(LoginRefused):
    """Too many failed logins from this address or for this user: try again after a delay."""

    def __init__(self, retry_after: timedelta) -> None:
        self.retry_after_seconds = max(1, math.ceil(retry_after.total_seconds()))
        super().__init__(f"too many failed logins: try again in {self.retry_after_seconds} s")


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
    # Hub workers on one data_dir start together: written whole, then linked into place, so
    # none reads another's half-written secret (one did, in a test: "too short"), and all use
    # the first one linked.
    secret = (secrets.token_hex(SECRET_BYTES) + "\n").encode("ascii")
    if not create_once(path, secret):
        return _read_secret(path)
    log.info("generated a new session secret in %s", path)
    return _read_secret(path)


def _read_secret(path: Path) -> bytes:
    text = path.read_text(encoding="ascii").strip()
    if len(text) < 32:
        raise ValueError(f"session secret in {path} is too short; delete it to make a new one")
    return text.encode("ascii")


@cache
def _dummy_hash(n: int, r: int, p: int) -> str:
    """Checked when the user name is unknown, so that timing does not tell names apart: made
    with the scrypt cost of the users' own hashes."""
    return hash_password(secrets.token_urlsafe(16), n=n, r=r, p=p)


def _cost_of(uow: UnitOfWork) -> tuple[int, int, int]:
    """The scrypt cost of an active user's hash (the default when there is none)."""
    found = uow.users.some_active_password_hash()
    if found is not None:
        try:
            n, r, p, _salt, _digest = parse_hash(found)
            return n, r, p
        except InvalidPasswordHash:
            pass
    return SCRYPT_N, SCRYPT_R, SCRYPT_P


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("ascii")).hexdigest()


class Authenticator:
    def __init__(
        self,
        storage: HubStorage,
        secret: bytes,
        *,
        session_lifetime: timedelta,
        login: LoginSettings | None = None,
        now: Callable[[], datetime] = utc_now,
    ) -> None:
        self._storage = storage
        self._secret = secret
        self._lifetime = session_lifetime
        self._now = now
        self._policy = ThrottlePolicy.of(login or LoginSettings())
        self._failures = FailureLog()
        self._basic_logins = ViewSessions(window=BASIC_LOGIN_WINDOW)
        self._verified = VerifiedPasswords(now=now)

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

    async def check_password(self, username: str, password: str, address: str) -> UserRecord:
        """The user if the password is right; ``LoginRefused`` (or ``LoginThrottled``) if not.

        ``address`` is the client's address; it is throttled as well as the user name.
        """
        now = self._now()
        where = throttle.address_key(address)
        name = username[:64]

        def look(
            uow: UnitOfWork,
        ) -> tuple[UserRecord | None, timedelta | None, tuple[int, ...], bool]:
            # Both throttle rows in one query (on PostgreSQL one round trip per query, and
            # this runs on every HTTP Basic request); a user entry counts only for a user.
            entries = uow.login_failures.get_many([("user", name), ("address", where)])
            found = uow.users.get(name)
            user_entry = None if found is None else entries.get(("user", name))
            address_entry = entries.get(("address", where))
            cost = _cost_of(uow) if found is None or found.disabled else ()
            wait = throttle.refusal(self._policy, address_entry, user_entry, now)
            return found, wait, cost, user_entry is not None or address_entry is not None

        user, wait, cost, on_record = await self._storage.aread(look)
        if wait is not None:
            self._failures.refused()
            log.warning("login for %s from %s refused: delayed %s", name, where, wait)
            raise LoginThrottled(wait)
        if user is not None and not user.disabled:
            encoded = user.password_hash
        else:
            encoded = await asyncio.to_thread(_dummy_hash, *cost)
        active = user is not None and not user.disabled
        # The user was read just now, so a changed password or a disabled user is seen here.
        ok = active and self._verified.passed(name, password, encoded)
        if not ok:
            try:
                ok = await asyncio.to_thread(verify_password, password, encoded)
            except InvalidPasswordHash:
                log.error("user %s has a malformed password hash", name)
                ok = False
            if ok and active:
                self._verified.remember(name, password, encoded)
        if not ok or user is None or user.disabled:
            known = user is not None
            await self._storage.awrite(lambda uow: self._failed_in(uow, name, known, where, now))
            log.warning("login failed for %s from %s", name if known else "(unknown name)", where)
            raise LoginRefused("wrong user name or password")

        def succeeded(uow: UnitOfWork) -> None:
            uow.login_failures.clear("address", where)
            uow.login_failures.clear("user", name)

        if on_record:  # most logins (every HTTP Basic request) have nothing to clear: no write
            await self._storage.awrite(succeeded)
        return user

    def _failed_in(
        self, uow: UnitOfWork, name: str, known: bool, where: str, now: datetime
    ) -> None:
        """Count a failure against the address (and the user, if the name is a user's)."""
        address_entry = self._policy.after_failure(
            uow.login_failures.get("address", where), "address", where, now
        )
        uow.login_failures.put(address_entry)
        uow.login_failures.bound_addresses(self._policy.max_tracked_addresses)
        user_failures = None
        if known:
            user_entry = self._policy.after_failure(
                uow.login_failures.get("user", name), "user", name, now
            )
            uow.login_failures.put(user_entry)
            user_failures = user_entry.failures
        if self._failures.should_record(address_entry.failures, user_failures, now):
            # Unknown names are not written down: a mistyped password is often typed as one.
            uow.custody.append(
                "anonymous",
                CustodyAction.LOGIN_FAILED,
                f"user:{name}" if known else f"address:{where}",
                {
                    "address": where,
                    "username": name if known else None,
                    "address_failures": address_entry.failures,
                    "user_failures": user_failures,
                    "not_in_earlier_rows": self._failures.take_unrecorded(),
                },
                at=now,
            )

    async def login(
        self, username: str, password: str, address: str, via: str
    ) -> tuple[str, UserRecord]:
        """Check the password and open a session; returns the cookie value and the user."""
        user = await self.check_password(username, password, address)
        token = secrets.token_urlsafe(TOKEN_BYTES)
        now = self._now()
        where = throttle.address_key(address)

        def open_session(uow: UnitOfWork) -> None:
            uow.sessions.create(_token_hash(token), user.username, now, now + self._lifetime)
            uow.custody.append(
                user.username,
                CustodyAction.LOGIN,
                f"user:{user.username}",
                {"address": where, "via": via, "role": user.role.value},
                at=now,
            )

        await self._storage.awrite(open_session)
        log.info("%s (%s) logged in from %s", user.username, user.role.value, where)
        return f"{token}.{self._sign(token)}", user

    async def logout(self, cookie: str) -> None:
        token = self._unsign(cookie)
        if token is None:
            return
        digest = _token_hash(token)
        now = self._now()

        def close(uow: UnitOfWork) -> None:
            user = uow.sessions.user(digest, now)
            uow.sessions.delete(digest)
            if user is not None:
                uow.custody.append(
                    user.username, CustodyAction.LOGOUT, f"user:{user.username}", at=now
                )

        await self._storage.awrite(close)

    async def from_cookie(self, cookie: str) -> Principal | None:
        token = self._unsign(cookie)
        if token is None:
            return None
        digest = _token_hash(token)
        now = self._now()
        user = await self._storage.aread(lambda uow: uow.sessions.user(digest, now))
        if user is None:
            return None
        return Principal(user.username, user.role, f"cookie:{digest[:16]}", via_cookie=True)

    async def from_basic(self, authorization: str, address: str) -> Principal | None:
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
        user = await self.check_password(username, password, address)
        where = throttle.address_key(address)
        now = self._now()
        if self._basic_logins.is_new_view(user.username, where, now):
            # One custody row per user and address per half hour of Basic use, not per request.
            await self._storage.awrite(
                lambda uow: uow.custody.append(
                    user.username,
                    CustodyAction.LOGIN,
                    f"user:{user.username}",
                    {"address": where, "via": "basic", "role": user.role.value},
                    at=now,
                )
            )
        return Principal(user.username, user.role, f"basic:{user.username}", via_cookie=False)
