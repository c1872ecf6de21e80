"""Pieces of the S3 evidence store that need no server: keys, part sizes, checksums, the
verifying reader, error translation and the report of what the bucket offers.

S3 keeps no SHA-256 of a whole multipart object: its checksum is *composite* (the SHA-256 of the
parts' SHA-256s, ``-N`` after it). So the store hashes the whole object itself, on the way up
and every time it is read back in full (``VerifyingReader``, ``verified_blocks``).
"""

from __future__ import annotations

import base64
import hashlib
import io
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Final, Protocol

from botocore.exceptions import BotoCoreError, ClientError
from urllib3.exceptions import HTTPError as Urllib3Error

from hub.storage.evidence.store import (
    READ_BLOCK,
    NotInStore,
    StoreError,
    StoreUnavailable,
    check_key,
)

log = logging.getLogger(__name__)

MAX_PARTS: Final = 10_000
MIB: Final = 1024**2
NOT_FOUND_CODES: Final = frozenset({"404", "NoSuchKey", "NotFound", "NoSuchVersion"})
# An outage or throttling: the server (or its gateway) cannot answer now; the object may be fine.
SERVER_BUSY_CODES: Final = frozenset({"ServiceUnavailable", "SlowDown"})
OUTAGE_STATUSES: Final = frozenset({502, 503, 504})
LOCK_NOT_CONFIGURED: Final = "ObjectLockConfigurationNotFoundError"
# What each read of a body may raise besides a clean end: connection resets, timeouts, short reads.
STREAM_ERRORS: Final = (BotoCoreError, OSError, Urllib3Error)


class ObjectDamaged(StoreError):
    """An object read back in full does not hash to its key (or has the wrong length)."""


class Body(Protocol):
    """What the store needs of a botocore ``StreamingBody``."""

    def read(self, amt: int | None = None) -> bytes: ...

    def close(self) -> None: ...


def object_key(prefix: str, key: str) -> str:
    """``<prefix>ab/cd/<sha256>.mp4``: the filesystem store's layout, so a folder of evidence
    can be copied into a bucket as it is."""
    check_key(key)
    return f"{prefix}{key[:2]}/{key[2:4]}/{key}.mp4"


