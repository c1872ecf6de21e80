"""Pytest fixtures for a real Mosquitto broker, and a small MQTT 5 client for tests.

``mosquitto_broker`` starts a fresh broker per test with the users ``hub`` and ``observer`` (the
hub's side of the ACL for every site), ``site-a`` and ``site-b`` (each a site's side, for its own
subtree only), random passwords in ``broker.users``. The broker binds client ids to usernames, so
each username is one client at a time: a test that needs a second reader with the hub's rights
while ``hub`` is connected uses ``observer``. ``mqtt_client`` makes connected ``MqttTestClient``s
and disconnects them at the end of the test.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from functools import partial
from typing import Final, Protocol

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from paho.mqtt.subscribeoptions import SubscribeOptions

from devkit.deploy_broker import DeployConfigBroker
from devkit.local_broker import HUB_USER, MosquittoBroker
from tests.support.site_rig import site_broker

SITE_A: Final = "site-a"
SITE_B: Final = "site-b"
OBSERVER: Final = "observer"
# Safety limit for waiting on the broker; tests never assert on how long anything took.
WAIT_SECONDS: Final = 10.0


class MqttTestError(AssertionError):
    """The broker did not answer as a test expected (no CONNACK, SUBACK, PUBACK or message)."""


class MqttTestClient:
    """paho-mqtt 2 (callback API 2, MQTT 5) with blocking helpers for tests.

    ``connect``, ``subscribe`` and ``publish`` wait for the broker's answer and return its reason
    code; received messages queue up for ``next_message``.
    """

    def __init__(
        self,
        broker: MosquittoBroker,
        username: str,
        password: str | None = None,
        *,
        client_id: str = "",
        clean_start: bool = True,
        session_expiry_seconds: int = 0,
    ) -> None:
        self.broker = broker
        self.username = username
        self.clean_start = clean_start
        self.session_expiry_seconds = session_expiry_seconds
        self.messages: queue.Queue[mqtt.MQTTMessage] = queue.Queue()
        self.session_present: bool | None = None
        # Connections lost other than by our own disconnect (e.g. taken over by another login).
        self.dropped = 0
        self._leaving = False
        self._lock = threading.Condition()
        self._connack: ReasonCode | None = None
        self._acks: dict[int, list[ReasonCode]] = {}
        self._client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5
        )
        self._client.username_pw_set(
            username, broker.password(username) if password is None else password
        )
        self._client.on_connect = self._on_connect
        self._client.on_subscribe = self._on_subscribe
        self._client.on_publish = self._on_publish
        self._client.on_message = self._on_message
        self._client.on_disconnect = self._on_disconnect

    @property
    def paho(self) -> mqtt.Client:
        return self._client

    # paho callbacks (on paho's network thread).

    def _on_connect(
        self,
        client: mqtt.Client,
        userdata: object,
        flags: mqtt.ConnectFlags,
        reason_code: ReasonCode,
        properties: Properties | None,
    ) -> None:
        if reason_code.is_failure:
            # Refused: stop here rather than let paho's network thread retry the login.
            client.disconnect()
        with self._lock:
            self._connack = reason_code
            self.session_present = flags.session_present
            self._lock.notify_all()

    def _on_subscribe(
        self,
        client: mqtt.Client,
        userdata: object,
        mid: int,
        reason_codes: list[ReasonCode],
        properties: Properties | None,
    ) -> None:
        with self._lock:
            self._acks[mid] = reason_codes
            self._lock.notify_all()

    def _on_publish(
        self,
        client: mqtt.Client,
        userdata: object,
        mid: int,
        reason_code: ReasonCode,
        properties: Properties | None,
    ) -> None:
        with self._lock:
            self._acks[mid] = [reason_code]
            self._lock.notify_all()

    def _on_message(self, client: mqtt.Client, userdata: object, message: mqtt.MQTTMessage) -> None:
        self.messages.put(message)

    def _on_disconnect(
        self,
        client: mqtt.Client,
        userdata: object,
        flags: mqtt.DisconnectFlags,
        reason_code: ReasonCode,
        properties: Properties | None,
    ) -> None:
        with self._lock:
            if not self._leaving:
                self.dropped += 1

    # Blocking helpers.

    def connect(self) -> ReasonCode:
        """Connect and wait for the CONNACK. A refused client is stopped, not retried."""
        properties = Properties(PacketTypes.CONNECT)
        properties.SessionExpiryInterval = self.session_expiry_seconds
        self._client.connect(
            self.broker.host,
            self.broker.port,
            keepalive=30,
            clean_start=self.clean_start,
            properties=properties,
        )
        self._client.loop_start()
        with self._lock:
            if not self._lock.wait_for(lambda: self._connack is not None, WAIT_SECONDS):
                self.disconnect()
                raise MqttTestError(f"no CONNACK for {self.username}")
            reason = self._connack
        assert reason is not None
        if reason.is_failure:
            self.disconnect()
        return reason

    def _wait_ack(self, mid: int, what: str) -> list[ReasonCode]:
        with self._lock:
            if not self._lock.wait_for(lambda: mid in self._acks, WAIT_SECONDS):
                raise MqttTestError(f"no {what} for message id {mid} ({self.username})")
            return self._acks.pop(mid)

    def subscribe(self, topic_filter: str, qos: int = 1, *, no_local: bool = False) -> ReasonCode:
        options = SubscribeOptions(qos=qos, noLocal=no_local)
        result, mid = self._client.subscribe(topic_filter, options=options)
        if result != mqtt.MQTT_ERR_SUCCESS or mid is None:
            raise MqttTestError(f"subscribe {topic_filter} not sent: {mqtt.error_string(result)}")
        return self._wait_ack(mid, "SUBACK")[0]

    def publish(
        self, topic: str, payload: bytes, qos: int = 1, *, retain: bool = False
    ) -> ReasonCode:
        """Publish and, for QoS 1 and 2, wait for the broker's acknowledgement."""
        info = self._client.publish(topic, payload, qos=qos, retain=retain)
        if info.rc != mqtt.MQTT_ERR_SUCCESS:
            raise MqttTestError(f"publish to {topic} not sent: {mqtt.error_string(info.rc)}")
        return self._wait_ack(info.mid, "PUBACK")[0]

    def next_message(self, timeout: float = WAIT_SECONDS) -> mqtt.MQTTMessage:
        try:
            return self.messages.get(timeout=timeout)
        except queue.Empty:
            raise MqttTestError(f"{self.username} received no message") from None

    def disconnect(self) -> None:
        with self._lock:
            self._leaving = True
        self._client.disconnect()
        self._client.loop_stop()


