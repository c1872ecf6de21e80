"""One evidence object going up to S3: a single request, or a multipart upload whose every part
carries its SHA-256 (the server refuses a part that does not match). The whole clip is hashed
as it is read for sending and the upload is completed only if that hash is the key; a failed
multipart upload is aborted, so no partial object is left. ``check_written`` reads the new
object's head back: size, (composite) checksum, and the Object Lock retention asked for.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Literal

from botocore.exceptions import BotoCoreError, ClientError

from hub.storage.evidence.s3_objects import b64, composite_sha256, translate
from hub.storage.evidence.store import StoreError

if TYPE_CHECKING:
    from types_boto3_s3.client import S3Client

log = logging.getLogger(__name__)

CONTENT_TYPE: Final = "video/mp4"
_BOTO_ERRORS: Final = (BotoCoreError, ClientError)


@dataclass(frozen=True)
class Upload:
    client: S3Client
    bucket: str
    name: str  # the object key
    sha256: str  # the evidence key: what the bytes must hash to
    lock_mode: Literal["none", "governance", "compliance"]
    retain_until: datetime | None

    def single(self, staging: Path) -> tuple[str | None, str]:
        """PUT the file in one request with its SHA-256; (version id, checksum sent)."""
        try:
            data = staging.read_bytes()
        except OSError as exc:
            raise StoreError(f"cannot store evidence {self.sha256}: {exc}") from exc
        digest = hashlib.sha256(data).digest()
        if digest.hex() != self.sha256:
            raise StoreError(
                f"cannot store evidence {self.sha256}: the staged file hashes to {digest.hex()}"
            )
        try:
            answer = self.client.put_object(
                Key=self.name, Body=data, ChecksumSHA256=b64(digest), **self._write_args()
            )
        except _BOTO_ERRORS as exc:
            raise translate(exc, self.sha256, "store") from exc
        return answer.get("VersionId"), b64(digest)

    def multipart(self, staging: Path, part_bytes: int) -> tuple[str | None, str]:
        """Upload in parts of ``part_bytes``; (version id, composite checksum expected)."""
        try:
            created = self.client.create_multipart_upload(
                Key=self.name, ChecksumAlgorithm="SHA256", **self._write_args()
            )
        except _BOTO_ERRORS as exc:
            raise translate(exc, self.sha256, "store") from exc
        upload_id = created["UploadId"]
        try:
            parts, digests = self._parts(staging, part_bytes, upload_id)
            done = self.client.complete_multipart_upload(
                Bucket=self.bucket,
                Key=self.name,
                UploadId=upload_id,
                MultipartUpload={"Parts": parts},  # type: ignore[typeddict-item]
            )
        except BaseException as exc:
            self._abort(upload_id)
            if isinstance(exc, _BOTO_ERRORS):
                raise translate(exc, self.sha256, "store") from exc
            raise
        return done.get("VersionId"), composite_sha256(digests)

    def check_written(self, version: str | None, size: int, checksum: str) -> None:
        """The new object's head: its size and checksum must be what was sent; a retention the
        server did not apply is logged as an error (the object is stored, but not write-once)."""
        args: dict[str, Any] = {"Bucket": self.bucket, "Key": self.name, "ChecksumMode": "ENABLED"}
        if version is not None:
            args["VersionId"] = version
        try:
            head = self.client.head_object(**args)
        except _BOTO_ERRORS as exc:
            raise translate(exc, self.sha256, "check") from exc
        if head["ContentLength"] != size:
            raise StoreError(
                f"evidence {self.sha256} was stored as {head['ContentLength']} bytes, not {size}"
            )
        stored = head.get("ChecksumSHA256")
        if stored is not None and stored != checksum:
            raise StoreError(
                f"evidence {self.sha256} was stored with SHA-256 checksum {stored}, not {checksum}"
            )
        if self.lock_mode != "none" and head.get("ObjectLockMode") != self.lock_mode.upper():
            log.error(
                "EVIDENCE NOT LOCKED: evidence %s was stored in S3 bucket %s without the %s"
                " retention asked for (the server says %s); it is not write-once",
                self.sha256,
                self.bucket,
                self.lock_mode,
                head.get("ObjectLockMode"),
            )

    def _write_args(self) -> dict[str, Any]:
        args: dict[str, Any] = {
            "Bucket": self.bucket,
            "ContentType": CONTENT_TYPE,
            "Metadata": {"sha256": self.sha256},
        }
        if self.lock_mode != "none":
            args["ObjectLockMode"] = self.lock_mode.upper()
            args["ObjectLockRetainUntilDate"] = self.retain_until
        return args

    def _parts(
        self, staging: Path, part_bytes: int, upload_id: str
    ) -> tuple[list[dict[str, Any]], list[bytes]]:
        whole = hashlib.sha256()
        parts: list[dict[str, Any]] = []
        digests: list[bytes] = []
        try:
            handle = staging.open("rb")
        except OSError as exc:
            raise StoreError(f"cannot store evidence {self.sha256}: {exc}") from exc
        with handle:
            while block := handle.read(part_bytes):
                number = len(parts) + 1
                whole.update(block)
                digest = hashlib.sha256(block).digest()
                answer = self.client.upload_part(
                    Bucket=self.bucket,
                    Key=self.name,
                    UploadId=upload_id,
                    PartNumber=number,
                    Body=block,
                    ChecksumSHA256=b64(digest),
                )
                echoed = answer.get("ChecksumSHA256")
                if echoed is not None and echoed != b64(digest):
                    raise StoreError(
                        f"cannot store evidence {self.sha256}: the S3 server recorded part"
                        f" {number} with SHA-256 {echoed}, not {b64(digest)}"
                    )
                parts.append(
                    {"PartNumber": number, "ETag": answer["ETag"], "ChecksumSHA256": b64(digest)}
                )
                digests.append(digest)
        if whole.hexdigest() != self.sha256:
            raise StoreError(
                f"cannot store evidence {self.sha256}: the staged file hashed to"
                f" {whole.hexdigest()} while it was sent; nothing is stored"
            )
        return parts, digests

    def _abort(self, upload_id: str) -> None:
        try:
            self.client.abort_multipart_upload(
                Bucket=self.bucket, Key=self.name, UploadId=upload_id
            )
        except _BOTO_ERRORS as exc:
            log.warning(
                "evidence %s: could not abort multipart upload %s: %s", self.sha256, upload_id, exc
            )
