"""Several hub workers: which subscriptions are shared, request ids that name their worker, and
the settings that turn it on."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from pydantic import ValidationError

from cctv_common.evidence.signing import load_or_create_private_key
from cctv_common.wire.topics import HUB_SUBSCRIPTIONS, hub_subscriptions
from hub.services.site_requests import PendingReplies
from hub.settings import BrokerSettings, HubSettings
from hub.settings_database import DatabaseSettings


def test_ingest_is_shared_and_replies_are_not() -> None:
    assert hub_subscriptions(None) == HUB_SUBSCRIPTIONS
    shared = {sub.filter for sub in hub_subscriptions("hub")}
    assert "$share/hub/cctv/v1/sites/+/clips/+/chunk/+" in shared
    assert "$share/hub/cctv/v1/sites/+/clips/+/manifest" in shared
    assert "$share/hub/cctv/v1/sites/+/status" in shared
    # Every worker gets each live answer and snapshot reply; no_local is never shared.
    assert "cctv/v1/sites/+/live/+/answer" in shared
    assert "cctv/v1/sites/+/snapshots/+/reply" in shared
    assert all(not s.filter.startswith("$share") for s in hub_subscriptions("hub") if s.no_local)


def test_request_ids_name_their_worker() -> None:
    mine: PendingReplies[str] = PendingReplies("w1")
    other: PendingReplies[str] = PendingReplies("w2")
    request = mine.new_id()
    assert request.startswith("w1-") and len(request) <= 64
    assert mine.is_mine(request) and not other.is_mine(request)
    assert PendingReplies[str]().is_mine(request)  # one hub: every reply is its own


def test_shared_group_needs_a_worker_id_and_database_urls_hold_no_password(
    tmp_path: Path,
) -> None:
    with pytest.raises(ValidationError, match="worker_id"):
        BrokerSettings(tls=False, shared_group="hub")
    broker = BrokerSettings(tls=False, shared_group="hub", worker_id="w1")
    assert broker.worker_id == "w1"
    with pytest.raises(ValidationError, match="password"):
        DatabaseSettings(url="postgresql://hub:secret@db.example.org/cctv")
    with pytest.raises(ValidationError, match="postgresql://"):
        DatabaseSettings(url="mysql://db.example.org/cctv")
    settings = HubSettings(
        hub_id="h",
        data_dir=tmp_path,
        database=DatabaseSettings(url="postgresql://hub@db.example.org:5432/cctv"),
    )
    assert settings.database.url == "postgresql://hub@db.example.org:5432/cctv"


def _key_of(path: str) -> bytes:
    key = load_or_create_private_key(Path(path))
    return key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


def test_workers_starting_together_share_one_hub_key(tmp_path: Path) -> None:
    """Hub workers on one data_dir create the hub key at the same moment: each reads one whole
    key, the same one (before, one could read the other's empty file and fail to start)."""
    for round_ in range(5):
        path = tmp_path / f"r{round_}" / "hub_key.pem"
        with multiprocessing.get_context("fork").Pool(4) as pool:
            keys = pool.map(_key_of, [str(path)] * 4)
        assert len(set(keys)) == 1
        assert [p.name for p in path.parent.iterdir()] == ["hub_key.pem"]
        assert path.stat().st_mode & 0o777 == 0o600
