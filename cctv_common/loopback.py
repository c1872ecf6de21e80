"""Is a broker address on this machine? Plain MQTT is allowed there only, and only when asked."""

from __future__ import annotations

import ipaddress


def is_loopback_host(host: str) -> bool:
    """``localhost`` or a loopback address (127.0.0.0/8, ::1); never a name that might resolve
    elsewhere."""
    if host.lower() in ("localhost", "localhost."):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def plain_mqtt_refusal(host: str, tls: bool) -> str | None:
    """Why ``tls = false`` cannot be used for ``host`` (None when it can)."""
    if tls or is_loopback_host(host):
        return None
    return (
        f"tls = false is refused for {host}: plain MQTT would carry the password and footage in"
        " the clear; it is allowed only to a broker on this machine (127.0.0.1, ::1, localhost)"
    )
