"""Sites: registration (config, CLI or API) and the status each agent reports.

A status message is trusted for the site in its topic only: the broker's ACL lets a site's login
publish under its own id and nowhere else. Status from a site that is not registered is dropped
(logged once per site), so an unknown box cannot fill the hub's tables.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from typing import Final

from cctv_common.clock import utc_now
from cctv_common.evidence.signing import KeyFileError, load_public_key
from cctv_common.refusals import Refusals
from cctv_common.wire.payloads import InvalidPayload, SiteStatus
from hub.domain.records import CameraRecord, SiteRecord
from hub.services.custody import CustodyAction
from hub.storage.ports import HubStorage, UnitOfWork

log = logging.getLogger(__name__)

MAX_REMEMBERED_UNKNOWN: Final = 10_000


class SiteKeyError(ValueError):
    """The public key given for a site is not an Ed25519 public key in PEM."""


def register_in(
    uow: UnitOfWork, site_id: str, name: str, public_key_pem: str, actor: str, now: datetime
) -> SiteRecord:
    """Register (or re-key) a site inside a write transaction, with its custody row if changed."""
    try:
        load_public_key(public_key_pem)
    except KeyFileError as exc:
        raise SiteKeyError(f"site {site_id}: {exc}") from exc
    previous = uow.sites.get(site_id)
    site, changed = uow.sites.register(site_id, name, public_key_pem, actor, now)
    if changed:
        detail = {"name": name, "key_id": site.key_id}
        if previous is not None and previous.key_id != site.key_id:
            detail["previous_key_id"] = previous.key_id
        uow.custody.append(actor, CustodyAction.REGISTER_SITE, f"site:{site_id}", detail, at=now)
    return site


class SiteService:
    def __init__(
        self,
        storage: HubStorage,
        *,
        now: Callable[[], datetime] = utc_now,
        refusals: Refusals | None = None,
    ) -> None:
        self._storage = storage
        self._now = now
        self._refusals = refusals or Refusals(log)
        self._unknown_logged: set[str] = set()

    # Reads, for the API.

    async def all_with_cameras(self) -> list[tuple[SiteRecord, list[CameraRecord]]]:
        """Every site with the cameras it last reported; a revoked site's state is "revoked"."""

        def read(uow: UnitOfWork) -> list[tuple[SiteRecord, list[CameraRecord]]]:
            cameras = uow.sites.cameras()
            revoked = {a.site_id for a in uow.site_access.all() if a.revoked_at is not None}
            return [
                (_shown(s, s.id in revoked), [c for c in cameras if c.site_id == s.id])
                for s in uow.sites.all()
            ]

        return await self._storage.aread(read)

    async def with_cameras(self, site_id: str) -> tuple[SiteRecord, list[CameraRecord]] | None:
        """One site with its cameras, or None when it is not registered."""

        def read(uow: UnitOfWork) -> tuple[SiteRecord, list[CameraRecord]] | None:
            site = uow.sites.get(site_id)
            if site is None:
                return None
            access = uow.site_access.get(site_id)
            revoked = access is not None and access.revoked_at is not None
            return _shown(site, revoked), uow.sites.cameras(site_id)

        return await self._storage.aread(read)

    async def register(
        self, site_id: str, name: str, public_key_pem: str, actor: str
    ) -> SiteRecord:
        now = self._now()
        site = await self._storage.awrite(
            lambda uow: register_in(uow, site_id, name, public_key_pem, actor, now)
        )
        self._unknown_logged.discard(site_id)
        log.info("site %s registered by %s with key %s", site_id, actor, site.key_id)
        return site

    async def apply_status(self, site_id: str, payload: bytes) -> None:
        try:
            status = SiteStatus.parse(payload)
        except InvalidPayload as exc:
            self._refusals.refuse("status", "site %s: status dropped: %s", site_id, exc)
            return
        now = self._now()

        def apply(uow: UnitOfWork) -> tuple[str, str | None]:
            site = uow.sites.get(site_id)
            access = uow.site_access.get(site_id)
            if access is not None and access.revoked_at is not None:
                return "revoked", None  # a revoked site's last words are not taken either
            if site is None:
                return "not registered", None
            uow.sites.apply_status(site_id, status, now)
            return "", site.state

        refused, previous = await self._storage.awrite(apply)
        if refused:
            if site_id not in self._unknown_logged:
                if len(self._unknown_logged) >= MAX_REMEMBERED_UNKNOWN:
                    self._unknown_logged.clear()
                self._unknown_logged.add(site_id)
                log.warning("site %s is %s; its status is ignored", site_id, refused)
            return
        if previous != status.state:
            log.info(
                "site %s is %s (%s camera(s) reported)", site_id, status.state, len(status.cameras)
            )


def _shown(site: SiteRecord, revoked: bool) -> SiteRecord:
    """The site as pages and the API show it: "revoked" wins over its last reported state."""
    return replace(site, state="revoked") if revoked else site
