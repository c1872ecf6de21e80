"""What an export package is made from: plain values, no hub storage objects.

A master exhibit is a clip exactly as the evidence store holds it, with the manifest bytes the
site agent signed, that signature, and the site's public key. A derived item (a working copy or
a redacted copy) is a file the hub made from a master, with a manifest the hub signed. Each
carries the custody rows that concern it, as the custody log's rows (``AuditRow.as_dict()``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

Opener = Callable[[], BinaryIO]
CustodyRow = Mapping[str, Any]
_REFERENCE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ./_-]{0,63}$")


class ExportError(Exception):
    """The package cannot be made; nothing was left behind. The message says which item and why."""


def check_reference(reference: str) -> str:
    if not _REFERENCE.match(reference):
        raise ExportError(
            f"exhibit reference {reference[:80]!r} is not 1-64 letters, digits, space, . / _ -"
        )
    return reference


def opener_for(path: Path) -> Opener:
    return lambda: path.open("rb")


@dataclass(frozen=True)
class MasterExhibit:
    reference: str  # e.g. "JS/1": the exhibit reference the officer gives it
    open: Opener  # the stored clip, exactly as stored
    manifest_bytes: bytes  # exactly the bytes the site signed
    signature: str  # base64 Ed25519 over manifest_bytes by the site key
    site_public_key_pem: str
    custody_rows: Sequence[CustodyRow] = ()


@dataclass(frozen=True)
class DerivedExhibit:
    reference: str  # e.g. "JS/1/R1"
    derived_from: str  # the master exhibit's reference
    open: Opener
    manifest_bytes: bytes  # a derived-item manifest, signed by the hub key
    signature: str
    custody_rows: Sequence[CustodyRow] = ()


@dataclass(frozen=True)
class OutsideExhibit:
    """Footage from elsewhere (an upload link): the file exactly as it arrived, the uploader's
    statement, and the receipt the hub signed when it arrived ("not from a site agent")."""

    reference: str  # e.g. "JS/3"
    open: Opener  # the stored file, exactly as uploaded
    filename: str  # the uploader's name for it (text only, never a path)
    media_type: str
    statement: Mapping[str, Any]
    receipt: bytes  # canonical JSON the hub signed: names the file's SHA-256 and size
    receipt_signature: str  # base64 Ed25519 over receipt by the hub key
    custody_rows: Sequence[CustodyRow] = ()


@dataclass(frozen=True)
class PackageRequest:
    package_id: str
    created_by: str  # the user who exported it
    created_at: datetime
    hub_id: str
    hub_key: Ed25519PrivateKey
    masters: Sequence[MasterExhibit]
    derived: Sequence[DerivedExhibit] = ()
    outside: Sequence[OutsideExhibit] = ()
    disclosure: Mapping[str, Any] = field(default_factory=dict)  # the request's disclosure entry
    request_reference: str = ""  # the footage request (issue 11), when there is one
