"""A small asyncio RTSP 1.0 client over TCP with interleaved RTP: enough for replay from an NVR.

PyAV/FFmpeg cannot send ``Require: onvif-replay``, ``Rate-Control: no`` or ``Range: clock=``, so
the replay client speaks RTSP itself. One ``RtspConnection`` is one TCP connection: requests
with CSeq, answers parsed with limits (header lines, header bytes, body bytes), Digest (MD5, with
or without qop=auth) or Basic authentication on a 401, and, after PLAY, interleaved frames
(``$``, channel, length) read one at a time. An RTSP message that arrives between frames (the
answer to a keep-alive, or a request from the server) is read and set aside.

Every failure is an ``RtspError`` whose message names the server (never the password); a 551
to a ``Require`` is ``OptionNotSupported`` naming what was refused.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import logging
import secrets
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit, urlunsplit

log = logging.getLogger(__name__)

DEFAULT_PORT = 554
MAX_HEADER_LINES = 100
MAX_LINE = 8 * 1024
MAX_BODY = 256 * 1024
READ_SIZE = 256 * 1024
USER_AGENT = "cctv-evidence-agent"


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


class RtspConnection:
    """One RTSP connection. ``open``, ``request`` ..., ``read_frame`` after PLAY, ``close``."""

    def __init__(
        self,
        url: RtspUrl,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        timeout: float,
    ) -> None:
        self.url = url
        self.timeout = timeout
        self._reader = reader
        self._writer = writer
        self._cseq = 0
        self._authorization: tuple[str, dict[str, str]] | None = None
        self._nonce_count = 0
        self.session = ""
        self.last_cseq = 0
        self.set_aside: list[RtspResponse] = []

    @classmethod
    async def open(cls, url: RtspUrl, seconds: float = 10.0) -> RtspConnection:
        """Connect; ``seconds`` bounds the connect and every later answer."""
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(url.host, url.port, limit=MAX_LINE), seconds
            )
        except TimeoutError as exc:
            raise RtspError(
                f"NVR at {url.where} does not answer (no connection in {seconds:g} s)"
            ) from exc
        except OSError as exc:
            raise RtspError(
                f"cannot connect to the NVR at {url.where}: {exc.strerror or exc}"
            ) from exc
        return cls(url, reader, writer, seconds)

    async def close(self) -> None:
        self._writer.close()
        try:
            await asyncio.wait_for(self._writer.wait_closed(), 2.0)
        except (OSError, TimeoutError):
            pass

    # -- requests ---------------------------------------------------------------------------

    async def request(
        self, method: str, uri: str, headers: Mapping[str, str] | None = None
    ) -> RtspResponse:
        """Send one request (authenticating once on a 401) and return its 2xx answer."""
        response = await self._exchange(method, uri, headers or {})
        if response.status == 401 and self._authorization is None:
            self._authorization = self._choose_auth(response)
            response = await self._exchange(method, uri, headers or {})
        if 200 <= response.status < 300:
            return response
        where = f"NVR at {self.url.where}"
        said = f"{response.status} {response.reason}".strip()
        if response.status in (401, 403):
            raise RtspAuthError(
                f"{where} refused the user name or password ({method}: {said})",
                response.status,
                response.headers,
            )
        if response.status == 551:
            refused = response.header("unsupported") or (headers or {}).get("Require", "")
            raise OptionNotSupported(
                f"{where} does not support {refused or 'an option asked for'} ({method}: {said})",
                response.status,
                response.headers,
            )
        raise RtspStatusError(
            f"{where} answered {method} with {said}", response.status, response.headers
        )

    def send_keepalive(self, uri: str) -> None:
        """A GET_PARAMETER whose answer ``read_frame`` sets aside (keeps the session alive)."""
        self._write("GET_PARAMETER", uri, {})

    def _choose_auth(self, response: RtspResponse) -> tuple[str, dict[str, str]]:
        if not self.url.user:
            raise RtspAuthError(
                f"NVR at {self.url.where} asks for a user name and password and none is configured",
                401,
                response.headers,
            )
        challenges = parse_challenges(response.challenges)
        for scheme in ("digest", "basic"):
            if scheme in challenges:
                return scheme, challenges[scheme]
        offered = ", ".join(challenges) or "none"
        raise RtspAuthError(
            f"NVR at {self.url.where} offers no Digest or Basic authentication (offers: {offered})",
            401,
            response.headers,
        )

    def _authorization_header(self, method: str, uri: str) -> str | None:
        if self._authorization is None:
            return None
        scheme, challenge = self._authorization
        if scheme == "basic":
            token = base64.b64encode(f"{self.url.user}:{self.url.password}".encode()).decode()
            return f"Basic {token}"
        self._nonce_count += 1
        return digest_authorization(
            challenge, method, uri, self.url.user, self.url.password, self._nonce_count
        )

    def _write(self, method: str, uri: str, headers: Mapping[str, str]) -> int:
        self._cseq += 1
        lines = [f"{method} {uri} RTSP/1.0", f"CSeq: {self._cseq}", f"User-Agent: {USER_AGENT}"]
        if self.session:
            lines.append(f"Session: {self.session}")
        authorization = self._authorization_header(method, uri)
        if authorization:
            lines.append(f"Authorization: {authorization}")
        lines += [f"{name}: {value}" for name, value in headers.items()]
        self._writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
        self.last_cseq = self._cseq
        return self._cseq

    async def _exchange(self, method: str, uri: str, headers: Mapping[str, str]) -> RtspResponse:
        cseq = self._write(method, uri, headers)
        try:
            await asyncio.wait_for(self._writer.drain(), self.timeout)
            while True:
                first = await asyncio.wait_for(self._reader.readexactly(1), self.timeout)
                if first == b"$":  # a stray interleaved frame before the answer
                    await self._read_frame_body()
                    continue
                response = await asyncio.wait_for(self._read_message(first), self.timeout)
                if response.header("cseq") in ("", str(cseq)):
                    break
                self.set_aside.append(response)
        except TimeoutError as exc:
            raise RtspError(
                f"NVR at {self.url.where} did not answer {method} within {self.timeout:g} s"
            ) from exc
        except (OSError, asyncio.IncompleteReadError) as exc:
            raise RtspError(
                f"NVR at {self.url.where} closed the connection during {method}"
            ) from exc
        session = response.header("session").split(";", 1)[0].strip()
        if session:
            self.session = session
        return response

    # -- reading ----------------------------------------------------------------------------

    async def frames(self, idle_seconds: float) -> AsyncIterator[list[tuple[int, bytes]]]:
        """Interleaved frames as they arrive, in batches of (channel, data); ends when the
        server closes the connection. RTSP messages between frames are set aside."""
        parser = InterleavedParser(self.url.where)
        while True:
            try:
                async with asyncio.timeout(idle_seconds):
                    chunk = await self._reader.read(READ_SIZE)
            except TimeoutError as exc:
                raise RtspError(
                    f"NVR at {self.url.where} sent nothing for {idle_seconds:g} s during replay"
                ) from exc
            except OSError:
                chunk = b""
            if not chunk:
                return
            frames = parser.feed(chunk)
            if parser.messages:
                self.set_aside.extend(parser.messages)
                parser.messages.clear()
                del self.set_aside[:-8]
            if frames:
                yield frames

    async def _read_frame_body(self) -> tuple[int, bytes]:
        header = await self._reader.readexactly(3)
        length = int.from_bytes(header[1:3], "big")
        return header[0], await self._reader.readexactly(length)

    async def _read_message(self, first: bytes) -> RtspResponse:
        line = first + await self._readline()
        parts = line.decode("latin-1").strip().split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("RTSP/"):
            if len(parts) == 3 and parts[2].startswith("RTSP/"):
                # A request from the server (ANNOUNCE, GET_PARAMETER...): read and ignore it.
                headers, _ = await self._read_headers()
                await self._read_body(headers)
                return RtspResponse(0, parts[0], headers)
            raise RtspProtocolError(
                f"NVR at {self.url.where} sent something that is not RTSP: {line[:60]!r}"
            )
        try:
            status = int(parts[1])
        except ValueError:
            raise RtspProtocolError(
                f"NVR at {self.url.where} sent a bad status line: {line[:60]!r}"
            ) from None
        headers, challenges = await self._read_headers()
        body = await self._read_body(headers)
        return RtspResponse(
            status, parts[2] if len(parts) > 2 else "", headers, body, tuple(challenges)
        )

    async def _readline(self) -> bytes:
        try:
            line = await self._reader.readuntil(b"\n")
        except asyncio.LimitOverrunError as exc:
            raise RtspProtocolError(
                f"NVR at {self.url.where} sent a header line over {MAX_LINE} bytes"
            ) from exc
        return line

    async def _read_headers(self) -> tuple[dict[str, str], list[str]]:
        headers: dict[str, str] = {}
        challenges: list[str] = []
        for _ in range(MAX_HEADER_LINES):
            line = (await self._readline()).decode("latin-1").rstrip("\r\n")
            if not line:
                return headers, challenges
            name, _, value = line.partition(":")
            name, value = name.strip().lower(), value.strip()
            if name == "www-authenticate":
                challenges.append(value)
            headers[name] = f"{headers[name]}, {value}" if name in headers else value
        raise RtspProtocolError(
            f"NVR at {self.url.where} sent over {MAX_HEADER_LINES} header lines"
        )

    async def _read_body(self, headers: Mapping[str, str]) -> bytes:
        try:
            length = int(headers.get("content-length", "0") or 0)
        except ValueError:
            raise RtspProtocolError(f"NVR at {self.url.where} sent a bad Content-Length") from None
        if length < 0 or length > MAX_BODY:
            raise RtspProtocolError(
                f"NVR at {self.url.where} sent a body of {length} bytes (at most {MAX_BODY})"
            )
        return await self._reader.readexactly(length) if length else b""


class InterleavedParser:
    """Splits the byte stream after PLAY into interleaved frames and RTSP messages. Pure."""

    def __init__(self, where: str) -> None:
        self.where = where
        self.messages: list[RtspResponse] = []
        self._buffer = bytearray()

    def feed(self, data: bytes) -> list[tuple[int, bytes]]:
        buffer = self._buffer
        buffer += data
        frames: list[tuple[int, bytes]] = []
        position = 0
        size = len(buffer)
        while position < size:
            if buffer[position] == 0x24:  # "$"
                if position + 4 > size:
                    break
                length = (buffer[position + 2] << 8) | buffer[position + 3]
                end = position + 4 + length
                if end > size:
                    break
                frames.append((buffer[position + 1], bytes(buffer[position + 4 : end])))
                position = end
                continue
            consumed = self._message(position)
            if consumed == 0:
                break
            position += consumed
        del buffer[:position]
        return frames

    def _message(self, position: int) -> int:
        """Bytes of one whole RTSP message at ``position`` (0 if it is not all here yet)."""
        buffer = self._buffer
        rest = bytes(buffer[position : position + 5])
        if len(rest) < 5 and b"RTSP/".startswith(rest):
            return 0  # the start of a status line: wait for more
        if b"\r\n" not in buffer[position : position + MAX_LINE] and len(buffer) - position < 64:
            return 0  # perhaps a request line, not all here yet
        if not buffer.startswith(b"RTSP/", position) and not _looks_like_request(buffer, position):
            raise RtspProtocolError(
                f"NVR at {self.where} sent neither an interleaved frame nor an RTSP message:"
                f" {bytes(buffer[position : position + 40])!r}"
            )
        end = buffer.find(b"\r\n\r\n", position)
        if end < 0:
            if len(buffer) - position > MAX_HEADER_LINES * 100:
                raise RtspProtocolError(f"NVR at {self.where} sent an endless RTSP header")
            return 0
        head = bytes(buffer[position:end]).decode("latin-1").split("\r\n")
        headers: dict[str, str] = {}
        for line in head[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        try:
            length = int(headers.get("content-length", "0") or 0)
        except ValueError:
            raise RtspProtocolError(f"NVR at {self.where} sent a bad Content-Length") from None
        if not 0 <= length <= MAX_BODY:
            raise RtspProtocolError(f"NVR at {self.where} sent a body of {length} bytes")
        total = end + 4 - position + length
        if position + total > len(buffer):
            return 0
        first = head[0].split(" ", 2)
        status = int(first[1]) if first[0].startswith("RTSP/") and first[1].isdigit() else 0
        self.messages.append(RtspResponse(status, first[-1], headers))
        return total


def _looks_like_request(buffer: bytearray, position: int) -> bool:
    line_end = buffer.find(b"\r\n", position, position + MAX_LINE)
    return line_end > position and bytes(buffer[position:line_end]).endswith(b"RTSP/1.0")
