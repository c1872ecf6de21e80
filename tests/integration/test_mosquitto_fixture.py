"""The test broker enforces what production relies on: passwords, per-site ACL, persistence.

"Nothing arrives" is shown without waiting on a clock: after the message that must not arrive,
a marker the same subscriber is allowed to see is sent; Mosquitto routes messages one at a time,
so once the marker is in, anything routed before it would be in too.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from cctv_common.wire.acl import acl_text
from cctv_common.wire.payloads import SiteStatus, offline_status
from cctv_common.wire.topics import job_topic, site_filter, status_topic
from devkit.deploy_broker import DEPLOY, DeployConfigBroker
from devkit.local_broker import MosquittoBroker, login_refusal
from tests.support.mosquitto_fixtures import (
    SITE_A,
    SITE_B,
    MqttClientFactory,
    MqttTestClient,
)

NOT_AUTHORIZED = 135


def drain_until_marker(client: MqttTestClient, marker_topic: str) -> list[str]:
    """Topics received before the marker (the marker itself not included)."""
    seen: list[str] = []
    while True:
        message = client.next_message()
        if message.topic == marker_topic:
            return seen
        seen.append(message.topic)


def test_site_publishes_on_its_own_prefix_and_hub_receives(
    mqtt_client: MqttClientFactory,
) -> None:
    hub = mqtt_client("hub")
    assert not hub.subscribe("cctv/v1/#").is_failure
    site = mqtt_client(SITE_A)

    assert not site.publish(status_topic(SITE_A), offline_status("1.0")).is_failure

    message = hub.next_message()
    assert message.topic == status_topic(SITE_A)
    assert SiteStatus.parse(message.payload).state == "offline"


def test_hub_publishes_to_a_site_and_the_site_receives(mqtt_client: MqttClientFactory) -> None:
    site = mqtt_client(SITE_A)
    site.subscribe(site_filter(SITE_A))
    hub = mqtt_client("hub")
    assert not hub.publish(job_topic(SITE_A, "job-1"), b"{}").is_failure
    assert site.next_message().topic == job_topic(SITE_A, "job-1")


def test_site_cannot_publish_on_another_site(mqtt_client: MqttClientFactory) -> None:
    hub = mqtt_client("hub")
    hub.subscribe("cctv/v1/#")
    site_a = mqtt_client(SITE_A)

    refused = site_a.publish(status_topic(SITE_B), b"forged", retain=True)
    outside = site_a.publish("cctv/v1/elsewhere", b"forged")
    site_a.publish(status_topic(SITE_A), b"marker")

    # Mosquitto 2.0 answers an MQTT 5 publish it refuses with "not authorized" and drops it.
    assert refused.value == NOT_AUTHORIZED
    assert outside.value == NOT_AUTHORIZED
    assert drain_until_marker(hub, status_topic(SITE_A)) == []


@pytest.mark.parametrize(
    "topic_filter",
    [site_filter(SITE_B), "cctv/v1/sites/+/status", "cctv/v1/#", "#"],
)
def test_site_cannot_read_another_site(mqtt_client: MqttClientFactory, topic_filter: str) -> None:
    site_a = mqtt_client(SITE_A)
    # Mosquitto 2.0 grants the subscription and then filters every message by the read ACL.
    site_a.subscribe(topic_filter)
    site_a.subscribe(site_filter(SITE_A))
    site_b = mqtt_client(SITE_B)
    hub = mqtt_client("hub")

    assert not site_b.publish(status_topic(SITE_B), b"site-b status").is_failure
    assert not hub.publish(job_topic(SITE_B, "job-b"), b"{}").is_failure
    assert not hub.publish(job_topic(SITE_A, "marker"), b"{}").is_failure

    assert drain_until_marker(site_a, job_topic(SITE_A, "marker")) == []


def test_marker_method_does_see_messages_that_are_allowed(mqtt_client: MqttClientFactory) -> None:
    # Control for the two tests above: the same steps with the hub as reader do show the message.
    hub = mqtt_client("hub")
    hub.subscribe("cctv/v1/sites/+/status")
    hub.subscribe(site_filter(SITE_A))
    site_b = mqtt_client(SITE_B)
    site_b.publish(status_topic(SITE_B), b"site-b status")
    hub.publish(job_topic(SITE_A, "marker"), b"{}")
    assert drain_until_marker(hub, job_topic(SITE_A, "marker")) == [status_topic(SITE_B)]


def test_site_cannot_read_retained_messages_of_another_site(
    mqtt_client: MqttClientFactory,
) -> None:
    site_b = mqtt_client(SITE_B)
    site_b.publish(status_topic(SITE_B), b"retained", retain=True)
    site_a = mqtt_client(SITE_A)
    site_a.subscribe("cctv/v1/sites/+/status")
    site_a.subscribe(job_topic(SITE_A, "marker"))
    hub = mqtt_client("hub")
    hub.publish(job_topic(SITE_A, "marker"), b"marker")
    assert drain_until_marker(site_a, job_topic(SITE_A, "marker")) == []


@pytest.mark.parametrize(
    ("username", "password"),
    [
        (SITE_A, "wrong password"),
        ("nobody", "whatever"),
        ("hub", ""),
    ],
)
def test_bad_logins_are_refused(
    mosquitto_broker: MosquittoBroker, username: str, password: str
) -> None:
    client = MqttTestClient(mosquitto_broker, username, password)
    assert client.connect().is_failure


def test_one_site_cannot_log_in_with_another_sites_password(
    mosquitto_broker: MosquittoBroker,
) -> None:
    client = MqttTestClient(mosquitto_broker, SITE_A, mosquitto_broker.password(SITE_B))
    assert client.connect().is_failure


def test_anonymous_login_is_refused(mosquitto_broker: MosquittoBroker) -> None:
    client = MqttTestClient(mosquitto_broker, SITE_A)
    client.paho.username_pw_set(None, None)
    assert client.connect().is_failure


def test_added_user_can_log_in_while_running(mosquitto_broker: MosquittoBroker) -> None:
    assert login_refusal(mosquitto_broker.host, mosquitto_broker.port, "site-c", "pw-c")
    mosquitto_broker.add_user("site-c", "pw-c")
    assert login_refusal(mosquitto_broker.host, mosquitto_broker.port, "site-c", "pw-c") is None
    assert mosquitto_broker.users["site-c"] == "pw-c"


def test_add_user_refuses_site_names_that_are_not_site_ids(
    mosquitto_broker: MosquittoBroker,
) -> None:
    with pytest.raises(ValueError, match="site id"):
        mosquitto_broker.add_user("a/b", "pw")


def test_acl_is_by_direction_with_no_blanket_rule() -> None:
    # The full matrix is in tests/integration/test_broker_acl.py.
    text = acl_text(["hub"], "a test")
    assert "pattern write cctv/v1/sites/%u/status" in text
    assert "pattern read cctv/v1/sites/%u/clips/+/ack" in text
    assert "user hub\ntopic read cctv/v1/sites/+/status" in text
    assert "readwrite cctv/v1/sites/%u/#" not in text and "cctv/v1/#" not in text


def test_passwords_are_hashed_on_disk(mosquitto_broker: MosquittoBroker) -> None:
    stored = mosquitto_broker.password_path.read_text()
    shown = repr(mosquitto_broker)
    for password in mosquitto_broker.users.values():
        assert password not in stored
        assert password not in shown


@pytest.mark.slow
def test_retained_message_survives_restart(
    mosquitto_broker: MosquittoBroker, mqtt_client: MqttClientFactory
) -> None:
    site = mqtt_client(SITE_A)
    status = offline_status("1.0")
    assert not site.publish(status_topic(SITE_A), status, retain=True).is_failure
    site.disconnect()
    old_port = mosquitto_broker.port

    mosquitto_broker.restart()

    assert mosquitto_broker.port == old_port
    hub = mqtt_client("hub")
    hub.subscribe(status_topic(SITE_A))
    message = hub.next_message()
    assert message.retain
    assert message.payload == status


@pytest.mark.slow
def test_persistent_session_queues_messages_across_restart(
    mosquitto_broker: MosquittoBroker, mqtt_client: MqttClientFactory
) -> None:
    hub = mqtt_client("hub", client_id="hub-test", clean_start=False, session_expiry_seconds=3600)
    hub.subscribe("cctv/v1/sites/+/status")
    hub.disconnect()

    mosquitto_broker.restart()
    site = mqtt_client(SITE_A)
    assert not site.publish(status_topic(SITE_A), b"while the hub was away").is_failure

    again = mqtt_client("hub", client_id="hub-test", clean_start=False, session_expiry_seconds=3600)
    assert again.session_present
    message = again.next_message()
    assert message.topic == status_topic(SITE_A)
    assert message.payload == b"while the hub was away"


def test_large_chunk_sized_messages_pass(mqtt_client: MqttClientFactory) -> None:
    hub = mqtt_client("hub")
    hub.subscribe("cctv/v1/sites/+/clips/+/chunk/+")
    site = mqtt_client(SITE_A)
    payload = bytes(range(256)) * (8 * 1024 * 1024 // 256)
    topic = "cctv/v1/sites/site-a/clips/c1/chunk/0"
    assert not site.publish(topic, payload).is_failure
    message = hub.next_message()
    assert message.topic == topic
    assert message.payload == payload


def test_killed_broker_starts_again_on_the_same_port(
    mosquitto_broker: MosquittoBroker, mqtt_client: MqttClientFactory
) -> None:
    port = mosquitto_broker.port
    mosquitto_broker.kill()
    assert not mosquitto_broker.is_running
    mosquitto_broker.start()
    assert mosquitto_broker.port == port
    assert not mqtt_client(SITE_A).publish(status_topic(SITE_A), b"back").is_failure


# The production example (deploy/mosquitto) must load in the real broker and enforce the same
# rules as the test config.

SHARED_SETTINGS = (
    "per_listener_settings",
    "allow_anonymous",
    "persistence",
    "persistence_file",
    "max_packet_size",
    "max_inflight_messages",
    "max_queued_messages",
    "connection_messages",
    "use_username_as_clientid",
)


def settings(config: str) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for line in config.splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, _, value = line.strip().partition(" ")
            found.setdefault(key, []).append(value)
    return found


def test_deploy_config_matches_test_config_where_it_should() -> None:
    deploy = settings((DEPLOY / "mosquitto.conf").read_text(encoding="utf-8"))
    broker = MosquittoBroker(Path("/nonexistent"), {"hub": "x"})
    generated = settings(broker.config_text())
    for key in SHARED_SETTINGS:
        assert deploy.get(key) == generated.get(key), key
    assert deploy["allow_anonymous"] == ["false"]
    assert "listener" in deploy and all(v.startswith("8883") for v in deploy["listener"])
    acl_rules = settings((DEPLOY / "acl").read_text(encoding="utf-8"))
    assert acl_rules == settings(acl_text(["hub"], "a test"))


@pytest.mark.slow
def test_deploy_config_runs_with_tls_and_enforces_the_acl(tmp_path: Path) -> None:
    users = {"hub": "hub-pw", SITE_A: "a-pw", SITE_B: "b-pw"}
    with DeployConfigBroker(tmp_path / "deploy", users) as broker:

        def client(user: str) -> MqttTestClient:
            made = MqttTestClient(broker, user)
            made.paho.tls_set(ca_certs=str(broker.certs / "ca.crt"))
            assert not made.connect().is_failure
            return made

        hub = client("hub")
        site_a = client(SITE_A)
        try:
            hub.subscribe("cctv/v1/#")
            assert site_a.publish(status_topic(SITE_B), b"forged").value == NOT_AUTHORIZED
            assert not site_a.publish(status_topic(SITE_A), b"marker").is_failure
            assert drain_until_marker(hub, status_topic(SITE_A)) == []
        finally:
            hub.disconnect()
            site_a.disconnect()
        # The listener speaks TLS only: a plain MQTT login gets no CONNACK.
        refusal = login_refusal(broker.host, broker.port, SITE_A, users[SITE_A])
        assert refusal is not None
        assert "CONNACK" in refusal
