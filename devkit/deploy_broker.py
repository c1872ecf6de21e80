"""The production broker config (``deploy/mosquitto``) in a real Mosquitto, for tests.

``DeployConfigBroker`` runs ``deploy/mosquitto/mosquitto.conf`` and ``deploy/mosquitto/acl``
unchanged except for what cannot be the same in a test: the port, the paths, a throwaway CA and
server certificate for 127.0.0.1, and running as the current user. (The tests' ``tls_client``, in
``tests/support/mosquitto_fixtures.py``, makes a client that trusts that CA.)
"""

from __future__ import annotations

import getpass
import ipaddress
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Final

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from devkit.local_broker import MosquittoBroker

DEPLOY: Final = Path(__file__).resolve().parents[1] / "deploy" / "mosquitto"


def write_tls_files(folder: Path) -> None:
    """A throwaway CA and a server certificate for 127.0.0.1, as PEM files."""
    now = datetime.now(UTC)

    def name(common_name: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(name("test CA"))
        .issuer_name(name("test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    server_key = ec.generate_private_key(ec.SECP256R1())
    server_cert = (
        x509.CertificateBuilder()
        .subject_name(name("127.0.0.1"))
        .issuer_name(ca_cert.subject)
        .public_key(server_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    folder.mkdir(parents=True, exist_ok=True)
    pem = serialization.Encoding.PEM
    (folder / "ca.crt").write_bytes(ca_cert.public_bytes(pem))
    (folder / "server.crt").write_bytes(server_cert.public_bytes(pem))
    (folder / "server.key").write_bytes(
        server_key.private_bytes(
            pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )


class DeployConfigBroker(MosquittoBroker):
    """deploy/mosquitto/mosquitto.conf and acl, with paths and port moved into a temp folder."""

    def __init__(self, workdir: Path, users: dict[str, str]) -> None:
        super().__init__(workdir, users, acl=(DEPLOY / "acl").read_text(encoding="utf-8"))
        self.certs = workdir / "certs"
        write_tls_files(self.certs)

    def config_text(self) -> str:
        text = (DEPLOY / "mosquitto.conf").read_text(encoding="utf-8")
        moves = {
            "listener 8883\n": f"listener {self.port} {self.host}\n",
            "/etc/mosquitto/certs/": f"{self.certs}/",
            "/etc/mosquitto/passwd\n": f"{self.password_path}\n",
            "/etc/mosquitto/acl\n": f"{self.acl_path}\n",
            "/var/lib/mosquitto/": f"{self.data_dir}/",
            "/var/log/mosquitto/mosquitto.log": str(self.log_path),
            "log_dest syslog\n": "",
        }
        for old, new in moves.items():
            assert old in text, f"deploy config no longer has {old!r}"
            text = text.replace(old, new)
        settings_text = "\n".join(
            line for line in text.splitlines() if not line.lstrip().startswith("#")
        )
        assert "/etc/" not in settings_text and "/var/" not in settings_text
        return text + f"\nuser {getpass.getuser()}\n"
