"""Several hub workers: which subscriptions are shared, request ids that name their worker, and
the settings that turn it on."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

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
