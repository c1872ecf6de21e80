"""Upload links for a request: made by a supervisor (shown once), listed, withdrawn; and the
token of a public upload resolved to its link. Each making and withdrawing is a custody row on
the request."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from hub.domain.custody import CustodyAction
from hub.domain.requests.states import RequestState
from hub.domain.uploads.links import (
    LinkBounds,
    LinkDraft,
    LinkUse,
    UploadLink,
    UploadRefused,
    check_draft,
    check_usable,
    make_link,
    new_token,
    token_hash,
    well_formed_token,
)
from hub.storage.ports import HubStorage, UnitOfWork

log = logging.getLogger(__name__)

# A request in these states takes no new footage.
CLOSED_TO_UPLOADS = frozenset(
    {RequestState.DECLINED, RequestState.WITHDRAWN, RequestState.DELETED, RequestState.EXPIRED}
)


@dataclass(frozen=True)
class LinkListing:
    link: UploadLink
    use: LinkUse
    stored: int  # files kept as outside items


@dataclass(frozen=True)
class NewLink:
    link: UploadLink
    token: str  # shown once; the hub keeps only its hash


class UploadLinkService:
    def __init__(
        self, storage: HubStorage, bounds: LinkBounds, *, now: Callable[[], datetime]
    ) -> None:
        self._storage = storage
        self._bounds = bounds
        self._now = now

    async def create(self, reference: str, draft: LinkDraft, by: str) -> NewLink:
        check_draft(draft, self._bounds)
        token = new_token()
        now = self._now()
        link = make_link(draft, request=reference, token=token, created_by=by, now=now)

        def write(uow: UnitOfWork) -> None:
            record = uow.requests.get(reference)
            if record is None:
                raise UploadRefused(404, f"there is no request {reference}")
            if record.state in CLOSED_TO_UPLOADS:
                raise UploadRefused(409, f"request {reference} is {record.state.value}")
            uow.upload_links.add(link)
            uow.custody.append(
                by,
                CustodyAction.UPLOAD_LINK,
                f"request:{reference}",
                {
                    "link": link.id,
                    "made_for": link.recipient_name,
                    "organisation": link.recipient_organisation,
                    "purpose": link.purpose,
                    "expires_at": link.expires_at.isoformat(),
                    "max_bytes": link.max_bytes,
                    "max_files": link.max_files,
                },
            )

        await self._storage.awrite(write)
        log.info("upload link %s made for request %s by %s", link.id, reference, by)
        return NewLink(link, token)

    async def listed(self, reference: str) -> list[LinkListing]:
        def read(uow: UnitOfWork) -> list[LinkListing]:
            stored: dict[str, int] = {}
            for item in uow.outside_items.for_request(reference):
                stored[item.link_id] = stored.get(item.link_id, 0) + 1
            return [
                LinkListing(link, uow.upload_links.use(link.id), stored.get(link.id, 0))
                for link in uow.upload_links.for_request(reference)
            ]

        return await self._storage.aread(read)

    async def revoke(self, reference: str, link_id: str, by: str) -> UploadLink:
        now = self._now()

        def write(uow: UnitOfWork) -> UploadLink:
            link = uow.upload_links.get(link_id)
            if link is None or link.request != reference:
                raise UploadRefused(404, f"request {reference} has no upload link {link_id}")
            if link.revoked_at is not None:
                return link
            revoked = uow.upload_links.revoke(link_id, by, now)
            detail = {"link": link_id, "withdrawn": True}
            uow.custody.append(by, CustodyAction.UPLOAD_LINK, f"request:{reference}", detail)
            return revoked

        revoked = await self._storage.awrite(write)
        log.info("upload link %s of request %s withdrawn by %s", link_id, reference, by)
        return revoked

    async def find(self, token: str) -> UploadLink | None:
        """The link a token opens, whatever its state; None for a token that opens none."""
        if not well_formed_token(token):
            return None
        digest = token_hash(token)
        return await self._storage.aread(lambda uow: uow.upload_links.by_token_hash(digest))

    async def usable(self, token: str) -> UploadLink:
        """The link, or ``UploadRefused``: 404 for an unknown token, 410 expired or withdrawn."""
        link = await self.find(token)
        if link is None:
            raise UploadRefused(404, "this upload link is not known")
        check_usable(link, self._now())
        return link

    async def use(self, link_id: str) -> LinkUse:
        return await self._storage.aread(lambda uow: uow.upload_links.use(link_id))
