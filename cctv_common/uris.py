"""Stream URIs without secrets: what goes into logs and manifests.

``redact_uri`` cannot rely on ``urllib.parse`` alone: people (and some cameras) write passwords
into URIs without percent-encoding them, and a ``/``, ``?`` or ``#`` in such a password ends the
URI's authority early, so ``urlsplit`` takes the rest of the password for the path and would leave
it in the log. So the user information is found by hand, in two steps:

1. The standard place: the last ``@`` before the first ``/``, ``?`` or ``#`` after ``scheme://``
   (``@`` and ``:`` in an unencoded password are covered by taking the last ``@``).
2. Otherwise, when the text before the first ``/``, ``?`` or ``#`` holds a ``:`` and is not a
   host and port (``10.0.0.5:554``, ``cam.example:554``, ``[fe80::1]:554``, ``localhost:554``),
   it is the ``user:`` start of a credential whose password holds an unencoded ``/``, ``?`` or
   ``#``. The user information then runs to the last ``@`` that is followed by a host (an IP
   address, a bracketed IPv6 address, ``localhost`` or a dotted name, with an optional port) and
   a path, query, fragment or the end; failing that, to the last ``@``. Removing too much from a
   log line is better than leaving a password in it: ``rtsp://cam1:554/live@x`` (a host name
   without dots, a path with ``@``) loses ``cam1:554/live@``. The one credential left in place is
   a user name that looks like a host with a password of digits before a ``/``
   (``john.smith:12/3@cam/x``): it cannot be told apart from ``host:12/path@name``.

Everything else of the URI is kept exactly as written.
"""

from __future__ import annotations

import re
from urllib.parse import quote, urlsplit, urlunsplit

_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*://)(.*)$", re.DOTALL)
_HOST = r"""
    (?:
        \[[0-9A-Fa-f:.]+(?:%[^\]]*)?\]              # [IPv6] (with a zone)
      | \d{1,3}(?:\.\d{1,3}){3}                      # IPv4
      | localhost
      | [A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?     # a dotted host name
        (?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+
    )
    (?::\d{1,5})?                                    # port
"""
_HOST_AFTER_AT = re.compile(_HOST + r"(?:[/?#]|$)", re.VERBOSE | re.IGNORECASE)
_HOST_PORT = re.compile(_HOST, re.VERBOSE | re.IGNORECASE)


def _userinfo_end(rest: str) -> int:
    """Index of the ``@`` that ends the user information in ``rest`` (after ``scheme://``), or
    -1 when there is none."""
    authority_end = len(rest)
    for mark in "/?#":
        found = rest.find(mark)
        if found != -1:
            authority_end = min(authority_end, found)
    at = rest.rfind("@", 0, authority_end)
    if at != -1:
        return at
    authority = rest[:authority_end]
    last = rest.rfind("@", authority_end)
    if ":" not in authority or last == -1 or _HOST_PORT.fullmatch(authority):
        return -1
    # A password with an unencoded '/', '?' or '#' in it: the last '@' followed by a host.
    at = len(rest)
    while (at := rest.rfind("@", authority_end, at)) != -1:
        if _HOST_AFTER_AT.match(rest, at + 1):
            return at
    return last


def redact_uri(uri: str) -> str:
    """Drop user and password from a URI; keep scheme, host, port, path and query as written."""
    match = _SCHEME.match(uri)
    if match is None:
        return uri
    scheme, rest = match.groups()
    at = _userinfo_end(rest)
    if at == -1:
        return uri
    return scheme + rest[at + 1 :]


def has_credentials(uri: str) -> bool:
    """Whether ``redact_uri`` would remove anything."""
    return redact_uri(uri) != uri


def with_credentials(uri: str, user: str, password: str) -> str:
    """Put (percent-encoded) credentials into a URI for RTSP digest or basic auth, replacing any
    that the URI already has."""
    if not user:
        return uri
    parts = urlsplit(redact_uri(uri))
    userinfo = quote(user, safe="")
    if password:
        userinfo += ":" + quote(password, safe="")
    return urlunsplit((parts.scheme, f"{userinfo}@{parts.netloc}", parts.path, parts.query, ""))
