"""The hub's CA and the broker's server certificate (``cctv-hub init``), with ``cryptography``.

EC P-256 keys; the CA signs only the broker's certificate, whose SANs are the settings'
``broker_names`` (DNS names and IP addresses), so agents verify the broker by the name they dial.
Keys are written 0600 and never replaced: a new CA would strand every enrolled site.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Final

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from cctv_common.files import atomic_write
from hub.settings_enrollment import EnrollmentSettings

CA_DAYS: Final = 20 * 365
SERVER_DAYS: Final = 5 * 365
BACKDATE: Final = timedelta(minutes=5)  # a site box's clock a little behind still accepts it


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "CCTV evidence hub"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _load_ca(settings: EnrollmentSettings) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    cert = x509.load_pem_x509_certificate(settings.ca_cert_path.read_bytes())
    key = serialization.load_pem_private_key(settings.ca_key_path.read_bytes(), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise ValueError(f"{settings.ca_key_path} is not an EC key")
    return cert, key


def make_ca(settings: EnrollmentSettings, hub_id: str, now: datetime | None = None) -> None:
    now = now or datetime.now(UTC)
    key = ec.generate_private_key(ec.SECP256R1())
    name = _name(f"{hub_id} broker CA")
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(now + timedelta(days=CA_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    atomic_write(settings.ca_key_path, _key_pem(key), mode=0o600)
    atomic_write(settings.ca_cert_path, cert.public_bytes(serialization.Encoding.PEM), mode=0o644)


def make_server_cert(settings: EnrollmentSettings, now: datetime | None = None) -> None:
    now = now or datetime.now(UTC)
    ca_cert, ca_key = _load_ca(settings)
    key = ec.generate_private_key(ec.SECP256R1())
    sans: list[x509.GeneralName] = [x509.DNSName(name) for name in settings.dns_names()]
    sans += [x509.IPAddress(ip) for ip in settings.ip_names()]
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(settings.broker_names[0]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(now + timedelta(days=SERVER_DAYS))
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    atomic_write(settings.server_key_path, _key_pem(key), mode=0o600)
    atomic_write(
        settings.server_cert_path, cert.public_bytes(serialization.Encoding.PEM), mode=0o644
    )


def certificate_names(path: Path) -> list[str]:
    """The SANs of a certificate file, as text (for init's summary and the tests)."""
    cert = x509.load_pem_x509_certificate(path.read_bytes())
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return [str(value) for value in sans.get_values_for_type(x509.DNSName)] + [
        str(value) for value in sans.get_values_for_type(x509.IPAddress)
    ]
