"""HTTP under ONVIF: sessions, answers read with a size limit and a deadline, network errors in
words an engineer can act on, and snapshot images fetched with HTTP digest or basic auth.

No onvif-zeep here (soap.py builds zeep's transport on top of these); requests is used directly
only for the snapshot GET.
"""

from __future__ import annotations

import time
from typing import Any

import requests
from requests.auth import HTTPBasicAuth, HTTPDigestAuth

from cctv_common.uris import redact_uri
from cctv_onvif.types import (
    MAX_MESSAGE,
    OnvifAuthError,
    OnvifError,
    OnvifProtocolError,
    OnvifTarget,
    OnvifUnreachable,
)

READ_CHUNK = 64 * 1024


class ResponseTooLarge(Exception):
    def __init__(self, limit: int) -> None:
        super().__init__(f"answer larger than {limit} bytes")


class AnswerTooSlow(Exception):
    def __init__(self, seconds: float) -> None:
        super().__init__(f"answer not complete within {seconds:g} s")


# The errors one HTTP exchange can raise, beyond programming errors: the network (requests) and
# our own limits on size and time.
HTTP_ERRORS: tuple[type[Exception], ...] = (
    requests.RequestException,
    ResponseTooLarge,
    AnswerTooSlow,
)


def new_session(target: OnvifTarget) -> requests.Session:
    session = requests.Session()
    session.trust_env = False  # cameras are on the site LAN: no proxies, no .netrc
    if target.user:
        # WS-Security is the ONVIF way; some NVRs want HTTP digest on top.
        session.auth = HTTPDigestAuth(target.user, target.password)
    return session


def read_limited(response: Any, limit: int, deadline: float, seconds: float) -> bytes:
    """Read a streamed requests response, refusing more than `limit` bytes or past `deadline`."""
    declared = response.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > limit:
        raise ResponseTooLarge(limit)
    body = bytearray()
    for chunk in response.iter_content(READ_CHUNK):
        body += chunk
        if len(body) > limit:
            raise ResponseTooLarge(limit)
        if time.monotonic() > deadline:
            raise AnswerTooSlow(seconds)
    return bytes(body)


def network_reason(exc: BaseException) -> str:
    """The useful part of a network error: the OS's words, not urllib3's repr."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, OSError) and current.strerror:
            return current.strerror
        nested = [a for a in current.args if isinstance(a, BaseException)]
        current = current.__cause__ or current.__context__ or (nested[0] if nested else None)
    return (str(exc) or type(exc).__name__)[:MAX_MESSAGE]


def translate_http(
    exc: Exception, target: OnvifTarget, operation: str, timeout: float
) -> OnvifError:
    """One of HTTP_ERRORS as our exception, naming the camera and what was asked of it."""
    where, camera_id = target.where, target.camera_id
    if isinstance(exc, (requests.Timeout, AnswerTooSlow)):
        late = f"no answer to {operation} within {timeout:g} s"
        return OnvifUnreachable(f"{where} does not answer: {late}", camera_id)
    if isinstance(exc, (requests.ConnectionError, requests.exceptions.ChunkedEncodingError)):
        return OnvifUnreachable(f"{where} does not answer: {network_reason(exc)}", camera_id)
    if isinstance(exc, ResponseTooLarge):
        return OnvifProtocolError(
            f"{where} sent an unexpected answer to {operation}: {exc}", camera_id
        )
    if isinstance(exc, requests.RequestException):
        return OnvifProtocolError(
            f"{where} gave an unusable address for {operation}: {network_reason(exc)}", camera_id
        )
    detail = str(exc)[:MAX_MESSAGE]
    return OnvifProtocolError(f"{where} failed {operation}: {detail}", camera_id)


def fetch_image(
    session: requests.Session, target: OnvifTarget, uri: str, limit: int, timeout: float
) -> tuple[bytes, str]:
    """GET a snapshot URI (HTTP digest from the session, basic when the camera asks for it);
    the body as it came, whatever it is, and its Content-Type."""
    operation = f"the snapshot request to {redact_uri(uri)}"
    try:
        return _get_image(session, target, uri, limit, timeout)
    except HTTP_ERRORS as exc:
        raise translate_http(exc, target, operation, timeout) from exc


def _get_image(
    session: requests.Session, target: OnvifTarget, uri: str, limit: int, seconds: float
) -> tuple[bytes, str]:
    deadline = time.monotonic() + seconds
    response = session.get(uri, timeout=seconds, stream=True)
    challenge = response.headers.get("WWW-Authenticate", "").lower()
    if response.status_code == 401 and challenge.startswith("basic") and target.user:
        response.close()
        basic = HTTPBasicAuth(target.user, target.password)
        response = session.get(uri, timeout=seconds, stream=True, auth=basic)
    try:
        if response.status_code in (401, 403):
            raise OnvifAuthError(
                f"wrong user or password for {target.where} (snapshot refused with HTTP "
                f"{response.status_code})",
                target.camera_id,
            )
        if response.status_code != 200:
            raise OnvifProtocolError(
                f"{target.where} answered the snapshot request with HTTP {response.status_code}",
                target.camera_id,
            )
        body = read_limited(response, limit, deadline, seconds)
    finally:
        response.close()
    return body, response.headers.get("Content-Type", "no content type")
