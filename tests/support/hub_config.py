"""A hub as an operator sets it up: a TOML settings file (so the CLI reads the same one), the
app over TestClient on a real SQLite file, and evidence put in the way ingest leaves it."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi.testclient import TestClient

from cctv_common.evidence.signing import public_key_pem
from devkit.configs import hub_toml, write_toml
from hub.app import create_app
from hub.context import HubContext
from hub.domain.records import EvidenceItem
from hub.settings import HubSettings, load_settings
from hub.storage.engine import AnyDatabase, open_database
from tests.support.hub_engines import database_section
from tests.support.hub_kit import (
    SITE,
    RecordingLink,
    insert_evidence,
    report_status,
    user_settings,
)


@dataclass
class HubFiles:
    config: Path
    settings: HubSettings
    site_key: Ed25519PrivateKey

    def stored_file(self, item: EvidenceItem) -> Path:
        key = item.store_key
        return self.settings.evidence_dir / key[:2] / key[2:4] / f"{key}.mp4"


def write_hub_config(folder: Path, **sections: Any) -> HubFiles:
    """``hub.toml`` in ``folder`` with the test users and site; ``sections`` add or replace."""
    key = Ed25519PrivateKey.generate()
    data = hub_toml(
        hub_id="test-hub",
        data_dir="data",
        sites=[{"site_id": SITE, "name": "Site A", "public_key_pem": public_key_pem(key)}],
        users=[user.model_dump(mode="json") for user in user_settings()],
        **(database_section() | sections),  # the running test's engine
    )
    config = write_toml(folder / "hub.toml", data)
    return HubFiles(config, load_settings(config), key)


def write_bare_config(path: Path) -> Path:
    """A ``hub.toml`` with only a hub id and ``data_dir`` (and the running test's engine)."""
    return write_toml(path, {"hub_id": "hub-1", "data_dir": "data", **database_section()})


@dataclass
class RunningHub:
    client: TestClient
    database: AnyDatabase
    files: HubFiles

    @property
    def context(self) -> HubContext:
        context: HubContext = self.client.app.state.hub  # type: ignore[attr-defined]
        return context

    def evidence(self, requested_by: str, size: int = 100_000) -> tuple[EvidenceItem, bytes]:
        data = secrets.token_bytes(size)
        item = insert_evidence(
            self.files.settings, self.database, self.files.site_key, data, requested_by=requested_by
        )
        return item, data


@contextmanager
def running_hub(files: HubFiles, **client: Any) -> Iterator[RunningHub]:
    """The app with its lifespan (start and stop, so the shutdown checkpoint is written)."""
    database = open_database(files.settings)
    try:
        with TestClient(create_app(files.settings, database, RecordingLink()), **client) as test:
            report_status(database)
            yield RunningHub(test, database, files)
    finally:
        database.close()
