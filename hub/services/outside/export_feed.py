"""What the court export reads of footage from elsewhere (the i12 contract): a request's outside
items, each with a way to open its bytes, its SHA-256, size, file name, media type, the
uploader's statement and the hub's signed receipt. The export copies them under
``exhibits/<REF>/`` with their statement; it should hash what it copies against ``sha256``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any, BinaryIO

from hub.domain.uploads.records import OUTSIDE_SOURCE
from hub.storage.evidence.store import EvidenceStore
from hub.storage.ports import HubStorage


@dataclass(frozen=True)
class OutsideUpload:
    item_id: str  # OUT-...
    request: str
    filename: str
    media_type: str
    size: int
    sha256: str
    statement: dict[str, Any]
    uploaded_at: str  # ISO-8601 UTC
    receipt: bytes  # canonical JSON the hub signed
    receipt_signature: str  # base64 Ed25519, the hub's key
    open: Callable[[], BinaryIO]  # the stored bytes, from 0
    source: str = OUTSIDE_SOURCE


def verified_uploads(
    storage: HubStorage, store: EvidenceStore, reference: str
) -> list[OutsideUpload]:
    """Every outside item of request ``reference`` (blocking: call from a worker thread, as the
    export's zip builder runs). Only whole, checked and stored uploads become items."""
    items = storage.read(lambda uow: uow.outside_items.for_request(reference))
    return [
        OutsideUpload(
            item_id=item.id,
            request=item.request,
            filename=item.filename,
            media_type=item.media_type,
            size=item.size,
            sha256=item.sha256,
            statement=item.statement,
            uploaded_at=item.uploaded_at.isoformat(),
            receipt=item.receipt,
            receipt_signature=item.receipt_signature,
            open=partial(store.open, item.store_key),
        )
        for item in items
    ]