class MqttClientFactory(Protocol):
    def __call__(
        self,
        username: str,
        password: str | None = None,
        *,
        client_id: str = "",
        clean_start: bool = True,
        session_expiry_seconds: int = 0,
    ) -> MqttTestClient: ...


@pytest.fixture
def mosquitto_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MosquittoBroker]:
    """A running broker with users hub, observer, site-a and site-b (``broker.users``)."""
    kind = partial(MosquittoBroker, hub_users=(HUB_USER, OBSERVER))
    with site_broker(
        kind, tmp_path_factory.mktemp("mosquitto"), OBSERVER, SITE_A, SITE_B
    ) as broker:
        yield broker


@pytest.fixture
def mqtt_client(mosquitto_broker: MosquittoBroker) -> Iterator[MqttClientFactory]:
    """Make connected test clients on ``mosquitto_broker``; all are disconnected afterwards."""
    made: list[MqttTestClient] = []

    def make(
        username: str,
        password: str | None = None,
        *,
        client_id: str = "",
        clean_start: bool = True,
        session_expiry_seconds: int = 0,
    ) -> MqttTestClient:
        client = MqttTestClient(
            mosquitto_broker,
            username,
            password,
            client_id=client_id,
            clean_start=clean_start,
            session_expiry_seconds=session_expiry_seconds,
        )
        made.append(client)
        reason = client.connect()
        if reason.is_failure:
            raise MqttTestError(f"{username} could not connect: {reason}")
        return client

    yield make
    for client in made:
        client.disconnect()


def tls_client(
    broker: DeployConfigBroker, user: str, *, client_id: str = "", password: str | None = None
) -> MqttTestClient:
    """A test client (not yet connected) for the deploy broker's TLS listener."""
    client = MqttTestClient(broker, user, password, client_id=client_id)
    client.paho.tls_set(ca_certs=str(broker.certs / "ca.crt"))
    return client
