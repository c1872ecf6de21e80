"""The hub's ``[uploads]`` settings: upload links for footage from elsewhere (issue 12 item 6).

Defaults suit a council: a link lasts 7 days and takes up to 2 GiB in at most 20 files; no link
may be made for longer than 30 days or more than 20 GiB. The public routes are rate limited per
client address.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from hub.domain.uploads.links import (
    DEFAULT_MAX_BYTES,
    DEFAULT_MAX_FILES,
    DEFAULT_VALID_DAYS,
    GIB,
    LinkBounds,
)


class UploadSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    default_valid_days: float = Field(
        default=DEFAULT_VALID_DAYS, gt=0, le=365, description="How long a new link lasts"
    )
    default_max_bytes: int = Field(
        default=DEFAULT_MAX_BYTES, gt=0, description="A new link's size limit (all its files)"
    )
    default_max_files: int = Field(
        default=DEFAULT_MAX_FILES, gt=0, le=10_000, description="A new link's number of files"
    )
    max_valid_days: float = Field(
        default=30, gt=0, le=365, description="The longest a supervisor may make a link last"
    )
    max_bytes: int = Field(
        default=20 * GIB, gt=0, description="The largest size limit a supervisor may give"
    )
    max_files: int = Field(default=200, gt=0, le=10_000, description="Most files one link takes")
    staging_dir: Path | None = Field(
        default=None,
        description="Where files arrive until whole and checked; default data_dir/upload-staging",
    )
    requests_per_minute: int = Field(
        default=600, ge=10, le=100_000, description="Public upload requests per client address"
    )
    unknown_tokens_per_hour: int = Field(
        default=30, ge=1, le=10_000, description="Wrong or unknown tokens per client address"
    )
    chunk_bytes: int = Field(
        default=8 * 1024 * 1024,
        ge=64 * 1024,
        le=1024**3,
        description="The upload page sends files in PATCHes of this size (each kept as it ends)",
    )
    sweep_seconds: float = Field(
        default=300, gt=0, le=86_400, description="How often unfinished uploads are looked at"
    )

    def bounds(self) -> LinkBounds:
        return LinkBounds(
            max_valid_days=self.max_valid_days, max_bytes=self.max_bytes, max_files=self.max_files
        )
