"""The site's upload cap set at the hub: through the API (supervisors set and clear it, everyone
who sees sites reads it), published to the site signed and retained and again after a reconnect;
and at the agent, the signed setting replaces the config's cap, a forged or older one changes
nothing, and clearing it hands the site back to its config."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi.testclient import TestClient

from cctv_common.evidence.signing import load_or_create_private_key
from cctv_common.wire.hub_signing import HubSigner, HubVerifier
from cctv_common.wire.payloads import CapWindowPart, UplinkCap
from cctv_common.wire.topics import parse_topic, uplink_cap_topic
from edge_agent.config import AgentConfig
from edge_agent.jobs.runner import JobRunner
from edge_agent.store.outbox import Outbox
from edge_agent.store.segment_index import SegmentIndex
from hub.app import create_app
from hub.storage.engine import open_database
from tests.support.hub_kit import SITE, RecordingLink, auth, make_settings, report_status

OFFICE = {"days": "mon-fri", "start": "08:00", "end": "18:00", "mbps": 5}
MONDAY_9 = datetime(2026, 12, 7, 9, 0)


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[tuple[TestClient, RecordingLink, Path]]:
    settings = make_settings(tmp_path, site_key=Ed25519PrivateKey.generate())
    database = open_database(settings)
    link = RecordingLink()
    try:
        with TestClient(create_app(settings, database, link)) as client:
            report_status(database)
            yield client, link, settings.hub_key_path
    finally:
        database.close()


@pytest.mark.usefixtures("hub_engine")  # SQLite, then PostgreSQL
def test_a_supervisor_sets_the_cap_and_the_site_gets_it_signed_and_retained(
    hub: tuple[TestClient, RecordingLink, Path],
) -> None:
    client, link, key_path = hub
    path = f"/api/sites/{SITE}/uplink-cap"
    assert client.get(path, auth=auth("engineer")).json()["source"] == "site"
    body = {"max_mbps": 20, "windows": [OFFICE]}
    for user in ("engineer", "operator", "pc-one"):
        assert client.put(path, json=body, auth=auth(user)).status_code == 403
    bad = {"windows": [{**OFFICE, "start": "8:00"}]}
    assert client.put(path, json=bad, auth=auth("supervisor")).status_code == 422
    assert (
        client.put("/api/sites/nowhere/uplink-cap", json=body, auth=auth("supervisor")).status_code
        == 404
    )

    answer = client.put(path, json=body, auth=auth("supervisor")).json()
    assert answer["source"] == "hub" and answer["set_by"] == "supervisor"
    assert answer["summary"] == "20 Mbit/s, 5 Mbit/s mon-fri 08:00-18:00"
    assert client.get(path, auth=auth("engineer")).json() == answer
    [(topic, payload, retain)] = [p for p in link.published if p[0] == uplink_cap_topic(SITE)]
    assert retain
    verifier = HubVerifier(load_or_create_private_key(key_path).public_key())
    cap = verifier.open(topic, payload, UplinkCap)
    assert cap.max_mbps == 20 and cap.windows[0].mbps == 5

    cleared = client.delete(path, auth=auth("supervisor")).json()
    assert cleared["source"] == "site"
    last = [p for p in link.published if p[0] == uplink_cap_topic(SITE)][-1]
    assert verifier.open(last[0], last[1], UplinkCap).cleared


def runner_for(tmp_path: Path, hub_key: Ed25519PrivateKey) -> tuple[JobRunner, Outbox]:
    config = AgentConfig.model_validate(
        {
            "site_id": SITE,
            "data_dir": str(tmp_path),
            "uplink": {"tls": False, "max_mbps": 50, "cap": [{**OFFICE, "mbps": 10}]},
        }
    )
    outbox = Outbox(tmp_path)
    runner = JobRunner(
        config=config,
        outbox=outbox,
        index=SegmentIndex(tmp_path / "index.db"),
        key=Ed25519PrivateKey.generate(),
        publisher=RecordingLink(),  # type: ignore[arg-type]
        hub=HubVerifier(hub_key.public_key()),
    )
    return runner, outbox


def test_the_agent_follows_the_hubs_signed_cap_and_ignores_forged_and_older_ones(
    tmp_path: Path,
) -> None:
    hub_key = Ed25519PrivateKey.generate()
    signer = HubSigner(hub_key)
    topic = uplink_cap_topic(SITE)
    now = datetime.now(UTC)

    def sealed(cap: UplinkCap, by: HubSigner = signer) -> bytes:
        return by.seal(topic, cap)

    async def scenario() -> list[float | None]:
        runner, outbox = runner_for(tmp_path, hub_key)
        cap = runner._uploads.cap  # what every chunk is paced by
        cap._local_now = lambda: MONDAY_9
        seen = [cap.cap_bytes_per_second()]  # the config's office-hours 10 Mbit/s
        window = CapWindowPart(days="mon-fri", start="08:00", end="18:00", mbps=2)
        order = UplinkCap(max_mbps=8, windows=(window,), set_at=now, set_by="supervisor")
        runner.handle_message(parse_topic(topic), sealed(order))
        seen.append(cap.cap_bytes_per_second())  # the hub's 2 Mbit/s
        forged = UplinkCap(max_mbps=100, set_at=now + timedelta(1), set_by="x")
        runner.handle_message(
            parse_topic(topic), sealed(forged, HubSigner(Ed25519PrivateKey.generate()))
        )
        older = UplinkCap(max_mbps=100, set_at=now - timedelta(1), set_by="supervisor")
        runner.handle_message(parse_topic(topic), sealed(older))
        seen.append(cap.cap_bytes_per_second())  # still 2
        cleared = UplinkCap(set_at=now + timedelta(seconds=1), set_by="supervisor", cleared=True)
        runner.handle_message(parse_topic(topic), sealed(cleared))
        seen.append(cap.cap_bytes_per_second())  # the config's again
        await runner.stop()
        outbox.close()
        return seen

    assert asyncio.run(scenario()) == [10e6 / 8, 2e6 / 8, 2e6 / 8, 10e6 / 8]
