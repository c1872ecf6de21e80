"""RTSP 1.0 pieces without I/O: URLs (credentials kept out of them), answers, errors and
Digest/Basic authentication (RFC 2617: MD5, with or without qop=auth). Pure."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit, urlunsplit

DEFAULT_PORT = 554
MAX_HEADER_LINES = 100
MAX_LINE = 8 * 1024
MAX_BODY = 256 * 1024


class RtspError(Exception):
    """Talking RTSP to the server failed; the message says how."""


class RtspProtocolError(RtspError):
    """The server sent something that is not RTSP as RFC 2326 defines it, or too much of it."""


class RtspStatusError(RtspError):
    """The server answered a request with a status other than 2xx."""

    def __init__(self, message: str, status: int, headers: Mapping[str, str]) -> None:
        super().__init__(message)
        self.status = status
        self.headers = dict(headers)


class RtspAuthError(RtspStatusError):
    """The server refused the user name or password (401 after authenticating, or 403)."""


class OptionNotSupported(RtspStatusError):
    """551 Option not supported: the server does not do what a Require header asked."""


@dataclass(frozen=True)
class RtspResponse:
    status: int
    reason: str
    headers: dict[str, str]  # lower-case names; repeated headers joined with ", "
    body: bytes = b""
    challenges: tuple[str, ...] = ()  # every WWW-Authenticate header

    def header(self, name: str, default: str = "") -> str:
        return self.headers.get(name.lower(), default)


@dataclass(frozen=True)
class RtspUrl:
    """An rtsp:// URL split into what is sent and the credentials (never sent in the URL)."""

    url: str  # without user info
    host: str
    port: int
    user: str = ""
    password: str = field(default="", repr=False)

    @classmethod
    def parse(cls, url: str, user: str = "", password: str = "") -> RtspUrl:
        parts = urlsplit(url)
        if parts.scheme.lower() != "rtsp" or not parts.hostname:
            raise RtspError(f"not an rtsp:// URL: {redacted(url)}")
        try:
            port = parts.port or DEFAULT_PORT
        except ValueError as exc:
            raise RtspError(f"bad port in {redacted(url)}") from exc
        host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
        netloc = host if parts.port is None else f"{host}:{port}"
        clean = urlunsplit(("rtsp", netloc, parts.path or "/", parts.query, ""))
        return cls(
            clean,
            parts.hostname,
            port,
            user or (parts.username or ""),
            password or (parts.password or ""),
        )

    @property
    def where(self) -> str:
        return f"{self.host}:{self.port}"


def redacted(url: str) -> str:
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = host if parts.port is None else f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def parse_challenges(values: tuple[str, ...]) -> dict[str, dict[str, str]]:
    """WWW-Authenticate headers by scheme (lower case) with their parameters."""
    found: dict[str, dict[str, str]] = {}
    for value in values:
        scheme, _, rest = value.strip().partition(" ")
        found[scheme.lower()] = _auth_params(rest)
    return found


def _auth_params(text: str) -> dict[str, str]:
    params: dict[str, str] = {}
    position = 0
    while position < len(text):
        while position < len(text) and text[position] in " ,":
            position += 1
        equals = text.find("=", position)
        if equals < 0:
            break
        name = text[position:equals].strip().lower()
        position = equals + 1
        if position < len(text) and text[position] == '"':
            end = text.find('"', position + 1)
            end = len(text) if end < 0 else end
            params[name] = text[position + 1 : end]
            position = end + 1
        else:
            end = text.find(",", position)
            end = len(text) if end < 0 else end
            params[name] = text[position:end].strip()
            position = end
    return params


def digest_authorization(
    challenge: Mapping[str, str],
    method: str,
    uri: str,
    user: str,
    password: str,
    nonce_count: int = 1,
    cnonce: str | None = None,
) -> str:
    """The Authorization header answering a Digest challenge (MD5; qop=auth when offered)."""
    algorithm = challenge.get("algorithm", "MD5")
    if algorithm.upper() != "MD5":
        raise RtspError(f"the server asks for Digest algorithm {algorithm}; only MD5 is supported")
    realm, nonce = challenge.get("realm", ""), challenge.get("nonce", "")

    def md5(text: str) -> str:
        return hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()

    ha1, ha2 = md5(f"{user}:{realm}:{password}"), md5(f"{method}:{uri}")
    fields = [f'username="{user}"', f'realm="{realm}"', f'nonce="{nonce}"', f'uri="{uri}"']
    qops = [q.strip() for q in challenge.get("qop", "").split(",") if q.strip()]
    if "auth" in qops:
        cnonce = cnonce or secrets.token_hex(8)
        count = f"{nonce_count:08x}"
        response = md5(f"{ha1}:{nonce}:{count}:{cnonce}:auth:{ha2}")
        fields += ["qop=auth", f"nc={count}", f'cnonce="{cnonce}"']
    else:
        response = md5(f"{ha1}:{nonce}:{ha2}")
    fields.append(f'response="{response}"')
    if "opaque" in challenge:
        fields.append(f'opaque="{challenge["opaque"]}"')
    if "algorithm" in challenge:
        fields.append(f"algorithm={algorithm}")
    return "Digest " + ", ".join(fields)
