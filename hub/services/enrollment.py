"""Enrollment: a one-time token for a site, the box's key and broker login in exchange, revocation.

Each step is one unit of work with its custody row. The broker's password file is rebuilt from
the database inside the same transaction (so a failed write changes nothing), and the broker is
told to reread it after the commit. A refused token writes nothing: one log line, and the
engineer gets the reason.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path

from cctv_common.clock import utc_now
from cctv_common.wire.ids import InvalidId, validate_id
from hub.domain.broker_logins import password_hash
from hub.domain.custody import CustodyAction
from hub.domain.enrollment import (
    EnrollmentRefused,
    SiteAccess,
    check_enrollment,
    expiry,
    new_broker_password,
    new_token,
    token_hash,
)
from hub.services import login_throttle as throttle
from hub.services.broker_logins import BrokerLogins, BrokerReloadError
from hub.services.login_throttle import ThrottlePolicy
from hub.services.sites import register_in
from hub.settings_enrollment import EnrollmentSettings
from hub.storage.ports import HubStorage, UnitOfWork

log = logging.getLogger(__name__)


class EnrollmentError(ValueError):
    """A token cannot be issued or a site revoked (unknown site, bad id, already enrolled)."""


class EnrollmentThrottled(Exception):
    """Too many refused tokens from this address (counted with its failed logins): wait."""

    def __init__(self, retry_after: timedelta) -> None:
        self.retry_after_seconds = max(1, math.ceil(retry_after.total_seconds()))
        super().__init__(
            f"too many refused tokens or logins from this address: try again in"
            f" {self.retry_after_seconds} s"
        )


@dataclass(frozen=True)
class IssuedToken:
    site_id: str
    name: str
    token: str = field(repr=False)
    expires_at: datetime


@dataclass(frozen=True)
class EnrollmentGrant:
    """What an enrolled box needs: its broker login, the broker's CA and the hub's key."""

    site_id: str
    name: str
    key_id: str
    broker_host: str
    broker_port: int
    broker_username: str
    broker_password: str = field(repr=False)
    broker_ca_pem: str
    hub_public_key_pem: str


class EnrollmentService:
    def __init__(
        self,
        storage: HubStorage,
        settings: EnrollmentSettings,
        logins: BrokerLogins,
        hub_public_key_pem: str,
        *,
        throttle_policy: ThrottlePolicy | None = None,
        now: Callable[[], datetime] = utc_now,
    ) -> None:
        self._throttle = throttle_policy
        self._storage = storage
        self._settings = settings
        self._logins = logins
        self._hub_public_key_pem = hub_public_key_pem
        self._now = now

    # Issue a token.

    def _issue_in(
        self, uow: UnitOfWork, site_id: str, name: str, actor: str, hours: float | None
    ) -> IssuedToken:
        try:
            validate_id("site", site_id)
        except InvalidId as exc:
            raise EnrollmentError(str(exc)) from exc
        now = self._now()
        current = uow.site_access.get(site_id)
        if current is not None and current.state == "enrolled":
            raise EnrollmentError(
                f"site {site_id} is enrolled; `cctv-hub sites revoke --site {site_id}` first to"
                " enroll another box for it"
            )
        token = new_token(site_id)
        expires = expiry(now, self._settings.token_hours if hours is None else hours)
        uow.site_access.put(
            SiteAccess(
                site_id=site_id,
                name=name,
                token_hash=token_hash(token),
                token_expires_at=expires,
                created_at=now,
                created_by=actor,
            )
        )
        detail = {"name": name, "expires_at": expires.isoformat()}
        uow.custody.append(
            actor, CustodyAction.ENROLLMENT_ISSUED, f"site:{site_id}", detail, at=now
        )
        return IssuedToken(site_id, name, token, expires)

    def issue(self, site_id: str, name: str, actor: str, hours: float | None = None) -> IssuedToken:
        issued = self._storage.write(lambda uow: self._issue_in(uow, site_id, name, actor, hours))
        log.info("site %s: enrollment token issued by %s", site_id, actor)
        return issued

    async def aissue(self, site_id: str, name: str, actor: str) -> IssuedToken:
        issued = await self._storage.awrite(
            lambda uow: self._issue_in(uow, site_id, name, actor, None)
        )
        log.info("site %s: enrollment token issued by %s", site_id, actor)
        return issued

    # Enroll a box.

    def _enroll_in(
        self, uow: UnitOfWork, token: str, site_id: str, public_key_pem: str, source: str
    ) -> EnrollmentGrant:
        now = self._now()
        access = check_enrollment(
            uow.site_access.by_token_hash(token_hash(token)), token, site_id, now
        )
        password = new_broker_password()
        site = register_in(uow, site_id, access.name, public_key_pem, f"enrollment:{source}", now)
        enrolled = replace(access, enrolled_at=now, broker_password_hash=password_hash(password))
        uow.site_access.put(enrolled)
        self._logins.write(_site_hashes(uow))
        return EnrollmentGrant(
            site_id=site_id,
            name=access.name,
            key_id=site.key_id,
            broker_host=self._settings.site_host,
            broker_port=self._settings.site_broker_port,
            broker_username=site_id,
            broker_password=password,
            broker_ca_pem=self._ca_pem(),
            hub_public_key_pem=self._hub_public_key_pem,
        )

    async def aenroll(
        self, token: str, site_id: str, public_key_pem: str, source: str
    ) -> EnrollmentGrant:
        """The grant for a good token; EnrollmentRefused with the reason, or
        EnrollmentThrottled when this address has been refused too often (the login throttle's
        per-address count and delays: a token guessed is a password guessed)."""
        where = throttle.address_key(source)
        policy = self._throttle
        if policy is not None:
            now = self._now()
            wait = await self._storage.aread(
                lambda uow: throttle.refusal(
                    policy, uow.login_failures.get("address", where), None, now
                )
            )
            if wait is not None:
                log.warning("site %s: enrollment from %s refused: delayed %s", site_id, where, wait)
                raise EnrollmentThrottled(wait)
        try:
            grant = await self._storage.awrite(
                lambda uow: self._enroll_in(uow, token, site_id, public_key_pem, source)
            )
        except EnrollmentRefused as exc:
            log.warning("site %s: enrollment from %s refused: %s", site_id, source, exc.message)
            if policy is not None:
                now = self._now()
                await self._storage.awrite(lambda uow: _count_failure(uow, policy, where, now))
            raise
        log.info("site %s: enrolled from %s with key %s", site_id, source, grant.key_id)
        self._reload_quietly()
        return grant

    # Revoke.

    def _revoke_in(
        self, uow: UnitOfWork, site_id: str, actor: str, reason: str
    ) -> tuple[SiteAccess, bool]:
        """The revoked access, and whether a broker login went with it (the broker reloads)."""
        access = uow.site_access.get(site_id)
        if access is None:
            raise EnrollmentError(f"site {site_id} was never enrolled (no token issued for it)")
        if access.revoked_at is not None:
            return access, False
        now = self._now()
        revoked = replace(access, revoked_at=now, revoked_by=actor, broker_password_hash=None)
        uow.site_access.put(revoked)
        detail = {"name": access.name, "state_before": access.state}
        if reason:
            detail["reason"] = reason
        uow.custody.append(actor, CustodyAction.REVOKE_SITE, f"site:{site_id}", detail, at=now)
        self._logins.write(_site_hashes(uow))
        return revoked, access.broker_password_hash is not None

    def revoke(self, site_id: str, actor: str, reason: str = "") -> SiteAccess:
        """Remove the site's broker login and reload the broker (BrokerReloadError if it
        cannot be told: the login is gone from the file, but a running broker still has it).
        A site still waiting for its box has its token cancelled the same way."""
        revoked, had_login = self._storage.write(
            lambda uow: self._revoke_in(uow, site_id, actor, reason)
        )
        log.info("site %s: revoked by %s (%s)", site_id, actor, reason or "no reason given")
        if had_login:
            self._logins.reload()
        return revoked

    async def arevoke(self, site_id: str, actor: str, reason: str = "") -> SiteAccess:
        revoked, had_login = await self._storage.awrite(
            lambda uow: self._revoke_in(uow, site_id, actor, reason)
        )
        log.info("site %s: revoked by %s (%s)", site_id, actor, reason or "no reason given")
        if had_login:
            self._logins.reload()
        return revoked

    # Reads and upkeep.

    async def all(self) -> list[SiteAccess]:
        return await self._storage.aread(lambda uow: uow.site_access.all())

    def list_all(self) -> list[SiteAccess]:
        return self._storage.read(lambda uow: uow.site_access.all())

    def sync(self, *, reload: bool = True) -> None:
        """Rebuild the password file from the database (init, hub start) and reload."""
        self._storage.read(lambda uow: self._logins.write(_site_hashes(uow)))
        if reload:
            self._reload_quietly()

    def _reload_quietly(self) -> None:
        try:
            self._logins.reload()
        except BrokerReloadError as exc:
            log.warning("%s", exc)

    def _ca_pem(self) -> str:
        return _read_text(self._settings.ca_cert_path)


def _count_failure(uow: UnitOfWork, policy: ThrottlePolicy, where: str, now: datetime) -> None:
    entry = policy.after_failure(uow.login_failures.get("address", where), "address", where, now)
    uow.login_failures.put(entry)
    uow.login_failures.bound_addresses(policy.max_tracked_addresses)


def _site_hashes(uow: UnitOfWork) -> dict[str, str]:
    return {
        access.site_id: access.broker_password_hash
        for access in uow.site_access.all()
        if access.broker_password_hash is not None and access.revoked_at is None
    }


def _read_text(path: Path) -> str:
    return path.read_text(encoding="ascii")
