"""The replay client against NVRs that misbehave: a real TCP server on loopback whose answers
are scripted. Every case is one clear ReplayFailed (or a partial result), never a hang or a
crash, and the password never appears in a message."""

from __future__ import annotations

import asyncio
import struct
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from edge_agent.nvr import replay as replay_module
from edge_agent.nvr.replay import ReplayFailed, ReplayRequest, ReplayResult, replay

T0 = datetime(2026, 1, 10, 10, 0, tzinfo=UTC)
PASSWORD = "s3cret-Pa55"
SDP = (
    "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=x\r\nm=video 0 RTP/AVP 96\r\n"
    "a=rtpmap:96 H264/90000\r\na=control:stream=0\r\n"
)

Script = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def read_request(reader: asyncio.StreamReader) -> tuple[str, str]:
    head = (await reader.readuntil(b"\r\n\r\n")).decode()
    cseq = next(
        line.split(":", 1)[1].strip() for line in head.split("\r\n") if line.startswith("CSeq")
    )
    return head.split(" ", 1)[0], cseq


def answer(cseq: str, extra: str = "", body: str = "", status: str = "200 OK") -> bytes:
    length = f"Content-Length: {len(body)}\r\n" if body else ""
    return f"RTSP/1.0 {status}\r\nCSeq: {cseq}\r\n{extra}{length}\r\n{body}".encode()


async def run(
    script: Script, tmp_path: Path, seconds: float = 2.0, **request: object
) -> ReplayResult:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await script(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        options: dict[str, object] = {"timeout": 1.0, "idle_seconds": 1.0, **request}
        return await replay(
            ReplayRequest(
                f"rtsp://127.0.0.1:{port}/replay/REC",
                T0,
                T0 + timedelta(seconds=seconds),
                "admin",
                PASSWORD,
                **options,  # type: ignore[arg-type]
            ),
            tmp_path / "spool",
        )
    finally:
        server.close()


async def describe_setup_play(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    for _ in range(3):
        method, cseq = await read_request(reader)
        extra = "Session: 42;timeout=60\r\n" if method != "DESCRIBE" else ""
        writer.write(answer(cseq, extra, SDP if method == "DESCRIBE" else ""))
    await writer.drain()


def frame(seq: int, ntp_seconds: int, payload: bytes = b"\x65" + b"x" * 1000) -> bytes:
    ntp = (ntp_seconds + 2_208_988_800) << 32
    packet = struct.pack("!BBHII", 0x90, 0x80 | 96, seq & 0xFFFF, seq * 3600, 1)
    packet += struct.pack("!HHQBBH", 0xABAC, 3, ntp, 0x80, 0, 0) + payload
    return b"$\x00" + struct.pack("!H", len(packet)) + packet


def failed(tmp_path: Path, script: Script, match: str, **request: object) -> None:
    with pytest.raises(ReplayFailed, match=match) as caught:
        asyncio.run(run(script, tmp_path, 2.0, **request))
    assert PASSWORD not in str(caught.value)


def test_garbage_instead_of_rtsp(tmp_path: Path) -> None:
    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\n\r\n<html>")
        await writer.drain()

    failed(tmp_path, script, "not RTSP")


def test_a_header_line_too_long(tmp_path: Path) -> None:
    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        _, cseq = await read_request(reader)
        writer.write(f"RTSP/1.0 200 OK\r\nCSeq: {cseq}\r\nX: {'a' * 20000}\r\n\r\n".encode())
        await writer.drain()

    failed(tmp_path, script, "header line over")


def test_credentials_refused_after_digest(tmp_path: Path) -> None:
    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        for _ in range(2):
            _, cseq = await read_request(reader)
            challenge = 'WWW-Authenticate: Digest realm="nvr", nonce="abc"\r\n'
            writer.write(answer(cseq, challenge, status="401 Unauthorized"))
            await writer.drain()

    failed(tmp_path, script, "refused the user name or password")


def test_a_server_that_never_answers(tmp_path: Path) -> None:
    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(30)

    failed(tmp_path, script, "did not answer DESCRIBE within 1 s")


def test_nobody_listening(tmp_path: Path) -> None:
    with pytest.raises(ReplayFailed, match="cannot connect"):
        asyncio.run(
            replay(
                ReplayRequest("rtsp://127.0.0.1:9/x", T0, T0 + timedelta(seconds=1)), tmp_path / "s"
            )
        )


def test_silence_during_the_replay(tmp_path: Path) -> None:
    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await describe_setup_play(reader, writer)
        writer.write(frame(1, int(T0.timestamp())))
        await writer.drain()
        await asyncio.sleep(30)

    failed(tmp_path, script, "sent nothing for 1 s during replay")


def test_a_dropped_connection_keeps_what_arrived(tmp_path: Path) -> None:
    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await describe_setup_play(reader, writer)
        writer.write(b"".join(frame(n, int(T0.timestamp())) for n in range(1, 4)))
        await writer.drain()

    result = asyncio.run(run(script, tmp_path))
    assert len(result.units) == 3 and not result.terminal


def test_frame_times_that_never_advance_cannot_fill_the_disk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(replay_module, "MAX_BYTES_PER_SECOND", 0)
    monkeypatch.setattr(replay_module, "MAX_BYTES_MARGIN", 200_000)

    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await describe_setup_play(reader, writer)
        for n in range(1, 100_000):
            writer.write(frame(n, int(T0.timestamp())))
            await writer.drain()

    failed(tmp_path, script, "frame times do not advance")
