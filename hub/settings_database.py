"""The hub's ``database_url`` setting: PostgreSQL for several hub workers, checked once at start."""

from __future__ import annotations

from typing import Annotated, Final
from urllib.parse import urlsplit

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

DATABASE_URL_HELP: Final = (
    "PostgreSQL for several hub workers (postgresql://user@host:5432/db, the password in"
    " ~/.pgpass or PGPASSFILE, never here); leave out for SQLite in data_dir"
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
