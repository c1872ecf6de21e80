"""Password hashes with ``hashlib.scrypt`` (standard library), in one self-describing string.

Format: ``scrypt$n$r$p$<salt base64>$<hash base64>``. The cost parameters travel with the hash,
so they can be raised later without invalidating stored hashes.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
from typing import Final

SCRYPT_N: Final = 2**14
SCRYPT_R: Final = 8
SCRYPT_P: Final = 1
SALT_BYTES: Final = 16
HASH_BYTES: Final = 32
# Bounds for parameters read back from a hash, so a hostile config cannot make a login take minutes.
MAX_N: Final = 2**20
MAX_RP: Final = 64
MAX_PASSWORD_CHARS: Final = 1024


class InvalidPasswordHash(ValueError):
    """A string that is not a password hash this module wrote."""


def hash_password(password: str, *, n: int = SCRYPT_N, r: int = SCRYPT_R, p: int = SCRYPT_P) -> str:
    if not password:
        raise ValueError("the password is empty")
    if len(password) > MAX_PASSWORD_CHARS:
        raise ValueError(f"the password is longer than {MAX_PASSWORD_CHARS} characters")
    salt = secrets.token_bytes(SALT_BYTES)
    digest = _scrypt(password, salt, n, r, p)
    return "$".join(
        ["scrypt", str(n), str(r), str(p), _b64(salt), _b64(digest)],
    )


def verify_password(password: str, encoded: str) -> bool:
    """True if ``password`` matches; False for a wrong password; raises on a malformed hash."""
    n, r, p, salt, expected = parse_hash(encoded)
    if not password or len(password) > MAX_PASSWORD_CHARS:
        return False
    return hmac.compare_digest(_scrypt(password, salt, n, r, p, len(expected)), expected)


def parse_hash(encoded: str) -> tuple[int, int, int, bytes, bytes]:
    parts = encoded.split("$")
    if len(parts) != 6 or parts[0] != "scrypt":
        raise InvalidPasswordHash("password hash is not scrypt$n$r$p$salt$hash")
    try:
        n, r, p = int(parts[1]), int(parts[2]), int(parts[3])
        salt = base64.b64decode(parts[4], validate=True)
        digest = base64.b64decode(parts[5], validate=True)
    except (ValueError, binascii.Error) as exc:
        raise InvalidPasswordHash(f"password hash has a malformed field: {exc}") from exc
    if n < 2 or n > MAX_N or n & (n - 1) or not 1 <= r <= MAX_RP or not 1 <= p <= MAX_RP:
        raise InvalidPasswordHash("password hash has scrypt parameters out of bounds")
    if len(salt) < 8 or not 16 <= len(digest) <= 64:
        raise InvalidPasswordHash("password hash has a salt or hash of the wrong length")
    return n, r, p, salt, digest


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int, length: int = HASH_BYTES) -> bytes:
    # maxmem: 128 * n * r bytes are needed; leave room so bounded parameters never fail.
    return hashlib.scrypt(
        password.encode("utf-8"), salt=salt, n=n, r=r, p=p, maxmem=256 * n * r + 2**20, dklen=length
    )


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")
