"""Checks on the free text a request carries: one line or a paragraph, within a length, no control
characters (a carriage return in an officer's name must never become a second mail header or a
forged CSV line), and the few shapes that have a rule (user names, e-mail addresses).

Every check returns the cleaned value or a sentence saying what is wrong; nothing raises here.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Final

USERNAME_RE: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}")
# Deliberately narrow: one address, no display name, no comments, nothing a mail header could
# mistake for a second recipient.
EMAIL_RE: Final = re.compile(
    r"[A-Za-z0-9!#$%&'*/=?^_`{|}~.+-]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+"
)
MAX_EMAIL: Final = 254
_SHOWN: Final = 40


def shown(value: str) -> str:
    """A value quoted for a message, cut short so hostile input cannot flood a log line."""
    text = repr(value)
    return text if len(text) <= _SHOWN else text[:_SHOWN] + "...'"


def _has_control(value: str, *, allow_newlines: bool) -> bool:
    for char in value:
        if allow_newlines and char in "\n\t":
            continue
        # Cc: control characters (CR, LF, NUL, ESC...); Cf: format characters such as the
        # right-to-left override that can make a reference read differently on screen.
        if unicodedata.category(char) in ("Cc", "Cf"):
            return True
    return False


def one_line(field: str, value: str, *, max_length: int, required: bool = True) -> str | None:
    """The problem with a one-line text field, or None. ``value`` should be stripped first."""
    if not value:
        return f"{field} is required" if required else None
    if len(value) > max_length:
        return f"{field} is {len(value)} characters long; at most {max_length} are allowed"
    if _has_control(value, allow_newlines=False):
        return f"{field} contains a line break or control character; write it on one line"
    return None


def paragraph(field: str, value: str, *, max_length: int, required: bool = False) -> str | None:
    """The problem with a multi-line text field (notes, reasons), or None."""
    if not value.strip():
        return f"{field} is required" if required else None
    if len(value) > max_length:
        return f"{field} is {len(value)} characters long; at most {max_length} are allowed"
    if _has_control(value, allow_newlines=True):
        return f"{field} contains a control character"
    return None


def username_problem(field: str, value: str) -> str | None:
    if USERNAME_RE.fullmatch(value) is None:
        return (
            f"{field} {shown(value)} is not a user name: letters, digits, _ . @ and -, "
            "starting with a letter or digit, at most 64"
        )
    return None


def email_problem(field: str, value: str) -> str | None:
    if len(value) > MAX_EMAIL or EMAIL_RE.fullmatch(value) is None:
        return f"{field} {shown(value)} is not an e-mail address such as name@force.police.uk"
    return None