def part_size(total: int, configured: int) -> int:
    """The configured part size, raised (to whole MiB) so that no upload needs over 10,000 parts."""
    needed = -(-total // MAX_PARTS)
    if needed <= configured:
        return configured
    return -(-needed // MIB) * MIB


def b64(digest: bytes) -> str:
    return base64.b64encode(digest).decode("ascii")


def composite_sha256(part_digests: list[bytes]) -> str:
    """The checksum S3 gives a multipart object: SHA-256 of the parts' raw SHA-256s, ``-N``."""
    return f"{b64(hashlib.sha256(b''.join(part_digests)).digest())}-{len(part_digests)}"


def error_code(exc: ClientError) -> str:
    error = exc.response.get("Error", {})
    code = str(error.get("Code", ""))
    if not code:
        code = str(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", ""))
    return code


def translate(exc: Exception, key: str, doing: str) -> StoreError:
    """A boto error as the store's own: ``NotInStore`` for a missing object, else ``StoreError``
    naming the key, what was being done and the server's code (never a credential)."""
    if isinstance(exc, ClientError):
        code = error_code(exc)
        if code in NOT_FOUND_CODES:
            return NotInStore(f"evidence {key} is not in the store")
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
        # A 500 (InternalError) that outlasts botocore's retries for one object while the server
        # answers is the store failing to read that object (SeaweedFS answers so for a needle
        # that fails its checksum): a failed check, flagged until a later check passes.
        outage = status in OUTAGE_STATUSES or code in SERVER_BUSY_CODES
        kind = StoreUnavailable if outage else StoreError
        return kind(f"cannot {doing} evidence {key}: the S3 server answered {code}")
    return StoreUnavailable(f"cannot {doing} evidence {key}: {type(exc).__name__}: {exc}")


class VerifyingReader(io.RawIOBase):
    """A whole object's body, hashed as it is read; at its end, ``ObjectDamaged`` unless it
    is ``size`` bytes that hash to ``key``. Read errors become ``StoreError``."""

    def __init__(self, body: Body, key: str, size: int) -> None:
        super().__init__()
        self._body = body
        self._key = key
        self._size = size
        self._hasher = hashlib.sha256()
        self._read = 0
        self._checked = False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        if self._checked:
            return 0
        try:
            data = self._body.read(len(buffer))
        except STREAM_ERRORS as exc:
            raise StoreUnavailable(
                f"reading evidence {self._key} failed after {self._read} bytes:"
                f" {type(exc).__name__}: {exc}"
            ) from exc
        if not data:
            self._checked = True
            check_whole(self._key, self._size, self._read, self._hasher.hexdigest())
            return 0
        self._hasher.update(data)
        self._read += len(data)
        view = memoryview(buffer).cast("B")
        view[: len(data)] = data
        return len(data)

    def close(self) -> None:
        if not self.closed:
            self._body.close()
        super().close()


def check_whole(key: str, size: int, read: int, digest: str) -> None:
    if read != size:
        raise ObjectDamaged(f"evidence {key} read back as {read} bytes; the store said {size}")
    if digest != key:
        raise ObjectDamaged(f"evidence {key} read back from S3 hashes to {digest}, not its key")


def verified_blocks(body: Body, key: str, start: int, length: int, total: int) -> Iterator[bytes]:
    """The blocks of a ranged body. When the range is the whole object its hash is checked and
    the last block held back until it matches, so a damaged object is never served complete."""
    whole = start == 0 and length == total
    hasher = hashlib.sha256()
    held: bytes | None = None
    remaining = length
    try:
        while remaining > 0:
            try:
                block = body.read(min(READ_BLOCK, remaining))
            except STREAM_ERRORS as exc:
                raise StoreUnavailable(
                    f"reading evidence {key} failed at byte {start + length - remaining}:"
                    f" {type(exc).__name__}: {exc}"
                ) from exc
            if not block:
                raise StoreError(f"evidence {key} ended before byte {start + length}")
            remaining -= len(block)
            if not whole:
                yield block
                continue
            hasher.update(block)
            if held is not None:
                yield held
            held = block
        if whole:
            check_whole(key, total, length, hasher.hexdigest())
            if held is not None:
                yield held
    finally:
        body.close()


def content_range_total(value: str | None, key: str) -> int:
    """The object's size from ``Content-Range: bytes a-b/total``."""
    if value is None or "/" not in value:
        raise StoreError(f"the S3 server sent no usable Content-Range for evidence {key}")
    total = value.rsplit("/", 1)[1].strip()
    if not total.isdigit():
        raise StoreError(f"the S3 server sent Content-Range {value!r:.80} for evidence {key}")
    return int(total)


@dataclass(frozen=True)
class StoreReport:
    """What the bucket offers, found at start (``S3EvidenceStore.probe``); said in words."""

    endpoint: str
    bucket: str
    reachable: bool
    versioning: str  # "Enabled", "Suspended", "off", or "unknown"
    object_lock: str  # "enabled", "not enabled", or "not supported (<code>)"
    default_retention: str | None  # e.g. "COMPLIANCE for 2557 days"
    problems: tuple[str, ...]  # the store cannot be used as configured
    warnings: tuple[str, ...]  # it can, but the operator should know

    @property
    def versioned(self) -> bool:
        return self.versioning in ("Enabled", "Suspended")

    @property
    def lock_enabled(self) -> bool:
        return self.object_lock == "enabled"

    def summary(self) -> str:
        retention = (
            f", default retention {self.default_retention}" if self.default_retention else ""
        )
        return (
            f"S3 evidence store {self.endpoint} bucket {self.bucket}: versioning"
            f" {self.versioning}, Object Lock {self.object_lock}{retention}"
        )
