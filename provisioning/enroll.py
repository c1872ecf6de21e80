"""``cctv-provision enroll``: join a site box to the hub with a one-time token.

  cctv-provision enroll --hub URL --token T --config /etc/cctv/agent.toml [--ca hub-ca.pem]
                        [--data-dir /var/lib/cctv-agent]

Makes the agent's Ed25519 key pair (or keeps the one in the data folder), sends the public key
with the token, and gets back the site's broker login, the broker's CA certificate, the hub's
public key and the broker's address. Then writes, each only after the hub has said yes: the key
(0600), ``broker-ca.pem`` and ``hub-public-key.pem`` next to the config, and a complete,
commented agent.toml (0600; it holds the broker password, which is never printed). A refusal
(token used, expired, for another site, altered) writes nothing and says why.
"""

from __future__ import annotations

import argparse
import json
import os
import ssl
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Final, TextIO
from urllib.parse import urlsplit

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from cctv_common.evidence.signing import load_private_key, public_key_pem
from cctv_common.files import atomic_write
from cctv_common.loopback import is_loopback_host
from edge_agent.config import ConfigError, parse_config
from provisioning.agent_toml import agent_toml, private_key_pem

EXIT_OK: Final = 0
EXIT_REFUSED: Final = 2
DEFAULT_DATA_DIR: Final = Path("/var/lib/cctv-agent")
TIMEOUT_SECONDS: Final = 30.0
MAX_ANSWER_BYTES: Final = 64 * 1024


class EnrollFailed(Exception):
    """One line for the engineer; nothing was written."""


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    enroll = sub.add_parser(
        "enroll", help="join this box to the hub with a one-time token; writes agent.toml"
    )
    enroll.add_argument("--hub", required=True, metavar="URL", help="the hub, e.g. https://hub")
    enroll.add_argument("--token", required=True, help="printed by cctv-hub sites create")
    enroll.add_argument(
        "--config", type=Path, required=True, help="the agent config to write (must not exist)"
    )
    enroll.add_argument(
        "--ca", type=Path, metavar="PEM", help="CA of the hub's HTTPS certificate, if private"
    )
    enroll.add_argument(
        "--data-dir",
        type=Path,
        default=DEFAULT_DATA_DIR,
        help=f"the agent's data folder, where its key lives (default {DEFAULT_DATA_DIR})",
    )
    enroll.set_defaults(handler=cmd_enroll)


def token_site(token: str) -> str:
    site_id, dot, secret = token.strip().rpartition(".")
    if not dot or not site_id or len(secret) < 20:
        raise EnrollFailed(
            "this is not an enrollment token (SITE.SECRET, from `cctv-hub sites create`)"
        )
    return site_id


def _check_hub_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise EnrollFailed(f"--hub {url!r} is not an http(s) address")
    if parts.scheme == "http" and not is_loopback_host(parts.hostname):
        raise EnrollFailed(
            f"--hub {url}: plain http would carry the token and the broker password in the"
            " clear; use https:// (http only to a hub on this machine)"
        )
    return url.rstrip("/")


def _post(url: str, body: dict[str, Any], ca: Path | None) -> dict[str, Any]:
    context = ssl.create_default_context(cafile=None if ca is None else str(ca))
    request = urllib.request.Request(  # noqa: S310 (scheme checked in _check_hub_url)
        url,
        data=json.dumps(body).encode("utf-8"),
        headers={"Content-Type": "application/json", "Accept": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS, context=context) as answer:  # noqa: S310
            data = json.loads(answer.read(MAX_ANSWER_BYTES))
    except urllib.error.HTTPError as exc:
        try:
            detail = json.loads(exc.read(MAX_ANSWER_BYTES)).get("detail")
        except (ValueError, AttributeError):
            detail = None
        raise EnrollFailed(f"refused by the hub ({exc.code}): {detail or exc.reason}") from exc
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise EnrollFailed(f"cannot reach the hub at {url}: {exc}") from exc
    if not isinstance(data, dict):
        raise EnrollFailed("the hub's answer is not what enrollment expects")
    return data


def _key(data_dir: Path) -> tuple[Ed25519PrivateKey, bool]:
    """The agent key in the data folder, or a new one (not written yet); and whether it is new."""
    path = data_dir / "agent_key.pem"
    if path.exists():
        return load_private_key(path), False
    return Ed25519PrivateKey.generate(), True


def enroll(args: argparse.Namespace, out: TextIO) -> None:
    config_path: Path = args.config
    hub = _check_hub_url(args.hub)
    site_id = token_site(args.token)
    if config_path.exists():
        raise EnrollFailed(f"{config_path} exists; enroll writes a new config: move it away first")
    if not config_path.parent.is_dir():
        raise EnrollFailed(f"{config_path.parent} is not a folder")
    data_dir = args.data_dir.resolve()
    key, new_key = _key(data_dir)
    answer = _post(
        f"{hub}/api/enroll",
        {"token": args.token.strip(), "site_id": site_id, "public_key_pem": public_key_pem(key)},
        args.ca,
    )
    try:
        grant = {name: answer[name] for name in _GRANT_FIELDS}
    except KeyError as exc:
        raise EnrollFailed(f"the hub's answer has no {exc}") from exc
    if grant["site_id"] != site_id:
        raise EnrollFailed(f"the hub answered for site {grant['site_id']!r}, not {site_id!r}")
    folder = config_path.parent.resolve()
    ca_path, hub_key_path = folder / "broker-ca.pem", folder / "hub-public-key.pem"
    text = agent_toml(
        site_id=site_id,
        name=str(grant["name"]),
        data_dir=data_dir,
        broker_host=str(grant["broker_host"]),
        broker_port=int(grant["broker_port"]),
        username=str(grant["broker_username"]),
        password=str(grant["broker_password"]),
        ca_file=ca_path,
        hub_public_key_file=hub_key_path,
        hub_url=hub,
    )
    try:
        parse_config(text, str(config_path))
    except ConfigError as exc:
        raise EnrollFailed(f"the config it would write is not valid: {exc}") from exc
    if new_key:
        data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        atomic_write(data_dir / "agent_key.pem", private_key_pem(key), mode=0o600)
    atomic_write(ca_path, str(grant["broker_ca_pem"]), mode=0o644)
    atomic_write(hub_key_path, str(grant["hub_public_key_pem"]), mode=0o644)
    atomic_write(config_path, text, mode=0o600)
    os.chmod(config_path, 0o600)
    print(f"enrolled site {site_id} ({grant['name']}) with key {grant['key_id']}", file=out)
    print(f"  broker {grant['broker_host']}:{grant['broker_port']} over TLS", file=out)
    print(f"  wrote {config_path} (0600), {ca_path}, {hub_key_path}", file=out)
    print("  next: cctv-provision add-cameras --config ... then start cctv-agent", file=out)


_GRANT_FIELDS: Final = (
    "site_id",
    "name",
    "key_id",
    "broker_host",
    "broker_port",
    "broker_username",
    "broker_password",
    "broker_ca_pem",
    "hub_public_key_pem",
)


def cmd_enroll(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    try:
        enroll(args, out)
    except EnrollFailed as exc:
        print(f"cctv-provision enroll: {exc}; nothing was written", file=err)
        return EXIT_REFUSED
    return EXIT_OK
