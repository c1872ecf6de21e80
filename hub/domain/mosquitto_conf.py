"""The Mosquitto 2.0 config ``cctv-hub init`` writes, as pure text.

The same settings as ``deploy/mosquitto/mosquitto.conf`` (which explains each): one TLS
listener, logins from the password file the hub rewrites, the static ACL, client id = username,
persistence, the same queue limits; plus a pid file, so the hub can make the broker reread its
password file (SIGHUP) when a site is enrolled or revoked.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Final

MAX_PACKET_SIZE: Final = 16 * 1024 * 1024
MAX_INFLIGHT_MESSAGES: Final = 64
MAX_QUEUED_MESSAGES: Final = 10_000
MAX_QUEUED_BYTES: Final = 2 * 1024**3


class BrokerPathError(ValueError):
    """Mosquitto's config cannot name a path with white space in it."""


@dataclass(frozen=True)
class BrokerFiles:
    broker_dir: Path
    listen_address: str
    listen_port: int
    ca_cert: Path
    server_cert: Path
    server_key: Path
    passwd: Path
    acl: Path
    pid_file: Path
    run_as: str


def _path(path: Path) -> str:
    text = str(path)
    if any(ch.isspace() for ch in text):
        raise BrokerPathError(f"mosquitto config paths cannot contain white space: {text!r}")
    return text


def mosquitto_conf(files: BrokerFiles) -> str:
    data = _path(files.broker_dir / "data")
    return "\n".join(
        [
            "# Written by `cctv-hub init`: the broker for the hub and its sites. Run it with",
            f"#   mosquitto -c {_path(files.broker_dir / 'mosquitto.conf')}",
            "# deploy/mosquitto/mosquitto.conf explains each setting. The hub rewrites `passwd`",
            "# when a site is enrolled or revoked and sends this broker SIGHUP (pid_file).",
            "per_listener_settings false",
            "",
            "# MQTT over TLS only; the certificate's SANs are [enrollment] broker_names.",
            f"listener {files.listen_port} {files.listen_address}",
            f"cafile {_path(files.ca_cert)}",
            f"certfile {_path(files.server_cert)}",
            f"keyfile {_path(files.server_key)}",
            "tls_version tlsv1.2",
            "require_certificate false",
            "",
            "# Every client logs in; a site's username is its site id, the hub has its own.",
            "allow_anonymous false",
            f"password_file {_path(files.passwd)}",
            f"acl_file {_path(files.acl)}",
            "use_username_as_clientid true",
            "",
            "persistence true",
            f"persistence_location {data}/",
            "persistence_file mosquitto.db",
            "autosave_interval 60",
            f"max_packet_size {MAX_PACKET_SIZE}",
            f"max_inflight_messages {MAX_INFLIGHT_MESSAGES}",
            f"max_queued_messages {MAX_QUEUED_MESSAGES}",
            f"max_queued_bytes {MAX_QUEUED_BYTES}",
            "persistent_client_expiration 14d",
            "",
            f"log_dest file {_path(files.broker_dir / 'mosquitto.log')}",
            "log_type error",
            "log_type warning",
            "log_type notice",
            "log_type information",
            "connection_messages true",
            "log_timestamp true",
            "log_timestamp_format %Y-%m-%dT%H:%M:%S",
            "",
            "# The hub signals this pid to reload the password file.",
            f"pid_file {_path(files.pid_file)}",
            "# The same user as the hub: it owns these files (keys 0600).",
            f"user {files.run_as}",
            "",
        ]
    )
