"""The hub's ``[enrollment]`` settings: the broker the hub runs for its sites, and site tokens.

``cctv-hub init`` writes the broker's files into ``broker_dir`` (CA, server certificate with
``broker_names`` as its SANs, ``mosquitto.conf``, the password file and the ACL); enrollment
rewrites the password file and makes the broker reload it. ``broker_dir`` is relative to the
settings file's folder when not absolute.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Annotated, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from hub.domain.enrollment import DEFAULT_TOKEN_HOURS

HostName = Annotated[
    str, Field(min_length=1, max_length=253, pattern=r"^[A-Za-z0-9.:-]+$", description="Host")
]


class EnrollmentSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    broker_dir: Path = Field(
        default=Path("broker"),
        validate_default=True,
        description="Where `cctv-hub init` writes the broker's CA, certificate, config, password"
        " file and ACL (relative to this file's folder)",
    )
    broker_names: tuple[HostName, ...] = Field(
        default=("localhost", "127.0.0.1"),
        min_length=1,
        max_length=32,
        description="Host names and IP addresses sites reach the broker by: the SANs of its"
        " server certificate; the first is what enrolled sites connect to",
    )
    listen_address: HostName = Field(
        default="0.0.0.0", description="Address the broker's TLS listener binds"
    )
    listen_port: int = Field(default=8883, ge=1, le=65535, description="Broker TLS port")
    site_port: int | None = Field(
        default=None,
        ge=1,
        le=65535,
        description="Port sites connect to (default listen_port; differs behind a port forward)",
    )
    token_hours: float = Field(
        default=DEFAULT_TOKEN_HOURS,
        gt=0,
        le=24 * 30,
        description="How long an enrollment token may be used (once)",
    )
    reload_command: tuple[str, ...] = Field(
        default=(),
        max_length=20,
        description="Command that makes the broker reread its password file, e.g."
        " ['sudo', 'systemctl', 'reload', 'mosquitto']; default: SIGHUP to the pid in"
        " broker_dir/mosquitto.pid",
    )

    @field_validator("broker_dir", mode="after")
    @classmethod
    def _absolute(cls, value: Path, info: ValidationInfo) -> Path:
        base = info.context.get("base_dir") if isinstance(info.context, dict) else None
        value = value.expanduser()
        return base / value if not value.is_absolute() and isinstance(base, Path) else value

    @model_validator(mode="after")
    def _names(self) -> Self:
        if len(set(self.broker_names)) != len(self.broker_names):
            raise ValueError("broker_names: a name is given twice")
        return self

    @property
    def site_host(self) -> str:
        return self.broker_names[0]

    @property
    def site_broker_port(self) -> int:
        return self.listen_port if self.site_port is None else self.site_port

    def ip_names(self) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
        out = []
        for name in self.broker_names:
            try:
                out.append(ipaddress.ip_address(name))
            except ValueError:
                continue
        return out

    def dns_names(self) -> list[str]:
        ips = {str(ip) for ip in self.ip_names()}
        return [name for name in self.broker_names if name not in ips]

    # The files in broker_dir.

    @property
    def ca_cert_path(self) -> Path:
        return self.broker_dir / "ca.crt"

    @property
    def ca_key_path(self) -> Path:
        return self.broker_dir / "ca.key"

    @property
    def server_cert_path(self) -> Path:
        return self.broker_dir / "server.crt"

    @property
    def server_key_path(self) -> Path:
        return self.broker_dir / "server.key"

    @property
    def passwd_path(self) -> Path:
        return self.broker_dir / "passwd"

    @property
    def acl_path(self) -> Path:
        return self.broker_dir / "acl"

    @property
    def config_path(self) -> Path:
        return self.broker_dir / "mosquitto.conf"

    @property
    def pid_path(self) -> Path:
        return self.broker_dir / "mosquitto.pid"

    @property
    def hub_password_path(self) -> Path:
        return self.broker_dir / "hub.password"
