"""Login throttling and logins in the custody log (issue 9, defect 8).

It used to be: five bad tries locked any known user out, even against the right password; no
limit per client; 10,000 junk names cleared the table. Through the app over TestClient (one
client address per TestClient) on a real database, and the Authenticator for the many-name runs.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from devkit.waiting import wait_until
from hub.services.auth import LoginRefused
from hub.services.login_throttle import FailureLog, ThrottlePolicy, address_key
from hub.settings import LoginSettings
from tests.support.hub_config import HubFiles, RunningHub, running_hub, write_hub_config
from tests.support.hub_kit import USERS, auth

ATTACKER = "203.0.113.66"
OWNER = "198.51.100.7"


@pytest.fixture
def files(tmp_path: Path) -> HubFiles:
    # A long first delay: no delay runs out while a slow machine runs the test.
    return write_hub_config(tmp_path, login={"first_delay_seconds": 600})


@pytest.fixture
def hub(files: HubFiles) -> Iterator[RunningHub]:
    with running_hub(files, client=(ATTACKER, 40000)) as running:
        yield running


def from_address(hub: RunningHub, address: str) -> TestClient:
    """Another client of the same running app (no second lifespan)."""
    return TestClient(hub.client.app, client=(address, 40001))


def login(client: TestClient, user: str, password: str | None = None) -> Any:
    return client.post(
        "/api/session", json={"username": user, "password": password or USERS[user][1]}
    )


def throttle_rows(hub: RunningHub) -> list[dict[str, Any]]:
    return hub.database.read(lambda db: list(db.query("SELECT * FROM login_throttle")))


def custody(hub: RunningHub, action: str) -> list[dict[str, Any]]:
    rows = from_address(hub, "192.0.2.1").get("/api/audit?limit=5000", auth=auth("auditor"))
    return [row for row in rows.json() if row["action"] == action]


@pytest.mark.usefixtures("hub_engine")  # SQLite, then PostgreSQL
def test_the_owner_gets_in_while_an_attacker_is_delayed(hub: RunningHub) -> None:
    for _ in range(20):
        response = login(hub.client, "pc-two", "guess")
        assert response.status_code in (401, 429)
    refused = login(hub.client, "pc-two")  # the right password, from the attacker's address
    assert refused.status_code == 429 and "try again in" in refused.json()["detail"]
    assert int(refused.headers["retry-after"]) >= 1
    owner = login(from_address(hub, OWNER), "pc-two")
    assert owner.status_code == 200 and owner.json()["username"] == "pc-two"


def test_the_delay_doubles_from_the_free_failures_up_to_the_cap() -> None:
    policy = ThrottlePolicy.of(
        LoginSettings(free_failures=3, first_delay_seconds=2, max_delay_seconds=60)
    )
    delays = [policy.delay_after(n).total_seconds() for n in range(1, 11)]
    assert delays == [0, 0, 0, 2, 4, 8, 16, 32, 60, 60]
    assert policy.delay_after(10**9) == timedelta(seconds=60)  # no huge numbers


@pytest.mark.usefixtures("hub_engine")  # SQLite, then PostgreSQL
def test_after_the_delay_the_right_password_works_from_the_same_address(tmp_path: Path) -> None:
    files = write_hub_config(tmp_path, login={"free_failures": 2, "first_delay_seconds": 0.3})
    with running_hub(files, client=(OWNER, 40000)) as hub:
        for _ in range(3):
            assert login(hub.client, "pc-one", "typo").status_code == 401
        assert login(hub.client, "pc-one").status_code == 429
        wait_until(lambda: login(hub.client, "pc-one").status_code == 200, "the delay to pass")
        assert throttle_rows(hub) == []  # a success clears the address and the user


@pytest.mark.usefixtures("hub_engine")  # SQLite, then PostgreSQL
def test_a_user_under_attack_delays_addresses_that_have_failed_but_not_clean_ones(
    hub: RunningHub,
) -> None:
    for _ in range(8):
        login(from_address(hub, "203.0.113.1"), "pc-two", "guess")
    # Another address that has failed before (against any name) waits for pc-two's delay.
    dirty = from_address(hub, "203.0.113.2")
    assert login(dirty, "nobody-at-all", "x").status_code == 401
    assert login(dirty, "pc-two").status_code == 429
    assert login(from_address(hub, OWNER), "pc-two").status_code == 200


@pytest.mark.usefixtures("hub_engine")  # SQLite, then PostgreSQL
def test_the_throttle_survives_a_restart(files: HubFiles) -> None:
    with running_hub(files, client=(ATTACKER, 40000)) as hub:
        for _ in range(6):
            login(hub.client, "pc-one", "guess")
        assert login(hub.client, "pc-one").status_code == 429
    with running_hub(files, client=(ATTACKER, 40000)) as hub:
        assert login(hub.client, "pc-one").status_code == 429
        assert login(from_address(hub, OWNER), "pc-one").status_code == 200


@pytest.mark.usefixtures("hub_engine")  # SQLite, then PostgreSQL
def test_ten_thousand_junk_names_neither_clear_nor_bloat_the_table(hub: RunningHub) -> None:
    for _ in range(6):
        login(from_address(hub, "203.0.113.9"), "pc-two", "guess")
    before = {(r["kind"], r["key"]): r["failures"] for r in throttle_rows(hub)}
    assert before[("user", "pc-two")] == 6
    auth_ = hub.context.auth

    async def junk(count: int, address: str) -> None:
        for n in range(count):
            try:
                await auth_.check_password(f"junk-{n}", "x", address)
            except LoginRefused:
                pass

    hub.client.portal.call(junk, 10_000, ATTACKER)  # type: ignore[union-attr]
    after = {(r["kind"], r["key"]): r["failures"] for r in throttle_rows(hub)}
    assert after[("user", "pc-two")] == 6  # not cleared
    assert set(after) == set(before) | {("address", ATTACKER)}  # one row for all 10,000 names
    # Six free failures, then one more each time the doubling delay ran out during the run:
    # the rest were refused before any password work.
    assert 6 <= after[("address", ATTACKER)] < 20


@pytest.mark.usefixtures("hub_engine")  # SQLite, then PostgreSQL
def test_addresses_are_bounded_and_forgetting_them_keeps_the_users(tmp_path: Path) -> None:
    files = write_hub_config(
        tmp_path, login={"max_tracked_addresses": 100, "first_delay_seconds": 600}
    )
    with running_hub(files) as hub:
        for _ in range(6):
            login(from_address(hub, "203.0.113.9"), "pc-two", "guess")
        auth_ = hub.context.auth

        async def spread(count: int) -> None:
            for n in range(count):
                try:
                    await auth_.check_password(f"junk-{n}", "x", f"10.{n // 250}.{n % 250}.1")
                except LoginRefused:
                    pass

        hub.client.portal.call(spread, 400)  # type: ignore[union-attr]
        rows = throttle_rows(hub)
        addresses = [r for r in rows if r["kind"] == "address"]
        assert len(addresses) == 100
        assert "203.0.113.9" not in {r["key"] for r in addresses}  # the longest idle went first
        [user] = [r for r in rows if r["kind"] == "user"]
        assert (user["key"], user["failures"]) == ("pc-two", 6)
        # pc-two is still delayed for every address on record, and open to a clean one.
        assert login(from_address(hub, "10.1.99.1"), "pc-two").status_code == 429
        assert login(from_address(hub, OWNER), "pc-two").status_code == 200


@pytest.mark.usefixtures("hub_engine")  # SQLite, then PostgreSQL
def test_logins_and_failures_are_custody_rows_and_failures_are_aggregated(
    tmp_path: Path,
) -> None:
    files = write_hub_config(tmp_path, login={"free_failures": 100})
    with running_hub(files, client=(ATTACKER, 40000)) as hub:
        for n in range(40):
            assert login(hub.client, f"not-a-user-{n}", "x").status_code == 401
        failed = custody(hub, "login_failed")
        counts = [row["detail"]["address_failures"] for row in failed]
        assert counts == [1, 2, 4, 8, 16, 32]  # log2 of 40 rows, each with the count so far
        assert all(row["detail"]["username"] is None for row in failed)  # junk names not kept
        assert sum(row["detail"]["not_in_earlier_rows"] for row in failed) == 40 - 6 - 8
        owner = from_address(hub, OWNER)
        form = owner.post(
            "/login",
            data={"username": "pc-one", "password": USERS["pc-one"][1]},
            follow_redirects=False,
        )
        assert form.status_code == 303
        owner.post("/logout", follow_redirects=False)
        for _ in range(3):
            owner.get("/api/me", auth=auth("operator"))
        logins = [(r["actor"], r["detail"]["via"]) for r in custody(hub, "login")]
        assert ("pc-one", "form") in logins
        assert logins.count(("operator", "basic")) == 1  # one row per user and address
        assert [r["actor"] for r in custody(hub, "logout")] == ["pc-one"]


def test_the_failure_log_is_capped_per_hour() -> None:
    log = FailureLog(max_rows_per_hour=3)
    now = datetime(2024, 1, 1, tzinfo=UTC)
    written = [log.should_record(1, None, now) for _ in range(5)]
    assert written == [True, True, True, False, False]
    assert log.take_unrecorded() == 2
    assert log.should_record(1, None, now + timedelta(hours=1))


def test_ipv6_clients_are_throttled_by_their_64() -> None:
    assert address_key("2001:db8:1:2:aaaa::1") == address_key("2001:db8:1:2:bbbb::9")
    assert address_key("2001:db8:1:3::1") != address_key("2001:db8:1:2::1")
    assert address_key("::ffff:192.0.2.5") == "192.0.2.5"
    assert address_key(None) == "unknown"
