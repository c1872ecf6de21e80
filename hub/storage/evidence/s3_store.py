"""Evidence in an S3-compatible bucket, behind the same ``EvidenceStore`` port as a folder.

Objects are ``<prefix>ab/cd/<sha256>.mp4``. ``put_file`` streams the staged clip up (one request
below ``part_size_mb``, else a multipart upload), sending every part's SHA-256 for the server to
check, hashing the whole clip as it goes and completing the upload only if that matches the
key; it then reads the object's head back (size, composite checksum, retention). Every full
read (``open``, a ``read_range`` of the whole object) is hashed again and fails with
``ObjectDamaged`` on a mismatch. With ``object_lock_mode`` every object is written under Object
Lock retention; in a versioned bucket (Object Lock needs one) the store reads the *oldest*
version of a key, the one it wrote and locked, so a later upload under the same name cannot
change what is served. What the bucket offers is found by ``probe`` (see docs/scale-out.md).
"""

from __future__ import annotations

import io
import logging
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, Final

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from cctv_common.clock import utc_now
from hub.storage.evidence.s3_objects import (
    LOCK_NOT_CONFIGURED,
    NOT_FOUND_CODES,
    ObjectDamaged,
    StoreReport,
    VerifyingReader,
    content_range_total,
    error_code,
    object_key,
    part_size,
    translate,
    verified_blocks,
)
from hub.storage.evidence.s3_upload import Upload
from hub.storage.evidence.settings import S3Credentials, S3StoreSettings
from hub.storage.evidence.store import (
    READ_BLOCK,
    NotInStore,
    StoreError,
    StoreUnavailable,
    check_key,
)

if TYPE_CHECKING:
    from types_boto3_s3.client import S3Client

log = logging.getLogger(__name__)

VERSION_CACHE_SIZE: Final = 100_000
_BOTO_ERRORS: Final = (BotoCoreError, ClientError)


def make_client(settings: S3StoreSettings, credentials: S3Credentials) -> S3Client:
    """A boto3 S3 client for these settings. Checksums only where the operation needs one (the
    store sends its own SHA-256s): the SDK's default CRC trailers are refused by many servers."""
    config = Config(
        signature_version="s3v4",
        s3={"addressing_style": settings.addressing_style},
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
        connect_timeout=settings.connect_timeout_seconds,
        read_timeout=settings.read_timeout_seconds,
        retries={"max_attempts": settings.max_attempts, "mode": "standard"},
        max_pool_connections=settings.max_connections,
    )
    session = boto3.session.Session()
    token = credentials.session_token
    client: S3Client = session.client(
        "s3",
        endpoint_url=settings.endpoint_url,
        region_name=settings.region,
        aws_access_key_id=credentials.access_key_id,
        aws_secret_access_key=credentials.secret_access_key.get_secret_value(),
        aws_session_token=None if token is None else token.get_secret_value(),
        verify=str(settings.ca_file) if settings.ca_file is not None else True,
        config=config,
    )
    return client


