"""How both ends connect to the broker: MQTT 5 with a persistent session.

``clean_start=False`` with a session expiry makes the broker keep the client's subscriptions and
queue its QoS 1 messages while it is away, so a restarted agent or hub gets what it missed.
paho connects in the background and retries until the broker answers.
"""

from __future__ import annotations

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties


def connect_persistent(
    client: mqtt.Client, host: str, port: int, keepalive: int, session_expiry_seconds: int
) -> None:
    """Start connecting ``client`` with a persistent session, and its network thread."""
    properties = Properties(PacketTypes.CONNECT)
    properties.SessionExpiryInterval = session_expiry_seconds
    client.connect_async(host, port, keepalive=keepalive, clean_start=False, properties=properties)
    client.loop_start()
