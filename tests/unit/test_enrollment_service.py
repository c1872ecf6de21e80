"""The enrollment service on each engine (SQLite, PostgreSQL): refused tokens count against the
address with its failed logins (POST /api/enroll is rate-limited by the login throttle), a revoked
site's status is logged as revoked, and cancelling a token that was never used does not signal
the broker."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from cctv_common.evidence.signing import public_key_pem
from hub.broker_pki import make_ca
from hub.domain.enrollment import EnrollmentRefused
from hub.services.broker_logins import BrokerLogins, BrokerReloadError
from hub.services.enrollment import EnrollmentService, EnrollmentThrottled
from hub.services.login_throttle import ThrottlePolicy
from hub.services.sites import SiteService
from hub.settings_enrollment import EnrollmentSettings
from hub.storage.ports import HubStorage
from tests.support.hub_kit import online_status
from tests.support.storage_engines import Engine

POLICY = ThrottlePolicy(
    free_failures=2,
    first_delay=timedelta(seconds=30),
    max_delay=timedelta(minutes=15),
    forget_after=timedelta(hours=1),
    max_tracked_addresses=100,
)


@pytest.fixture
def parts(tmp_path: Path, engine: Engine) -> Iterator[tuple[EnrollmentService, HubStorage, Path]]:
    settings = EnrollmentSettings(broker_dir=tmp_path / "broker", reload_command=("false",))
    settings.broker_dir.mkdir()
    make_ca(settings, "hub-1")
    storage: HubStorage = engine.storage
    logins = BrokerLogins(settings, "hub", "hub-password-long-enough")
    hub_key = public_key_pem(Ed25519PrivateKey.generate())
    yield (
        EnrollmentService(storage, settings, logins, hub_key, throttle_policy=POLICY),
        storage,
        tmp_path,
    )


def test_refused_tokens_are_throttled_per_address(
    parts: tuple[EnrollmentService, HubStorage, Path],
) -> None:
    service, _storage, _ = parts
    token = service.issue("high-street", "High Street", "supervisor").token
    key = public_key_pem(Ed25519PrivateKey.generate())
    wrong = "high-street." + "x" * 43
    for _ in range(POLICY.free_failures + 1):
        with pytest.raises(EnrollmentRefused):
            asyncio.run(service.aenroll(wrong, "high-street", key, "10.0.0.5"))
    with pytest.raises(EnrollmentThrottled) as throttled:  # even the right token must wait
        asyncio.run(service.aenroll(token, "high-street", key, "10.0.0.5"))
    assert throttled.value.retry_after_seconds == 30
    grant = asyncio.run(service.aenroll(token, "high-street", key, "10.0.0.6"))  # another box
    assert grant.broker_username == "high-street"


def test_revoked_site_status_is_logged_as_revoked_and_a_waiting_token_cancels_quietly(
    parts: tuple[EnrollmentService, HubStorage, Path], caplog: pytest.LogCaptureFixture
) -> None:
    service, storage, _ = parts
    waiting = service.issue("bus-station", "Bus Station", "supervisor")
    # reload_command is `false`: a revoke that signalled the broker would raise.
    assert service.revoke(waiting.site_id, "supervisor", "wrong site id").state == "revoked"
    sites = SiteService(storage)
    token = service.issue("high-street", "High Street", "supervisor").token
    key = public_key_pem(Ed25519PrivateKey.generate())
    asyncio.run(service.aenroll(token, "high-street", key, "10.0.0.5"))
    with pytest.raises(BrokerReloadError, match="reload command exited 1"):
        service.revoke("high-street", "supervisor", "box stolen")  # its login went: reload
    now = datetime.now(UTC)
    status = online_status(("cam-1",), now - timedelta(hours=1), now).to_bytes()
    with caplog.at_level(logging.WARNING, logger="hub.services.sites"):
        asyncio.run(sites.apply_status("high-street", status))
    assert "site high-street is revoked; its status is ignored" in caplog.text
    assert "not registered" not in caplog.text
    shown = asyncio.run(sites.with_cameras("high-street"))
    assert shown is not None and shown[0].state == "revoked"
