"""What the hub writes for Mosquitto, as pure text: the password file and the ACL.

Password lines use Mosquitto 2.0's own format (``$7$``: PBKDF2-SHA512, 101 iterations, base64
salt and hash), the same as ``mosquitto_passwd`` writes, so nobody runs ``mosquitto_passwd`` and
no password is ever on a command line. The ACL is static: one ``pattern`` rule per direction
keyed on the username (``%u``, the site id), from ``cctv_common.wire.acl.ACL_RULES``; adding
or revoking a site changes only the password file.
"""

from __future__ import annotations

import base64
import hashlib
import os
from collections.abc import Mapping
from typing import Final

PBKDF2_ITERATIONS: Final = 101  # mosquitto_passwd's default in 2.0
SALT_BYTES: Final = 12


def password_hash(password: str, salt: bytes | None = None) -> str:
    """``$7$101$salt$hash`` as Mosquitto reads it."""
    salt = os.urandom(SALT_BYTES) if salt is None else salt
    digest = hashlib.pbkdf2_hmac("sha512", password.encode("utf-8"), salt, PBKDF2_ITERATIONS)
    salt_text = base64.b64encode(salt).decode()
    return f"$7${PBKDF2_ITERATIONS}${salt_text}${base64.b64encode(digest).decode()}"


def passwd_text(hashes: Mapping[str, str]) -> str:
    """The password file: one ``user:hash`` line per login, in name order."""
    for user, hashed in hashes.items():
        if not user or any(ch in user for ch in ":\n") or "\n" in hashed:
            raise ValueError(f"broker user {user!r} cannot go into a password file")
    return "".join(f"{user}:{hashes[user]}\n" for user in sorted(hashes))
