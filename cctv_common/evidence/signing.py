"""Ed25519 keys and signatures for evidence manifests (``cryptography``).

The agent's private key is created on first start with mode 0600 and never leaves the site box;
the hub holds each site's public key. A key id is the first 16 hex digits of the SHA-256 of the
raw public key, so a manifest names the key that signed it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from cctv_common.files import create_once


class KeyFileError(Exception):
    """A key file that cannot be read or is not an Ed25519 key."""


class BadSignature(Exception):
    """The signature does not match the bytes and key."""


def load_or_create_private_key(path: Path) -> Ed25519PrivateKey:
    """Load the agent key, or create it (mode 0600, never overwriting) if there is none."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        key = Ed25519PrivateKey.generate()
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        # Hub workers on one data_dir may start together: the first key linked wins.
        if not create_once(path, pem):
            return load_private_key(path)
        return key
    return load_private_key(path)


def load_private_key(path: Path) -> Ed25519PrivateKey:
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as exc:
        raise KeyFileError(f"cannot read private key {path}: {exc}") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise KeyFileError(f"{path} is not an Ed25519 private key")
    return key


def public_key_pem(key: Ed25519PrivateKey | Ed25519PublicKey) -> str:
    public = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    return public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode("ascii")


def load_public_key(pem: str | bytes) -> Ed25519PublicKey:
    try:
        data = pem.encode("ascii") if isinstance(pem, str) else pem
    except UnicodeEncodeError as exc:
        raise KeyFileError(
            f"not a PEM public key: PEM is ASCII, this has {pem[exc.start]!r} at {exc.start}"
        ) from exc
    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, TypeError) as exc:
        raise KeyFileError(f"not a PEM public key: {exc}") from exc
    if not isinstance(key, Ed25519PublicKey):
        raise KeyFileError("the public key is not an Ed25519 key")
    return key


def key_id(key: Ed25519PrivateKey | Ed25519PublicKey) -> str:
    public = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def sign(key: Ed25519PrivateKey, data: bytes) -> str:
    """Sign ``data``; the signature is returned as base64 text."""
    return base64.b64encode(key.sign(data)).decode("ascii")


def verify(public_key: Ed25519PublicKey, data: bytes, signature_b64: str) -> None:
    try:
        signature = base64.b64decode(signature_b64.strip(), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise BadSignature("signature is not base64") from exc
    try:
        public_key.verify(signature, data)
    except InvalidSignature as exc:
        raise BadSignature("signature does not match the manifest and key") from exc
