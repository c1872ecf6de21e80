"""Secrets the agent reads from a file of their own (camera and NVR passwords): one rule for all.

The secret is the file's first line. A file other users of the machine can read or write is
refused, not used: the password in it is no longer a secret, and a fix (``chmod 600``) is named.
The secret never appears in a message.
"""

from __future__ import annotations

import stat
from pathlib import Path


class SecretFileError(Exception):
    """A secret file that cannot be used; the message says which, why and the fix, in one line."""


def read_secret_file(path: Path, what: str) -> str:
    """The first line of ``path``; SecretFileError when it is unreadable, empty, or open to other
    users. ``what`` names the config section the file belongs to (``cameras.gate.onvif``)."""
    try:
        mode = path.stat().st_mode
        if mode & (stat.S_IROTH | stat.S_IWOTH):
            raise SecretFileError(
                f"{what}: password file {path} is readable by every user of the machine"
                f" (mode {stat.S_IMODE(mode):04o}); run `chmod 600 {path}`"
            )
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise SecretFileError(f"{what}: cannot read password file {path}: {reason}") from exc
    lines = text.splitlines()
    secret = lines[0].strip() if lines else ""
    if not secret:
        raise SecretFileError(f"{what}: password file {path} is empty")
    return secret
