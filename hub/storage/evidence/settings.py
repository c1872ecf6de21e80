"""The ``[evidence_store]`` settings: where the hub keeps evidence (a folder, or an S3 bucket).

``backend = "filesystem"`` (the default) keeps evidence under ``data_dir/evidence``.
``backend = "s3"`` keeps it in a bucket of any S3-compatible server (AWS S3, SeaweedFS, MinIO,
Ceph RGW, ...). Its credentials come from a file in the AWS shared-credentials format, readable
by the hub only; the secret is held as a ``SecretStr`` and never logged or shown in a repr.
"""

from __future__ import annotations

import configparser
import ipaddress
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Final, Literal, Self
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

MIB: Final = 1024**2
# S3 limits: parts of 5 MiB to 5 GiB (the last may be smaller), at most 10,000 parts.
MIN_PART_BYTES: Final = 5 * MIB
MAX_PART_BYTES: Final = 5 * 1024 * MIB
BUCKET_PATTERN: Final = r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$"
PREFIX_PATTERN: Final = r"^([A-Za-z0-9][A-Za-z0-9._-]*/)*$"
_CREDENTIAL_KEYS: Final = ("aws_access_key_id", "aws_secret_access_key")


class CredentialsError(Exception):
    """The credentials file cannot be used; the message names the file, never its contents."""


@dataclass(frozen=True)
class S3Credentials:
    """An access key pair (and session token); ``repr`` shows the key id only."""

    access_key_id: str
    secret_access_key: SecretStr = field(repr=False)
    session_token: SecretStr | None = field(default=None, repr=False)


class _StrictStoreSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FilesystemStoreSettings(_StrictStoreSettings):
    backend: Literal["filesystem"] = Field(
        default="filesystem", description="Evidence in data_dir/evidence on this machine"
    )


class S3StoreSettings(_StrictStoreSettings):
    """An S3-compatible bucket; see docs/scale-out.md for what the hub checks and why."""

    backend: Literal["s3"] = Field(description="Evidence in an S3-compatible bucket")
    endpoint_url: str | None = Field(
        default=None,
        max_length=500,
        pattern=r"^https?://[^\s/?#]+/?$",
        description="https://host[:port] of the S3 server; leave out for AWS S3 in `region`",
    )
    allow_plain_http: bool = Field(
        default=False,
        description="Allow an http:// endpoint off this machine (evidence would cross the"
        " network unencrypted); loopback is always allowed",
    )
    region: str = Field(
        default="us-east-1",
        min_length=1,
        max_length=64,
        pattern=r"^[a-z0-9-]+$",
        description="Region the requests are signed for (most S3-compatible servers accept any)",
    )
    bucket: Annotated[str, Field(pattern=BUCKET_PATTERN, description="Bucket name")]
    prefix: str = Field(
        default="evidence/",
        max_length=200,
        pattern=PREFIX_PATTERN,
        description="Key prefix: '' or folder names each ending in '/'; objects are"
        " <prefix>ab/cd/<sha256>.mp4, as in the filesystem store",
    )
    addressing_style: Literal["path", "virtual", "auto"] = Field(
        default="path",
        description="path: https://host/bucket/key (most S3-compatible servers);"
        " virtual: https://bucket.host/key (AWS)",
    )
    credentials_file: Path = Field(
        description="AWS shared-credentials file (INI: aws_access_key_id,"
        " aws_secret_access_key); not readable by others"
    )
    credentials_profile: str = Field(
        default="default",
        min_length=1,
        max_length=64,
        pattern=r"^[A-Za-z0-9_.-]+$",
        description="Section of credentials_file to use",
    )
    ca_file: Path | None = Field(
        default=None, description="CA bundle for the endpoint's TLS certificate (default: system)"
    )
    object_lock_mode: Literal["none", "governance", "compliance"] = Field(
        default="none",
        description="Write every object with this Object Lock retention (the bucket must have"
        " Object Lock enabled; the hub checks at start and after every write)",
    )
    object_lock_days: int | None = Field(
        default=None,
        ge=1,
        le=36_500,
        description="Days each object is locked from its upload (needed with a lock mode)",
    )
    part_size_mb: int = Field(
        default=16,
        ge=5,
        le=5 * 1024,
        description="Multipart upload part size in MiB (raised automatically beyond 10,000"
        " parts); clips smaller than one part are sent in a single request",
    )
    connect_timeout_seconds: float = Field(default=10.0, gt=0, le=300)
    read_timeout_seconds: float = Field(default=60.0, gt=0, le=3600)
    max_attempts: int = Field(
        default=5, ge=1, le=20, description="Attempts per request, with backoff, on errors"
    )
    max_connections: int = Field(
        default=32, ge=1, le=1000, description="Connections kept open to the server"
    )

    @model_validator(mode="after")
    def _lock_needs_days(self) -> Self:
        if self.object_lock_mode != "none" and self.object_lock_days is None:
            raise ValueError(f"object_lock_mode = {self.object_lock_mode!r} needs object_lock_days")
        if self.object_lock_mode == "none" and self.object_lock_days is not None:
            raise ValueError("object_lock_days needs object_lock_mode governance or compliance")
        return self

    @field_validator("endpoint_url")
    @classmethod
    def _no_credentials_in_url(cls, value: str | None) -> str | None:
        if value is not None and "@" in value:
            raise ValueError("the endpoint URL must not carry credentials; use credentials_file")
        return value

    @model_validator(mode="after")
    def _plain_http_only_on_loopback(self) -> Self:
        if self.endpoint_url is None or not self.endpoint_url.startswith("http://"):
            return self
        if self.allow_plain_http or _is_loopback(urlsplit(self.endpoint_url).hostname or ""):
            return self
        raise ValueError(
            "endpoint_url is plain http:// off this machine: evidence would cross the network"
            " unencrypted; use https:// or set allow_plain_http = true"
        )

    @property
    def part_bytes(self) -> int:
        return self.part_size_mb * MIB

    def load_credentials(self) -> S3Credentials:
        """Read the key pair from ``credentials_file``; refuses a file others can read."""
        return read_credentials(self.credentials_file, self.credentials_profile)


