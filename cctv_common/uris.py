"""Stream URIs without secrets: what goes into logs and manifests."""

from __future__ import annotations

from urllib.parse import quote, urlsplit, urlunsplit


def redact_uri(uri: str) -> str:
    """Drop user and password from a URI; keep host, port, path and query."""
    parts = urlsplit(uri)
    if parts.username is None and parts.password is None:
        return uri
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def with_credentials(uri: str, user: str, password: str) -> str:
    """Put (percent-encoded) credentials into a URI for RTSP digest or basic auth."""
    if not user:
        return uri
    parts = urlsplit(redact_uri(uri))
    userinfo = quote(user, safe="")
    if password:
        userinfo += ":" + quote(password, safe="")
    return urlunsplit((parts.scheme, f"{userinfo}@{parts.netloc}", parts.path, parts.query, ""))
