"""Storage ports for footage from elsewhere (issue 12 item 6): upload links, tus uploads and
outside items, in domain terms. Part of ``hub.storage.ports.UnitOfWork``."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from hub.domain.uploads.links import LinkUse, UploadLink
from hub.domain.uploads.records import OutsideItem, TusState, TusUpload


class UploadLinks(Protocol):
    def add(self, link: UploadLink) -> None: ...

    def get(self, link_id: str) -> UploadLink | None: ...

    def by_token_hash(self, token_hash: str) -> UploadLink | None: ...

    def for_request(self, reference: str) -> list[UploadLink]: ...

    def revoke(self, link_id: str, by: str, now: datetime) -> UploadLink: ...

    def use(self, link_id: str) -> LinkUse:
        """Files kept or still arriving under the link, and their declared bytes."""
        ...


class TusUploads(Protocol):
    def add(self, upload: TusUpload) -> None: ...

    def get(self, upload_id: str) -> TusUpload | None: ...

    def end(
        self,
        upload_id: str,
        state: TusState,
        now: datetime,
        *,
        error: str | None = None,
        outside_id: str | None = None,
    ) -> None: ...

    def receiving(self) -> list[TusUpload]: ...

    def claim_patch(
        self, upload_id: str, claimant: str, offset: int, now: datetime, stale_before: datetime
    ) -> bool:
        """Make ``claimant`` the one PATCH writing from ``offset`` (False: another holds it, or
        the offset moved)."""
        ...

    def advance_patch(
        self, upload_id: str, claimant: str, offset: int, to: int, now: datetime
    ) -> bool:
        """Compare-and-set the offset under the claim (``to == offset`` renews it)."""
        ...

    def release_patch(self, upload_id: str, claimant: str) -> None: ...


class OutsideItems(Protocol):
    def add(self, item: OutsideItem) -> None: ...

    def get(self, item_id: str) -> OutsideItem | None: ...

    def for_request(self, reference: str) -> list[OutsideItem]: ...

    def mark_deleted(self, item_id: str, now: datetime) -> None: ...

    def live_with_key(self, store_key: str) -> list[OutsideItem]:
        """Items (not deleted) whose bytes are kept under ``store_key``."""
