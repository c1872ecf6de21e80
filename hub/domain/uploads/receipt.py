"""The receipt the hub signs for each file it takes from outside: what arrived (SHA-256, size,
type, name), when, under which link, and the uploader's statement, as canonical JSON. The
uploader keeps it; anyone can check it with the hub's public key (``cctv-hub public-key``)."""

from __future__ import annotations

from typing import Any, Final

from cctv_common.clock import iso_utc
from hub.domain.uploads.records import OUTSIDE_SOURCE, OutsideItem

RECEIPT_FORMAT: Final = "cctv-upload-receipt/1"


def receipt_body(item: OutsideItem, hub_id: str) -> dict[str, Any]:
    return {
        "format": RECEIPT_FORMAT,
        "hub": hub_id,
        "item": item.id,
        "link": item.link_id,
        "filename": item.filename,
        "media_type": item.media_type,
        "size": item.size,
        "sha256": item.sha256,
        "received_at": iso_utc(item.uploaded_at),
        "statement": item.statement,
        "source": OUTSIDE_SOURCE,
    }
