"""A real SMTP server for tests (aiosmtpd): STARTTLS or TLS with a throwaway CA, AUTH against
one user, and every mail it accepts kept for the test to read."""

from __future__ import annotations

import email
import email.policy
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from devkit.deploy_broker import write_tls_files

SMTP_USER = "hub-mail"
SMTP_PASSWORD = "relay-secret-9f3c"


@dataclass(frozen=True)
class ReceivedMail:
    mail_from: str
    rcpt_tos: tuple[str, ...]
    content: bytes

    @property
    def message(self) -> EmailMessage:
        parsed = email.message_from_bytes(self.content, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        return parsed


class _Recorder:
    def __init__(self) -> None:
        self.received: list[ReceivedMail] = []
        self.arrived = threading.Condition()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self.arrived:
            self.received.append(
                ReceivedMail(envelope.mail_from, tuple(envelope.rcpt_tos), envelope.content)
            )
            self.arrived.notify_all()
        return "250 OK"


def _check_login(
    server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any
) -> AuthResult:
    ok = (
        isinstance(auth_data, LoginPassword)
        and auth_data.login == SMTP_USER.encode()
        and auth_data.password == SMTP_PASSWORD.encode()
    )
    return AuthResult(success=ok, handled=False)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class TestSmtpServer:
    """aiosmtpd on 127.0.0.1: ``implicit_tls`` False is STARTTLS required (port 587 style)."""

    __test__ = False

    def __init__(self, certs: Path, port: int, *, implicit_tls: bool = False) -> None:
        write_tls_files(certs)
        self.ca_file = certs / "ca.crt"
        self.port = port
        self._recorder = _Recorder()
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(certs / "server.crt", certs / "server.key")
        options: dict[str, Any] = {
            "authenticator": _check_login,
            "auth_required": True,
            "auth_require_tls": True,
        }
        if implicit_tls:
            # aiosmtpd only counts a STARTTLS upgrade as TLS when deciding to offer AUTH; a
            # socket that is TLS from the first byte is TLS all the same.
            options.update(ssl_context=context, auth_require_tls=False)
        else:
            options.update(tls_context=context, require_starttls=True)
        self._controller = Controller(
            self._recorder, hostname="127.0.0.1", port=port, ready_timeout=10, **options
        )

    @property
    def received(self) -> list[ReceivedMail]:
        with self._recorder.arrived:
            return list(self._recorder.received)

    def start(self) -> None:
        self._controller.start()

    def stop(self) -> None:
        self._controller.stop()

    def wait_for(self, count: int, timeout: float = 15.0) -> list[ReceivedMail]:
        deadline = time.monotonic() + timeout
        with self._recorder.arrived:
            while len(self._recorder.received) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(
                        f"{len(self._recorder.received)} mail arrived, {count} expected"
                    )
                self._recorder.arrived.wait(left)
            return list(self._recorder.received)


@pytest.fixture
def smtp_server(tmp_path: Path) -> Iterator[TestSmtpServer]:
    """A started STARTTLS + AUTH server on a free port."""
    server = TestSmtpServer(tmp_path / "smtp-certs", free_port())
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def smtp_password_file(tmp_path: Path) -> Path:
    path = tmp_path / "smtp.password"
    path.write_text(SMTP_PASSWORD + "\n", encoding="utf-8")
    path.chmod(0o600)
    return path
