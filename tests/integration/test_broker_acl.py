"""The broker's ACL by direction, and client ids bound to usernames (issue 9, defects 1 and 2).

Every test runs twice: on the generated test config (``devkit.local_broker``) and on the
PRODUCTION files ``deploy/mosquitto/mosquitto.conf`` and ``acl`` (TLS, only ports, paths and
certificates moved; ``devkit.deploy_broker``). "Nothing arrives" is shown with a marker: a
message the same reader may see, sent after the ones that must not arrive; Mosquitto routes one
message at a time, and every publish here waits for its PUBACK, so anything routed before the
marker is in the reader's queue before it.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Final, get_args

import pytest
from paho.mqtt.client import topic_matches_sub

from cctv_common.wire.acl import ACL_RULES, AclRule
from cctv_common.wire.topics import (
    SITES,
    AckTopic,
    ChunkTopic,
    EventsTopic,
    HoldTopic,
    JobTopic,
    LiveTopic,
    ManifestTopic,
    ProgressTopic,
    SnapshotTopic,
    StatusTopic,
    Topic,
    UplinkCapTopic,
    job_topic,
    progress_topic,
    status_topic,
)
from devkit.deploy_broker import DeployConfigBroker
from devkit.local_broker import HUB_USER, MosquittoBroker
from tests.support.mosquitto_fixtures import SITE_A, SITE_B, MqttTestClient, tls_client

NOT_AUTHORIZED: Final = 135
SITE_WRITES: Final = ("write", "readwrite")
SITE_READS: Final = ("read", "readwrite")

# One example of every topic kind in cctv_common/wire/topics.py, and who writes it.
EXAMPLES: Final[dict[type, list[tuple[object, str]]]] = {
    StatusTopic: [(StatusTopic(SITE_A), "site")],
    JobTopic: [(JobTopic(SITE_A, "job-1"), "hub")],
    ProgressTopic: [(ProgressTopic(SITE_A, "job-1"), "site")],
    ManifestTopic: [(ManifestTopic(SITE_A, "clip-1"), "site")],
    ChunkTopic: [(ChunkTopic(SITE_A, "clip-1", 7), "site")],
    AckTopic: [(AckTopic(SITE_A, "clip-1"), "hub")],
    LiveTopic: [
        (LiveTopic(SITE_A, "s1", "offer"), "hub"),
        (LiveTopic(SITE_A, "s1", "answer"), "site"),
        (LiveTopic(SITE_A, "s1", "candidate"), "both"),
        (LiveTopic(SITE_A, "s1", "close"), "hub"),
    ],
    SnapshotTopic: [
        (SnapshotTopic(SITE_A, "r1", "request"), "hub"),
        (SnapshotTopic(SITE_A, "r1", "reply"), "site"),
    ],
    EventsTopic: [(EventsTopic(SITE_A), "site")],
    HoldTopic: [(HoldTopic(SITE_A, "hold-1"), "hub")],
    UplinkCapTopic: [(UplinkCapTopic(SITE_A), "hub")],
}
# Topics of the contract (DESIGN.md) that have no topic class yet.
PLANNED: Final = [
    (f"{SITES}/{SITE_A}/events/cam-1", "site"),
]


def rule_for(topic: str, site: str = SITE_A) -> list[AclRule]:
    return [r for r in ACL_RULES if topic_matches_sub(f"{SITES}/{site}/{r.pattern}", topic)]


def writer(rule: AclRule) -> str:
    return {"write": "site", "read": "hub", "readwrite": "both"}[rule.site]


def test_every_topic_kind_has_exactly_one_rule_with_the_right_writer() -> None:
    assert set(EXAMPLES) == set(get_args(Topic)), "a new topic kind needs an ACL rule"
    examples = [(str(t), who) for cases in EXAMPLES.values() for t, who in cases] + PLANNED
    for topic, who in examples:
        rules = rule_for(topic)
        assert len(rules) == 1, f"{topic} matches {[r.pattern for r in rules]}"
        assert writer(rules[0]) == who, topic
    # Only the hub writes jobs, holds, settings and acks.
    for pattern in ("jobs/+", "holds/+", "settings/uplink", "clips/+/ack"):
        [rule] = [r for r in ACL_RULES if r.pattern == pattern]
        assert rule.site == "read" and rule.hub == "readwrite"


def samples(site: str) -> list[tuple[AclRule, str]]:
    """One concrete topic per rule (two for events: the bare topic and one below it)."""
    out = []
    for rule in ACL_RULES:
        topic = f"{SITES}/{site}/" + rule.pattern.replace("+", "x1").replace("/#", "/cam-1")
        out.append((rule, topic))
        if rule.pattern.endswith("/#"):
            out.append((rule, f"{SITES}/{site}/" + rule.pattern.removesuffix("/#")))
    return out


Connect = Callable[..., MqttTestClient]


@pytest.fixture(params=["generated", "deploy"])
def acl_broker(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[tuple[MosquittoBroker, Connect]]:
    users = {name: secrets.token_urlsafe(18) for name in (HUB_USER, SITE_A, SITE_B)}
    deploy = request.param == "deploy"
    broker = (
        DeployConfigBroker(tmp_path / "broker", users)
        if deploy
        else MosquittoBroker(tmp_path / "broker", users)
    )
    made: list[MqttTestClient] = []

    def connect(user: str, *, client_id: str = "") -> MqttTestClient:
        if isinstance(broker, DeployConfigBroker):
            client = tls_client(broker, user, client_id=client_id)
        else:
            client = MqttTestClient(broker, user, client_id=client_id)
        made.append(client)
        reason = client.connect()
        assert not reason.is_failure, f"{user} could not connect: {reason}"
        return client

    with broker:
        try:
            yield broker, connect
        finally:
            for client in made:
                client.disconnect()


def drain_until(client: MqttTestClient, marker: str) -> list[str]:
    seen: list[str] = []
    while (topic := client.next_message().topic) != marker:
        seen.append(topic)
    return seen


def test_each_topic_is_written_and_read_only_in_its_direction(
    acl_broker: tuple[MosquittoBroker, Connect],
) -> None:
    _, connect = acl_broker
    hub, site_a, site_b = connect(HUB_USER), connect(SITE_A), connect(SITE_B)
    for client in (hub, site_a, site_b):
        client.subscribe("#")
    topics = samples(SITE_A)
    for rule, topic in topics:
        by_site = site_a.publish(topic, b"from site-a", retain=True)
        assert (by_site.value == NOT_AUTHORIZED) == (rule.site not in SITE_WRITES), topic
        by_hub = hub.publish(topic, b"from the hub", retain=True)
        assert (by_hub.value == NOT_AUTHORIZED) == (rule.hub == "read"), topic
        assert site_b.publish(topic, b"from site-b", retain=True).value == NOT_AUTHORIZED, topic
    # Markers each reader may see, sent last.
    hub.publish(job_topic(SITE_A, "marker"), b"")
    hub.publish(job_topic(SITE_B, "marker"), b"")
    site_a.publish(progress_topic(SITE_A, "marker"), b"")
    markers = {job_topic(SITE_A, "marker"), job_topic(SITE_B, "marker")}

    readable_by_site = {t for rule, t in topics if rule.site in SITE_READS}
    assert set(drain_until(site_a, job_topic(SITE_A, "marker"))) == readable_by_site
    hub_seen = set(drain_until(hub, progress_topic(SITE_A, "marker"))) - markers
    assert hub_seen == {t for _, t in topics}
    assert drain_until(site_b, job_topic(SITE_B, "marker")) == []

    # Retained messages obey the same rules for a reader who arrives later: a site finds the
    # hub's jobs and acks for it, never one it wrote itself, and never another site's.
    late_b = connect(SITE_B)
    late_b.subscribe(f"{SITES}/+/#")
    hub.publish(job_topic(SITE_B, "marker-2"), b"")
    assert drain_until(late_b, job_topic(SITE_B, "marker-2")) == []


def test_a_site_credential_cannot_forge_what_the_issue_forged(
    acl_broker: tuple[MosquittoBroker, Connect],
) -> None:
    """The attacks of issue 9 from a site's own password: all refused by the broker."""
    _, connect = acl_broker
    site = connect(SITE_A)
    stored = b'{"v":1,"clip_id":"clip-1","state":"stored","evidence_sha256":"' + b"a" * 64 + b'"}'
    assert site.publish(f"{SITES}/{SITE_A}/clips/clip-1/ack", stored).value == NOT_AUTHORIZED
    rejected = b'{"v":1,"clip_id":"clip-1","state":"rejected","reason":"forged"}'
    assert site.publish(f"{SITES}/{SITE_A}/clips/clip-1/ack", rejected).value == NOT_AUTHORIZED
    job = job_topic(SITE_A, "job-forged")
    assert site.publish(job, b'{"v":1}', retain=True).value == NOT_AUTHORIZED
    assert site.publish(f"{SITES}/{SITE_A}/holds/h1", b"{}", retain=True).value == NOT_AUTHORIZED
    # ... nor read what it sends (another site's box cannot learn a clip's SHA-256 this way).
    site.subscribe(f"{SITES}/{SITE_A}/clips/+/manifest")
    assert not site.publish(f"{SITES}/{SITE_A}/clips/clip-1/manifest", b"{}").is_failure
    site.subscribe(job_topic(SITE_A, "marker"))
    connect(HUB_USER).publish(job_topic(SITE_A, "marker"), b"")
    assert drain_until(site, job_topic(SITE_A, "marker")) == []


