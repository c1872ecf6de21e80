"""The one way the demo, the tests and the benches write agent and hub configs (TOML).

``agent_toml`` and ``hub_toml`` build the data an operator would write in ``agent.toml`` and
``hub.toml`` (every key is a real setting: ``cctv-agent validate-config`` and ``cctv-hub
check-config`` read them like any other file); ``write_toml`` writes either. ``write_site`` sets up
one site beside one hub the way an installer would: the hub's key made up front (the hub would make
it on first start) so the agent can be given its public half (``uplink.hub_public_key_file``), the
agent's key made up front so the hub can register the site's public key, and both TOML files.

The broker's own config is written by ``devkit.local_broker.MosquittoBroker`` (from the same ACL
table as ``deploy/mosquitto/acl``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import tomli_w
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from cctv_common.evidence.signing import load_or_create_private_key, public_key_pem
from hub.services.passwords import hash_password


def write_toml(path: Path, data: Mapping[str, Any]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(tomli_w.dumps(dict(data)), encoding="utf-8")
    return path


@dataclass(frozen=True)
class BrokerAccount:
    """Where the broker is and one login on it (``tls``: with ``ca_file`` when given)."""

    host: str
    port: int
    username: str
    password: str
    tls: bool = False
    ca_file: Path | None = None

    def tls_settings(self) -> dict[str, Any]:
        if not self.tls:
            return {"tls": False}
        return {"tls": True, **({} if self.ca_file is None else {"ca_file": str(self.ca_file)})}


def agent_toml(
    *,
    site_id: str,
    data_dir: Path,
    broker: BrokerAccount,
    cameras: Sequence[Mapping[str, Any]] = (),
    hub_public_key_file: Path | None = None,
    uplink: Mapping[str, Any] | None = None,
    **sections: Any,
) -> dict[str, Any]:
    """``agent.toml``'s data: ``uplink`` adds or replaces uplink keys (e.g. ``chunk_bytes``),
    ``sections`` add top-level ones (``recorder``, ``retention``, ...)."""
    link: dict[str, Any] = {
        "host": broker.host,
        "port": broker.port,
        "username": broker.username,
        "password": broker.password,
        **broker.tls_settings(),
    }
    if hub_public_key_file is not None:
        link["hub_public_key_file"] = str(hub_public_key_file)
    link.update(uplink or {})
    data: dict[str, Any] = {"site_id": site_id, "data_dir": str(data_dir)}
    if cameras:
        data["cameras"] = [dict(camera) for camera in cameras]
    data.update(sections)
    data["uplink"] = link
    return data


def hub_users(users: Mapping[str, str], password: str) -> list[dict[str, str]]:
    """``[[users]]`` entries: each ``name: role`` with the same password (hashed)."""
    hashed = hash_password(password)
    return [
        {"username": name, "role": role, "password_hash": hashed} for name, role in users.items()
    ]


def hub_toml(
    *,
    hub_id: str,
    data_dir: Path | str,
    sites: Sequence[Mapping[str, Any]] = (),
    users: Sequence[Mapping[str, Any]] = (),
    http_port: int | None = None,
    broker: BrokerAccount | None = None,
    **sections: Any,
) -> dict[str, Any]:
    """``hub.toml``'s data; ``sections`` add or replace top-level ones."""
    data: dict[str, Any] = {"hub_id": hub_id, "data_dir": str(data_dir)}
    if http_port is not None:
        data["http"] = {"host": "127.0.0.1", "port": http_port, "cookie_secure": False}
    if broker is not None:
        data["broker"] = {
            "host": broker.host,
            "port": broker.port,
            "username": broker.username,
            "password": broker.password,
            **broker.tls_settings(),
        }
    data["sites"] = [dict(site) for site in sites]
    data["users"] = [dict(user) for user in users]
    data.update(sections)
    return data


@dataclass(frozen=True)
class SiteFiles:
    """What ``write_site`` made: the two configs, the agent's data folder and the keys' halves."""

    agent_config: Path
    hub_config: Path
    agent_data: Path
    hub_data: Path
    hub_key: Ed25519PrivateKey
    site_public_key_pem: str


def write_site(
    workdir: Path,
    *,
    site_id: str,
    site_name: str,
    hub_id: str,
    http_port: int,
    site_login: BrokerAccount,
    hub_login: BrokerAccount,
    camera: Mapping[str, Any],
    users: Mapping[str, str],
    password: str,
    uplink: Mapping[str, Any] | None = None,
    extra_cameras: Sequence[Mapping[str, Any]] = (),
    **agent_sections: Any,
) -> SiteFiles:
    """One site and its hub under ``workdir``: ``agent/agent.toml`` (data in ``agent/data``) and
    ``hub/hub.toml`` (data in ``hub/data``, the site's public key in ``hub/sites/``). The agent
    records ``camera`` and any ``extra_cameras``."""
    agent_dir, hub_dir = workdir / "agent", workdir / "hub"
    agent_data, hub_data = agent_dir / "data", hub_dir / "data"
    hub_key = load_or_create_private_key(hub_data / "hub_key.pem")
    hub_public = agent_dir / "hub_public_key.pem"
    hub_public.parent.mkdir(parents=True, exist_ok=True)
    hub_public.write_text(public_key_pem(hub_key), encoding="ascii")
    agent_path = write_toml(
        agent_dir / "agent.toml",
        agent_toml(
            site_id=site_id,
            data_dir=agent_data,
            broker=site_login,
            cameras=[camera, *extra_cameras],
            hub_public_key_file=hub_public,
            uplink=uplink,
            **agent_sections,
        ),
    )
    site_pem = public_key_pem(load_or_create_private_key(agent_data / "agent_key.pem"))
    (hub_dir / "sites").mkdir(parents=True, exist_ok=True)
    (hub_dir / "sites" / f"{site_id}.pem").write_text(site_pem, encoding="ascii")
    hub_path = write_toml(
        hub_dir / "hub.toml",
        hub_toml(
            hub_id=hub_id,
            data_dir=hub_data,
            http_port=http_port,
            broker=hub_login,
            sites=[
                {"site_id": site_id, "name": site_name, "public_key_file": f"sites/{site_id}.pem"}
            ],
            users=hub_users(users, password),
        ),
    )
    return SiteFiles(agent_path, hub_path, agent_data, hub_data, hub_key, site_pem)