class S3EvidenceStore:
    """The ``EvidenceStore`` port on an S3 bucket. Thread-safe: the hub calls it from threads."""

    def __init__(
        self,
        settings: S3StoreSettings,
        credentials: S3Credentials,
        *,
        client: S3Client | None = None,
        now: Callable[[], datetime] = utc_now,
    ) -> None:
        self.settings = settings
        self.bucket = settings.bucket
        self.endpoint = settings.endpoint_url or f"AWS S3 ({settings.region})"
        self._client = client if client is not None else make_client(settings, credentials)
        self._now = now
        self._lock = threading.Lock()
        self._report: StoreReport | None = None
        self._versions: OrderedDict[str, str] = OrderedDict()

    def __repr__(self) -> str:
        return (
            f"S3EvidenceStore(endpoint={self.endpoint!r}, bucket={self.bucket!r},"
            f" prefix={self.settings.prefix!r})"
        )

    # What the bucket offers.

    def probe(self) -> StoreReport:
        """Ask the server what the bucket offers; never raises (problems are in the report)."""
        problems: list[str] = []
        warnings: list[str] = []
        versioning, lock, retention = "unknown", "unknown", None
        reachable = True
        try:
            self._client.head_bucket(Bucket=self.bucket)
            status = self._client.get_bucket_versioning(Bucket=self.bucket).get("Status")
            versioning = status or "off"
            lock, retention = self._lock_state()
        except ClientError as exc:
            code = error_code(exc)
            if code in ("404", "NoSuchBucket"):
                problems.append(f"bucket {self.bucket} does not exist at {self.endpoint}")
            elif code in ("403", "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch"):
                problems.append(
                    f"the S3 server refused the credentials for bucket {self.bucket} ({code})"
                )
            else:
                problems.append(f"the S3 server answered {code} for bucket {self.bucket}")
        except BotoCoreError as exc:
            reachable = False
            warnings.append(
                f"cannot reach the S3 server {self.endpoint}: {type(exc).__name__}; evidence"
                " cannot be stored or served until it answers"
            )
        mode = self.settings.object_lock_mode
        if reachable and not problems:
            if mode != "none" and lock != "enabled":
                problems.append(
                    f"object_lock_mode = {mode!r} but bucket {self.bucket} has Object Lock"
                    f" {lock}: create the bucket with Object Lock enabled, or set"
                    " object_lock_mode = 'none'"
                )
            elif mode == "none" and retention is None:
                warnings.append(
                    f"evidence in bucket {self.bucket} is not write-once (no Object Lock"
                    " retention): anyone with write access to the bucket can replace or delete"
                    " it; the hub's integrity checks would find the change, not prevent it"
                )
        report = StoreReport(
            self.endpoint,
            self.bucket,
            reachable,
            versioning,
            lock,
            retention,
            tuple(problems),
            tuple(warnings),
        )
        if reachable and not problems:
            with self._lock:
                self._report = report
        return report

    def _lock_state(self) -> tuple[str, str | None]:
        try:
            answer = self._client.get_object_lock_configuration(Bucket=self.bucket)
        except ClientError as exc:
            code = error_code(exc)
            if code == LOCK_NOT_CONFIGURED:
                return "not enabled", None
            return f"not supported ({code})", None
        config = answer.get("ObjectLockConfiguration", {})
        if config.get("ObjectLockEnabled") != "Enabled":
            return "not enabled", None
        default = config.get("Rule", {}).get("DefaultRetention", {})
        if not default:
            return "enabled", None
        period = f"{default['Days']} days" if "Days" in default else f"{default.get('Years')} years"
        return "enabled", f"{default.get('Mode', '?')} for {period}"

    def _versioned(self) -> bool:
        with self._lock:
            report = self._report
        if report is None:
            report = self.probe()
            if not report.reachable:
                raise StoreUnavailable(
                    "the S3 evidence store is not usable: " + "; ".join(report.warnings)
                )
            if report.problems:
                raise StoreError(
                    "the S3 evidence store is not usable: " + "; ".join(report.problems)
                )
        return report.versioned

    # The port.

    def put_file(self, staging_path: Path, sha256: str) -> str:
        check_key(sha256)
        try:
            size = staging_path.stat().st_size
        except OSError as exc:
            raise StoreError(f"cannot store evidence {sha256}: {exc}") from exc
        if self._already_stored(sha256):
            staging_path.unlink(missing_ok=True)
            return sha256
        upload = Upload(
            self._client,
            self.bucket,
            object_key(self.settings.prefix, sha256),
            sha256,
            self.settings.object_lock_mode,
            self._retain_until(),
        )
        if size <= self.settings.part_bytes:
            version, checksum = upload.single(staging_path)
        else:
            version, checksum = upload.multipart(
                staging_path, part_size(size, self.settings.part_bytes)
            )
        upload.check_written(version, size, checksum)
        if version is not None:
            with self._lock:
                self._remember(sha256, version)
        staging_path.unlink(missing_ok=True)
        log.info("evidence %s stored in S3 bucket %s as %s", sha256, self.bucket, upload.name)
        return sha256

    def exists(self, key: str) -> bool:
        try:
            self.size(key)
        except NotInStore:
            return False
        return True

    def size(self, key: str) -> int:
        head = self._head(key)
        return int(head["ContentLength"])

    def open(self, key: str) -> BinaryIO:
        answer = self._get(key, None)
        reader = VerifyingReader(answer["Body"], key, int(answer["ContentLength"]))
        return io.BufferedReader(reader, buffer_size=READ_BLOCK)

    def read_range(self, key: str, start: int, length: int) -> Iterator[bytes]:
        if start < 0 or length < 0:
            raise StoreError(f"range {start}+{length} of evidence {key} is negative")
        if length == 0:
            self.size(key)
            return
        answer = self._get(key, f"bytes={start}-{start + length - 1}")
        total = content_range_total(answer.get("ContentRange"), key)
        yield from verified_blocks(answer["Body"], key, start, length, total)

    def delete(self, key: str) -> None:
        name = object_key(self.settings.prefix, key)
        if not self._versioned():
            self._head(key)
            try:
                self._client.delete_object(Bucket=self.bucket, Key=name)
            except _BOTO_ERRORS as exc:
                raise translate(exc, key, "delete") from exc
            log.info("evidence %s deleted from S3 bucket %s", key, self.bucket)
            return
        versions, markers = self._list_versions(key)
        if not versions:
            raise NotInStore(f"evidence {key} is not in the store")
        kept: list[str] = []
        for version in versions + markers:
            try:
                self._client.delete_object(Bucket=self.bucket, Key=name, VersionId=version)
            except ClientError as exc:
                kept.append(self._why_kept(key, name, version, exc))
            except BotoCoreError as exc:
                kept.append(f"version {version}: {type(exc).__name__}")
        with self._lock:
            self._versions.pop(key, None)
        if kept:
            raise StoreError(f"evidence {key} is kept by the S3 server: " + "; ".join(kept[:5]))
        log.info("evidence %s deleted from S3 bucket %s (every version)", key, self.bucket)

    # Writing.

    def _already_stored(self, sha256: str) -> bool:
        """True when an intact copy is stored; a damaged one is replaced (unversioned bucket)
        or refused (versioned: its first version cannot be replaced), never trusted."""
        try:
            with self.open(sha256) as handle:
                while handle.read(READ_BLOCK):
                    pass
        except NotInStore:
            return False
        except ObjectDamaged as exc:
            if self._versioned():
                raise StoreError(
                    f"cannot store evidence {sha256}: the bucket already holds a damaged copy"
                    f" that cannot be replaced ({exc}); the staged copy is kept"
                ) from exc
            log.warning("evidence %s: replacing a damaged copy in S3 (%s)", sha256, exc)
            return False
        return True

    def _retain_until(self) -> datetime | None:
        days = self.settings.object_lock_days
        return None if days is None else self._now() + timedelta(days=days)

    # Reading.

    def _head(self, key: str) -> dict[str, Any]:
        return self._read(key, self._client.head_object)

    def _get(self, key: str, byte_range: str | None) -> dict[str, Any]:
        return self._read(
            key, self._client.get_object, **({} if byte_range is None else {"Range": byte_range})
        )

    def _read(self, key: str, call: Callable[..., Any], **extra: Any) -> dict[str, Any]:
        """``call`` (HEAD or GET) on the version of ``key`` this hub wrote; once more, with the
        version looked up again, when the one it remembered is gone (``_forget_stale``)."""
        name = object_key(self.settings.prefix, key)
        for attempt in (1, 2):
            args: dict[str, Any] = {"Bucket": self.bucket, "Key": name, **extra}
            version = self._version(key)
            if version is not None:
                args["VersionId"] = version
            try:
                return dict(call(**args))
            except _BOTO_ERRORS as exc:
                if not self._forget_stale(key, version, exc, attempt):
                    raise translate(exc, key, "read") from exc
        raise NotInStore(f"evidence {key} is not in the store")  # pragma: no cover

    def _forget_stale(self, key: str, version: str | None, exc: Exception, attempt: int) -> bool:
        """A remembered version that has gone (deleted outside the hub): look again, once."""
        stale = (
            version is not None
            and attempt == 1
            and isinstance(exc, ClientError)
            and error_code(exc) in NOT_FOUND_CODES
        )
        if stale:
            with self._lock:
                self._versions.pop(key, None)
        return stale

    def _version(self, key: str) -> str | None:
        """In a versioned bucket, the oldest version of ``key``: the one the hub wrote."""
        if not self._versioned():
            return None
        with self._lock:
            known = self._versions.get(key)
            if known is not None:
                self._versions.move_to_end(key)
                return known
        versions, markers = self._list_versions(key)
        if not versions:
            raise NotInStore(f"evidence {key} is not in the store")
        oldest = versions[-1]
        if len(versions) > 1 or markers:
            log.warning(
                "evidence %s has %d version(s) and %d delete marker(s) in S3 bucket %s; the"
                " hub reads the first, version %s, and ignores the rest (not written by it)",
                key,
                len(versions),
                len(markers),
                self.bucket,
                oldest,
            )
        with self._lock:
            self._remember(key, oldest)
        return oldest

    def _remember(self, key: str, version: str) -> None:
        self._versions[key] = version
        self._versions.move_to_end(key)
        while len(self._versions) > VERSION_CACHE_SIZE:
            self._versions.popitem(last=False)

    def _list_versions(self, key: str) -> tuple[list[str], list[str]]:
        """Version ids (newest first) and delete-marker ids of exactly ``key``'s object."""
        name = object_key(self.settings.prefix, key)
        versions: list[str] = []
        markers: list[str] = []
        try:
            pages = self._client.get_paginator("list_object_versions").paginate(
                Bucket=self.bucket, Prefix=name
            )
            for page in pages:
                versions += [v["VersionId"] for v in page.get("Versions", []) if v["Key"] == name]
                markers += [
                    m["VersionId"] for m in page.get("DeleteMarkers", []) if m["Key"] == name
                ]
        except _BOTO_ERRORS as exc:
            raise translate(exc, key, "list the versions of") from exc
        return versions, markers

    def _why_kept(self, key: str, name: str, version: str, exc: ClientError) -> str:
        code = error_code(exc)
        try:
            head = self._client.head_object(Bucket=self.bucket, Key=name, VersionId=version)
        except _BOTO_ERRORS:
            return f"version {version}: {code}"
        until = head.get("ObjectLockRetainUntilDate")
        if head.get("ObjectLockLegalHoldStatus") == "ON":
            return f"version {version} is under an S3 legal hold ({code})"
        if until is not None:
            return (
                f"version {version} is under Object Lock ({head.get('ObjectLockMode')}) until"
                f" {until.isoformat()} ({code})"
            )
        return f"version {version}: {code}"
