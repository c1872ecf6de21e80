"""Helpers for the upload-link tests: a request to upload for, links made through the API, tus
requests as a client sends them, and a PATCH whose connection is cut part-way (a raw socket
that sends fewer bytes than its Content-Length and closes)."""

from __future__ import annotations

import base64
import json
import shutil
import socket
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlsplit

import httpx

from tests.support.hub_kit import CAMERA
from tests.support.request_pages import OFFICER, LiveHub, request_body

TUS: Final = {"Tus-Resumable": "1.0.0"}
STATEMENT: Final = {
    "name": "Sam Patel",
    "organisation": "Patel's Newsagents, 12 High Street",
    "footage_from": "Shop door camera, 2 March 2026 21:00-21:30",
    "obtained": "Exported with the recorder's USB export",
    "contact": "07700 900123",
    "declaration": True,
}


def file_request(hub: LiveHub) -> str:
    start = datetime.now(UTC) - timedelta(hours=2)
    made = hub.call(OFFICER, "POST", "/api/requests", 201, json=request_body([CAMERA], start))
    reference: str = made["id"]
    return reference


def make_link(hub: LiveHub, reference: str, **changes: Any) -> dict[str, Any]:
    body = {
        "recipient_name": "Sam Patel",
        "recipient_organisation": "Patel's Newsagents",
        "recipient_email": "sam@example.org",
        "purpose": "Footage of the assault outside 12 High Street on 2 March",
    } | changes
    made: dict[str, Any] = hub.call(
        "supervisor", "POST", f"/api/requests/{reference}/upload-links", 201, json=body
    )
    return made


def token_of(link: dict[str, Any]) -> str:
    return str(link["path"]).rsplit("/", 1)[-1]


def metadata(filename: str, statement: dict[str, Any] | None = None) -> str:
    values = {
        "filename": filename.encode(),
        "filetype": b"video/mp4",
        "statement": json.dumps(statement if statement is not None else STATEMENT).encode(),
    }
    return ",".join(f"{k} {base64.b64encode(v).decode()}" for k, v in values.items())


def create(
    client: httpx.Client, token: str, length: int, filename: str = "door.mp4"
) -> httpx.Response:
    return client.post(
        "/api/tus/",
        headers=TUS
        | {
            "Upload-Token": token,
            "Upload-Length": str(length),
            "Upload-Metadata": metadata(filename),
        },
    )


def patch(
    client: httpx.Client, location: str, token: str, offset: int, data: bytes
) -> httpx.Response:
    return client.patch(
        location,
        content=data,
        headers=TUS
        | {
            "Upload-Token": token,
            "Upload-Offset": str(offset),
            "Content-Type": "application/offset+octet-stream",
        },
    )


def head(client: httpx.Client, location: str, token: str) -> httpx.Response:
    return client.head(location, headers=TUS | {"Upload-Token": token})


def cut_patch(url: str, location: str, token: str, offset: int, data: bytes, sent: int) -> None:
    """A PATCH announcing ``len(data)`` bytes whose connection drops after ``sent`` of them."""
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    head_lines = (
        f"PATCH {location} HTTP/1.1\r\nHost: {host}:{port}\r\nTus-Resumable: 1.0.0\r\n"
        f"Upload-Token: {token}\r\nUpload-Offset: {offset}\r\n"
        "Content-Type: application/offset+octet-stream\r\n"
        f"Content-Length: {len(data)}\r\n\r\n"
    )
    with socket.create_connection((host, port), timeout=10) as conn:
        conn.sendall(head_lines.encode() + data[:sent])


def make_noisy_mp4(path: Path, seconds: float = 1.0) -> bytes:
    """A playable H.264 MP4 of random noise (a few hundred kB a second), so that an upload of
    it takes several tus chunks."""
    ffmpeg = shutil.which("ffmpeg")
    assert ffmpeg is not None, "ffmpeg is not installed (Debian: apt-get install ffmpeg)"
    source = f"nullsrc=s=320x240:r=25:d={seconds},geq=random(1)*255:128:128"
    subprocess.run(
        [
            *(ffmpeg, "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i", source),
            *("-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"),
            *("-movflags", "+faststart", str(path)),
        ],
        check=True,
        timeout=60,
    )
    return path.read_bytes()
