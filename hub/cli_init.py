"""``cctv-hub init --config hub.toml``: everything a new hub needs before its first start.

Idempotent: what exists is kept (keys are never overwritten; a CA key without its certificate,
or the reverse, is refused), what is derived (the Mosquitto config, ACL and password file) is
written again. Prints the three commands that follow: the broker, the hub, the first site.
"""

from __future__ import annotations

import getpass
import secrets
import sys
from pathlib import Path
from typing import Final

from cctv_common.evidence.signing import KeyFileError, load_or_create_private_key, public_key_pem
from cctv_common.files import atomic_write
from cctv_common.wire.acl import acl_text
from hub.broker_pki import certificate_names, make_ca, make_server_cert
from hub.domain.mosquitto_conf import BrokerFiles, BrokerPathError, mosquitto_conf
from hub.services.broker_logins import BrokerLogins
from hub.services.enrollment import EnrollmentService
from hub.settings import HubSettings, SettingsError, load_settings
from hub.storage.engine import open_database, storage_for

EXIT_OK: Final = 0
EXIT_USAGE: Final = 2

_NEEDS: Final = """\
cctv-hub init: {path} needs these sections (see deploy/hub.example.toml):
  [broker]
  host = "127.0.0.1"                # the hub reaches the broker on this machine
  port = 8883
  username = "hub"
  password_file = "broker/hub.password"   # init creates it (0600)
  ca_file = "broker/ca.crt"               # init creates it
  [enrollment]
  broker_names = ["mqtt.example.org", "203.0.113.10"]   # what sites dial: the certificate's SANs
"""


class InitRefused(Exception):
    """Init cannot go on without someone looking (half a key pair, missing settings)."""


def run_init(config_path: Path) -> int:
    try:
        settings = load_settings(config_path)
        lines = init_hub(settings, config_path)
    except SettingsError as exc:
        print(f"cctv-hub: settings in {exc.source} cannot be used:", file=sys.stderr)
        for line in exc.errors:
            print(f"  {line}", file=sys.stderr)
        return EXIT_USAGE
    except InitRefused as exc:
        print(f"cctv-hub init: {exc}", file=sys.stderr)
        return EXIT_USAGE
    print("\n".join(lines))
    return EXIT_OK


def _pair(cert: Path, key: Path, what: str) -> bool:
    """True when both files exist, False when neither; InitRefused for one without the other."""
    if cert.exists() and key.exists():
        return True
    if cert.exists() or key.exists():
        raise InitRefused(
            f"{what}: {cert if cert.exists() else key} exists without"
            f" {key if cert.exists() else cert}; restore it or move both away (a new CA means"
            " re-enrolling every site)"
        )
    return False


def init_hub(settings: HubSettings, config_path: Path) -> list[str]:
    """Create what is missing; the lines to print."""
    enrollment, broker = settings.enrollment, settings.broker
    if enrollment is None or broker is None or broker.password_file is None:
        raise InitRefused(_NEEDS.format(path=config_path).rstrip())
    out = [f"cctv-hub init: hub {settings.hub_id}, broker files in {enrollment.broker_dir}"]
    enrollment.broker_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    (enrollment.broker_dir / "data").mkdir(exist_ok=True, mode=0o700)
    if _pair(enrollment.ca_cert_path, enrollment.ca_key_path, "the CA"):
        out.append(f"  kept     CA {enrollment.ca_cert_path}")
    else:
        make_ca(enrollment, settings.hub_id)
        out.append(f"  created  CA {enrollment.ca_cert_path} (key 0600)")
    if _pair(enrollment.server_cert_path, enrollment.server_key_path, "the server certificate"):
        names = certificate_names(enrollment.server_cert_path)
        out.append(f"  kept     broker certificate for {', '.join(names)}")
        if sorted(names) != sorted(enrollment.broker_names):
            out.append(
                "  WARNING  broker_names differ from the certificate's; move server.crt and"
                " server.key away and run init again to reissue it"
            )
    else:
        make_server_cert(enrollment)
        made = ", ".join(certificate_names(enrollment.server_cert_path))
        out.append(f"  created  broker certificate for {made} (key 0600)")
    existed = settings.hub_key_path.exists()
    try:
        hub_key = load_or_create_private_key(settings.hub_key_path)
    except (OSError, KeyFileError) as exc:
        raise InitRefused(f"hub signing key: {exc}") from exc
    out.append(f"  {'kept   ' if existed else 'created'}  hub signing key {settings.hub_key_path}")
    if broker.password_file.exists():
        out.append(f"  kept     hub broker password {broker.password_file}")
    else:
        broker.password_file.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        atomic_write(broker.password_file, secrets.token_urlsafe(24) + "\n", mode=0o600)
        out.append(f"  created  hub broker password {broker.password_file} (0600)")
    files = BrokerFiles(
        broker_dir=enrollment.broker_dir,
        listen_address=enrollment.listen_address,
        listen_port=enrollment.listen_port,
        ca_cert=enrollment.ca_cert_path,
        server_cert=enrollment.server_cert_path,
        server_key=enrollment.server_key_path,
        passwd=enrollment.passwd_path,
        acl=enrollment.acl_path,
        pid_file=enrollment.pid_path,
        run_as=getpass.getuser(),
    )
    try:
        atomic_write(enrollment.config_path, mosquitto_conf(files), mode=0o600)
    except BrokerPathError as exc:
        raise InitRefused(str(exc)) from exc
    atomic_write(enrollment.acl_path, acl_text([broker.username], "`cctv-hub init`"), mode=0o600)
    password = broker.resolved_password()
    assert password is not None
    database = open_database(settings)
    try:
        service = EnrollmentService(
            storage_for(database),
            enrollment,
            BrokerLogins(enrollment, broker.username, password),
            public_key_pem(hub_key),
        )
        service.sync(reload=False)
    finally:
        database.close()
    out.append(f"  wrote    {enrollment.config_path}, acl and passwd (the hub and enrolled sites)")
    if broker.ca_file != enrollment.ca_cert_path or not broker.tls:
        out.append(
            f"  WARNING  [broker] should say tls = true, ca_file = {enrollment.ca_cert_path}"
        )
    config = config_path.resolve()
    out += [
        "",
        "Next:",
        f"  1. the broker:      mosquitto -c {enrollment.config_path}",
        f"  2. the hub:         cctv-hub run --config {config}",
        f"  3. the first site:  cctv-hub sites create --config {config} --site SITE --name NAME",
        f"     then on the site box:  cctv-provision enroll --hub {settings.requests.base_url}"
        " --token TOKEN --config /etc/cctv/agent.toml",
    ]
    return out
