"""HTTP Basic without a scrypt per request (issue 16, dispatch latency): a password that passed is
remembered by a keyed hash, per user *and stored hash*, for a while; revocation stays exact."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from hub.services import auth as auth_module
from hub.services.passwords import hash_password, verify_password
from hub.services.verified_passwords import VerifiedPasswords
from hub.storage.engine import storage_for
from tests.support.hub_config import running_hub, write_hub_config
from tests.support.hub_kit import USERS, auth

T0 = datetime(2026, 12, 1, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


def test_only_the_same_password_against_the_same_stored_hash_passes() -> None:
    remembered = VerifiedPasswords(now=Clock())
    remembered.remember("dc-smith", "right horse", "scrypt$old")
    assert remembered.passed("dc-smith", "right horse", "scrypt$old")
    assert not remembered.passed("dc-smith", "wrong horse", "scrypt$old")
    assert not remembered.passed("dc-smith", "right horse", "scrypt$new")  # password changed
    assert not remembered.passed("pc-jones", "right horse", "scrypt$old")


def test_an_entry_expires_and_the_oldest_go_past_the_bound() -> None:
    clock = Clock()
    remembered = VerifiedPasswords(lifetime=timedelta(minutes=10), max_entries=2, now=clock)
    remembered.remember("a", "pw", "h")
    clock.now = T0 + timedelta(minutes=10, seconds=1)
    assert not remembered.passed("a", "pw", "h")
    assert len(remembered) == 0
    for user in ("a", "b", "c"):
        remembered.remember(user, "pw", "h")
    assert len(remembered) == 2 and not remembered.passed("a", "pw", "h")
    assert remembered.passed("c", "pw", "h")


def test_the_password_itself_is_not_kept() -> None:
    remembered = VerifiedPasswords(now=Clock())
    remembered.remember("a", "hunter2-secret", "h")
    assert "hunter2-secret" not in repr(vars(remembered))


def test_basic_requests_after_the_first_skip_scrypt_and_revocation_is_immediate(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    checks: list[str] = []

    def counted(password: str, encoded: str) -> bool:
        checks.append(password)
        return verify_password(password, encoded)

    monkeypatch.setattr(auth_module, "verify_password", counted)
    with running_hub(write_hub_config(tmp_path)) as hub:
        client: TestClient = hub.client
        for _ in range(3):
            assert client.get("/api/jobs", auth=auth("supervisor")).status_code == 200
        assert len(checks) == 1
        assert client.get("/api/jobs", auth=("supervisor", "not it")).status_code == 401
        assert len(checks) == 2  # a wrong password always costs scrypt

        # A new password (another worker may have set it): the old one fails at once.
        storage = storage_for(hub.database)
        new_hash = hash_password("a new one")
        storage.write(lambda uow: uow.users.set_password("supervisor", new_hash, T0))
        assert client.get("/api/jobs", auth=auth("supervisor")).status_code == 401
        assert client.get("/api/jobs", auth=("supervisor", "a new one")).status_code == 200

        # Disabled: refused at once, although the password was just checked.
        storage.write(lambda uow: uow.users.set_disabled("supervisor", True, T0))
        assert client.get("/api/jobs", auth=("supervisor", "a new one")).status_code == 401
    old = USERS["supervisor"][1]
    # Each check after the first is one the cache must not answer: a wrong password, the old one
    # against the new hash, the new one once, and a disabled user (a dummy hash, as for a stranger).
    assert checks == [old, "not it", old, "a new one", "a new one"]