def test_another_login_cannot_knock_the_hub_or_an_agent_off(
    acl_broker: tuple[MosquittoBroker, Connect],
) -> None:
    broker, connect = acl_broker
    hub = connect(HUB_USER, client_id="hub-e2e")
    agent = connect(SITE_A, client_id=f"agent-{SITE_A}")
    hub.subscribe(f"{SITES}/+/status")
    agent.subscribe(f"{SITES}/{SITE_A}/jobs/+")
    # Ten rounds of site-b's credentials asking for every id the hub and the agent use.
    for _ in range(10):
        for client_id in ("hub-e2e", HUB_USER, f"agent-{SITE_A}", SITE_A):
            intruder = connect(SITE_B, client_id=client_id)
            intruder.disconnect()
    # Both are still connected, were never dropped, and still talk.
    assert hub.dropped == 0 and agent.dropped == 0
    assert not agent.publish(status_topic(SITE_A), b"still here").is_failure
    assert hub.next_message().payload == b"still here"
    assert not hub.publish(job_topic(SITE_A, "job-1"), b"still here").is_failure
    assert agent.next_message().payload == b"still here"
    log = broker.log_text()
    assert f"Client {HUB_USER} already connected" not in log
    assert f"Client {SITE_A} already connected" not in log
    # The broker named every connection after its login, whatever id it asked for.
    assert "hub-e2e" not in log and f"agent-{SITE_A}" not in log
