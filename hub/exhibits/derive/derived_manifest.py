"""The manifest of a derived item: what it was made from, how, by whom; signed by the hub key.

It repeats the source's camera, site, window and clock offset so that a reader of the derived
item alone (or verify.html) can say what it shows, and names the source by SHA-256 (and the
SHA-256 of the source's signed manifest) so that it can be traced to its master exhibit.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from cctv_common import __version__
from cctv_common.clock import iso_utc
from cctv_common.evidence.manifest import Manifest, canonical_json
from cctv_common.evidence.signing import key_id, sign

DERIVED_FORMAT: Final = "cctv-derived-item/1"


@dataclass(frozen=True)
class VideoFacts:
    codec: str
    width: int
    height: int
    fps: float | None
    frames: int
    bytes: int
    sha256: str


@dataclass(frozen=True)
class SignedDerived:
    manifest_bytes: bytes
    signature: str
    item_id: str


def derived_manifest(
    source: Manifest,
    source_manifest_bytes: bytes,
    operation: str,
    parameters: dict[str, Any],
    output: VideoFacts,
    *,
    hub_id: str,
    hub_key: Ed25519PrivateKey,
    created_by: str,
    created_at: datetime,
    item_id: str | None = None,
) -> SignedDerived:
    item_id = item_id or f"derived-{uuid.uuid4().hex}"
    body: dict[str, Any] = {
        "format": DERIVED_FORMAT,
        "item_id": item_id,
        "kind": "derived",
        "made_at": f"hub:{hub_id}",
        "source": {
            "clip_id": source.clip_id,
            "sha256": source.sha256,
            "bytes": source.bytes,
            "manifest_sha256": hashlib.sha256(source_manifest_bytes).hexdigest(),
            "codec": source.codec,
        },
        "operation": {"name": operation, "parameters": parameters},
        "site_id": source.site_id,
        "camera": source.camera.model_dump(mode="json"),
        "delivered": source.delivered.model_dump(mode="json"),
        "codec": output.codec,
        "width": output.width,
        "height": output.height,
        "frames": output.frames,
        "bytes": output.bytes,
        "sha256": output.sha256,
        "software": {"name": "cctv-evidence hub", "version": __version__},
        "created_at": iso_utc(created_at),
        "created_by": created_by,
        "key_id": key_id(hub_key),
    }
    if source.clock_offset_seconds is not None:
        body["clock_offset_seconds"] = source.clock_offset_seconds
    if output.fps is not None:
        body["fps"] = output.fps
    data = canonical_json(body)
    return SignedDerived(data, sign(hub_key, data), item_id)
