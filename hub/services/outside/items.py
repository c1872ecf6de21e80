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

    async def opened(
        self, item_id: str, username: str, role: Role, *, download: bool, first_byte: int
    ) -> OutsideItem:
        """The item, with a ``view`` or ``download`` custody row written for this access."""

        def write(uow: UnitOfWork) -> OutsideItem:
            item = uow.outside_items.get(item_id)
            record = None if item is None else uow.requests.get(item.request)
            if item is None or record is None or not may_see_outside(record, username, role):
                raise UploadRefused(404, f"there is no outside item {item_id} that you may see")
            if item.deleted_at is not None:
                raise UploadRefused(410, f"outside item {item_id} was deleted; its file is gone")
            action = CustodyAction.DOWNLOAD if download else CustodyAction.VIEW
            if download or first_byte == 0:
                detail = {"sha256": item.sha256, "request": item.request, "source": item.source}
                uow.custody.append(username, action, f"outside:{item.id}", detail)
            return item

        return await self._storage.awrite(write)