EvidenceStoreSettings = Annotated[
    FilesystemStoreSettings | S3StoreSettings, Field(discriminator="backend")
]


def read_credentials(path: Path, profile: str) -> S3Credentials:
    try:
        mode = path.stat().st_mode
    except OSError as exc:
        raise CredentialsError(f"cannot read {path}: {exc.strerror or exc}") from exc
    if mode & (stat.S_IROTH | stat.S_IWOTH):
        raise CredentialsError(
            f"{path} can be read or written by any user; make it private (chmod 600, or 640"
            " with the hub's group)"
        )
    parser = configparser.ConfigParser(interpolation=None)
    try:
        with path.open(encoding="utf-8") as handle:
            parser.read_file(handle)
    except (OSError, UnicodeDecodeError, configparser.Error) as exc:
        # configparser errors quote lines of the file; name the file and the kind only.
        raise CredentialsError(
            f"cannot read {path} as an AWS credentials file ({type(exc).__name__})"
        ) from None
    if not parser.has_section(profile):
        raise CredentialsError(f"{path} has no [{profile}] section")
    section = parser[profile]
    missing = [key for key in _CREDENTIAL_KEYS if not section.get(key, "").strip()]
    if missing:
        raise CredentialsError(f"{path} [{profile}] lacks {', '.join(missing)}")
    token = section.get("aws_session_token", "").strip()
    return S3Credentials(
        access_key_id=section["aws_access_key_id"].strip(),
        secret_access_key=SecretStr(section["aws_secret_access_key"].strip()),
        session_token=SecretStr(token) if token else None,
    )


def write_credentials(path: Path, access_key_id: str, secret_access_key: str) -> None:
    """Write a private (0600) AWS credentials file; for tests, the demo and operators' scripts."""
    text = (
        f"[default]\naws_access_key_id = {access_key_id}\n"
        f"aws_secret_access_key = {secret_access_key}\n"
    )
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.chmod(path, 0o600)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
