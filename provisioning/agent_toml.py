"""The complete, commented agent.toml that enrollment writes (text only; nothing here writes)."""

from __future__ import annotations

import json
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey


def _q(value: str | Path) -> str:
    return json.dumps(str(value))  # a TOML basic string is a JSON string


def private_key_pem(key: Ed25519PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def agent_toml(
    *,
    site_id: str,
    name: str,
    data_dir: Path,
    broker_host: str,
    broker_port: int,
    username: str,
    password: str,
    ca_file: Path,
    hub_public_key_file: Path,
    hub_url: str,
) -> str:
    return f"""\
# cctv-agent settings for site {site_id} ({name}), written by `cctv-provision enroll` from
# {hub_url}. This file holds the site's broker password: keep it 0600.
# `cctv-agent validate-config THIS_FILE` checks it; deploy/agent.example.toml explains every key.

site_id = {_q(site_id)}
data_dir = {_q(data_dir)}          # segments/, index.db, outbox.db, outbox/, agent_key.pem
max_clock_offset_seconds = 2.0        # warn when a camera's clock is off by more than this

# Cameras: `cctv-provision discover`, then `cctv-provision add-cameras --config THIS_FILE ...`
# adds them here. By hand:
# [[cameras]]
# id = "cam-1"
# name = "High St north"
# rtsp_url = "rtsp://10.0.0.5:554/stream1"

[recorder]
segment_seconds = 10                  # cut on the first keyframe after this
stall_timeout_seconds = 10.0          # a camera silent this long is treated as dropped
gap_tolerance_seconds = 1.0           # missing time longer than this is recorded as a gap

[retention]
max_days = 31                         # ring buffer bounded by age ...
max_disk_bytes = 500_000_000_000      # ... by bytes over all cameras ...
min_free_bytes = 1_000_000_000        # ... and keeps this much of the disk free

[uplink]
host = {_q(broker_host)}              # the hub's broker, over TLS, verified against ca_file
port = {broker_port}
username = {_q(username)}             # the site id: the broker's ACL is keyed on it
password = {_q(password)}             # issued at enrollment; never logged
tls = true
ca_file = {_q(ca_file)}               # the broker's CA, from enrollment
# Jobs, holds and acks are acted on only when signed by this key (from enrollment).
hub_public_key_file = {_q(hub_public_key_file)}

[live]
max_viewers_per_camera = 8
"""
