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
import logging
from collections.abc import AsyncIterator, Mapping

from edge_agent.nvr.interleaved import InterleavedParser
from edge_agent.nvr.rtsp_messages import (
    MAX_BODY,
    MAX_HEADER_LINES,
    MAX_LINE,
    OptionNotSupported,
    RtspAuthError,
    RtspError,
    RtspProtocolError,
    RtspResponse,
    RtspStatusError,
    RtspUrl,
    digest_authorization,
    parse_challenges,
)

log = logging.getLogger(__name__)

READ_SIZE = 256 * 1024
USER_AGENT = "cctv-evidence-agent"


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
