"""The hub's settings for running as several workers: ``[database] url`` (PostgreSQL, checked once
at start) and the words of ``[broker] shared_group`` and ``worker_id``."""

from __future__ import annotations

from typing import Annotated, Final
from urllib.parse import urlsplit

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

DATABASE_URL_HELP: Final = (
    "PostgreSQL for several hub workers (postgresql://user@host:5432/db, the password in"
    " ~/.pgpass or PGPASSFILE, never here); leave out for SQLite in data_dir"
)


# Several hub workers ([broker] shared_group and worker_id; docs/scale-out.md).
WORKER_PATTERN: Final = r"^[A-Za-z0-9][A-Za-z0-9_]{0,15}$"
SHARED_GROUP_HELP: Final = (
    "Several hub workers: the ingest topics as MQTT 5 shared subscriptions $share/<group>/...,"
    " each message to one worker (every worker its own username and worker_id)"
)
WORKER_HELP: Final = (
    "This worker's id among several (its client id and its live and snapshot request ids"
    " carry it, so that the replies reach it)"
)


def check_database_url(url: str) -> str:
    """A ``postgresql://`` URL naming a host and a database, and no password (a settings file
    is read by more people than the database's password should be)."""
    parsed = urlsplit(url)
    if parsed.scheme not in ("postgresql", "postgres"):
        raise ValueError("must be a postgresql:// URL (leave it out for SQLite in data_dir)")
    if parsed.password:
        raise ValueError(
            "holds a password: put it in ~/.pgpass of the hub's user (or PGPASSFILE), 0600"
        )
    if not parsed.hostname or not parsed.path.strip("/"):
        raise ValueError("must name a host and a database: postgresql://user@host:5432/db")
    return url


DatabaseUrl = Annotated[str, AfterValidator(check_database_url)]


class DatabaseSettings(BaseModel):
    """``[database]``: where the hub keeps its records (SQLite in data_dir unless ``url``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    url: DatabaseUrl | None = Field(default=None, description=DATABASE_URL_HELP)
    pool_size: int = Field(
        default=8, ge=1, le=100, description="PostgreSQL connections this hub process may hold"
    )
    lease_seconds: float = Field(
        default=30,
        ge=1,
        le=3600,
        description=(
            "How long a worker's lease on a background job (scrub, retention, sweeps) lasts"
            " unrenewed: another worker takes the job over this long after its holder died"
        ),
    )
