"""Reading outside items: who may see a request's footage from elsewhere, and the custody row
for every view and download. Supervisors and operators see them at once; a police officer of
the request once it is released (as with site clips)."""

from __future__ import annotations

from hub.domain.acl import Role
from hub.domain.custody import CustodyAction
from hub.domain.request_records import RequestRecord
from hub.domain.requests.states import RequestState
from hub.domain.uploads.links import UploadRefused
from hub.domain.uploads.records import OutsideItem
from hub.storage.ports import HubStorage, UnitOfWork

_RELEASED = frozenset({RequestState.RELEASED, RequestState.CLOSED})


def may_see_outside(record: RequestRecord, username: str, role: Role) -> bool:
    if role in (Role.OPERATOR, Role.SUPERVISOR):
        return True
    return role is Role.POLICE and record.request.may_see(username) and record.state in _RELEASED


class OutsideItemReader:
    def __init__(self, storage: HubStorage) -> None:
        self._storage = storage

    async def for_request(self, reference: str, username: str, role: Role) -> list[OutsideItem]:
        def read(uow: UnitOfWork) -> list[OutsideItem]:
            record = uow.requests.get(reference)
            if record is None or not may_see_outside(record, username, role):
                raise UploadRefused(404, f"there is no request {reference} that you may see")
            return uow.outside_items.for_request(reference)

        return await self._storage.aread(read)

    async def visible(self, item_id: str, username: str, role: Role) -> OutsideItem:
        """The item if this user may see it (404 otherwise; 410 once deleted)."""

        def read(uow: UnitOfWork) -> OutsideItem:
            item = uow.outside_items.get(item_id)
            record = None if item is None else uow.requests.get(item.request)
            if item is None or record is None or not may_see_outside(record, username, role):
                raise UploadRefused(404, f"there is no outside item {item_id} that you may see")
            if item.deleted_at is not None:
                raise UploadRefused(410, f"outside item {item_id} was deleted; its file is gone")
            return item

        return await self._storage.aread(read)

    async def record_access(
        self, item: OutsideItem, username: str, *, download: bool, first_byte: int
    ) -> None:
        """A ``download`` row per download, a ``view`` row per view (a request from byte 0)."""
        if not download and first_byte != 0:
            return
        action = CustodyAction.DOWNLOAD if download else CustodyAction.VIEW
        detail = {"sha256": item.sha256, "request": item.request, "source": item.source}
        await self._storage.awrite(
            lambda uow: uow.custody.append(username, action, f"outside:{item.id}", detail)
        )
