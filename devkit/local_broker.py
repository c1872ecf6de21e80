"""A real Mosquitto broker on loopback for the demo and the tests: free port, passwords, ACL.

Needs only the standard library and paho-mqtt; the demo and the pytest fixtures both use it.
The generated configuration follows ``deploy/mosquitto/mosquitto.conf`` (the same ACL, built from
``cctv_common.wire.acl.ACL_RULES``; client ids bound to usernames; same limits, persistence on)
except for TLS: tests listen in plain TCP on 127.0.0.1 only.
"""

from __future__ import annotations

import getpass
import logging
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from types import MappingProxyType, TracebackType
from typing import Final, Self

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from cctv_common.wire.acl import acl_text
from cctv_common.wire.ids import validate_id

log = logging.getLogger(__name__)

LOOPBACK: Final = "127.0.0.1"
HUB_USER: Final = "hub"
# Same limits as deploy/mosquitto/mosquitto.conf; see the comments there.
MAX_PACKET_SIZE: Final = 16 * 1024 * 1024
MAX_INFLIGHT_MESSAGES: Final = 64
MAX_QUEUED_MESSAGES: Final = 10_000
# Safety limits only: a broker normally starts or stops in well under a second.
START_TIMEOUT_SECONDS: Final = 15.0
STOP_TIMEOUT_SECONDS: Final = 15.0
_POLL_SECONDS: Final = 0.02
_PORT_ATTEMPTS: Final = 5


class MosquittoError(RuntimeError):
    """The broker could not be configured, started or stopped; the message ends with its log."""


def mosquitto_executable() -> str:
    found = shutil.which("mosquitto") or shutil.which("mosquitto", path="/usr/sbin:/sbin")
    if found is None:
        raise MosquittoError("mosquitto is not installed (Debian: apt-get install mosquitto)")
    return found


def mosquitto_passwd_executable() -> str:
    found = shutil.which("mosquitto_passwd") or shutil.which(
        "mosquitto_passwd", path="/usr/bin:/usr/sbin"
    )
    if found is None:
        raise MosquittoError("mosquitto_passwd is not installed (Debian: mosquitto package)")
    return found


def free_loopback_port() -> int:
    """A TCP port nobody listens on right now (the kernel picks it; never 1883)."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            probe.bind((LOOPBACK, 0))
            port = int(probe.getsockname()[1])
        if port != 1883:
            return port


def login_refusal(
    host: str, port: int, user: str, password: str, timeout: float = START_TIMEOUT_SECONDS
) -> str | None:
    """Try one MQTT 5 login; ``None`` if the broker accepts it, else the broker's reason."""
    answers: list[ReasonCode] = []

    def on_connect(
        client: mqtt.Client,
        userdata: object,
        flags: mqtt.ConnectFlags,
        reason_code: ReasonCode,
        properties: Properties | None,
    ) -> None:
        answers.append(reason_code)

    client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    client.username_pw_set(user, password)
    client.on_connect = on_connect
    try:
        client.connect(host, port, keepalive=30)
    except OSError as exc:
        return f"cannot connect: {exc}"
    try:
        deadline = time.monotonic() + timeout
        while not answers and time.monotonic() < deadline:
            if client.loop(timeout=0.05) != mqtt.MQTT_ERR_SUCCESS and not answers:
                return "connection closed before CONNACK"
    finally:
        client.disconnect()
    if not answers:
        return "no CONNACK"
    return str(answers[0]) if answers[0].is_failure else None


def _config_path_value(path: Path) -> str:
    text = str(path)
    if any(ch.isspace() for ch in text):
        raise MosquittoError(f"mosquitto config paths cannot contain white space: {text!r}")
    return text


class MosquittoBroker:
    """One Mosquitto process with its own config, passwords, ACL, data and log under ``workdir``.

    The port is chosen once, so ``restart()`` comes back on the same address and clients can
    reconnect. ``stop()`` is a clean SIGTERM (the broker writes its persistence file);
    ``kill()`` is a crash (SIGKILL, nothing written since the last autosave).
    """

    def __init__(
        self,
        workdir: Path,
        users: Mapping[str, str],
        *,
        hub_users: Iterable[str] = (HUB_USER,),
        port: int | None = None,
        acl: str | None = None,
    ) -> None:
        """``acl`` replaces the generated ACL text (e.g. with ``deploy/mosquitto/acl``)."""
        self.workdir = workdir
        self.host = LOOPBACK
        # More addresses to listen on, on the same port (e.g. a shaped link's hub address, while
        # the hub itself connects over loopback).
        self.also_listen: list[str] = []
        self._fixed_port = port is not None
        self.port = port if port is not None else free_loopback_port()
        self._hub_users = frozenset(hub_users)
        self._acl = acl
        self._users: dict[str, str] = {}
        for name, password in users.items():
            self._check_user(name, password)
            self._users[name] = password
        self._process: subprocess.Popen[bytes] | None = None
        self.config_path = workdir / "mosquitto.conf"
        self.password_path = workdir / "passwd"
        self.acl_path = workdir / "acl"
        self.data_dir = workdir / "data"
        self.log_path = workdir / "mosquitto.log"
        self.stderr_path = workdir / "mosquitto.stderr"

    # Users.

    @property
    def users(self) -> Mapping[str, str]:
        """Username -> password (read only; use ``add_user``)."""
        return MappingProxyType(self._users)

    def password(self, user: str) -> str:
        return self._users[user]

    def _check_user(self, name: str, password: str) -> None:
        if name not in self._hub_users:
            # Site users: the ACL pattern puts the username into a topic, so it must be a site id.
            validate_id("site", name)
        elif not name or any(ch in name for ch in "/+#:\n ") or len(name) > 64:
            raise MosquittoError(f"hub username {name!r} is not allowed")
        if not password or "\n" in password or len(password) > 1000:
            raise MosquittoError(f"password for {name!r} must be one non-empty line")

    def add_user(self, name: str, password: str, *, hub: bool = False) -> None:
        """Add (or change) a user. A running broker reloads its files; this waits until it has."""
        if hub:
            self._hub_users = self._hub_users | {name}
        self._check_user(name, password)
        self._users[name] = password
        self._write_security_files()
        if self.is_running:
            assert self._process is not None
            self._process.send_signal(signal.SIGHUP)
            self._wait_until_login_works(name, password)

    # Files.

    def _write_security_files(self) -> None:
        # Written in clear text, then hashed in place by mosquitto_passwd -U, so no password is
        # ever on a command line.
        self.password_path.unlink(missing_ok=True)
        fd = os.open(self.password_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            for name, password in sorted(self._users.items()):
                handle.write(f"{name}:{password}\n")
        result = subprocess.run(
            [mosquitto_passwd_executable(), "-U", str(self.password_path)],
            capture_output=True,
            check=False,
        )
        if result.returncode != 0:
            self.password_path.unlink(missing_ok=True)
            raise MosquittoError(
                f"mosquitto_passwd -U failed ({result.returncode}): "
                f"{result.stderr.decode(errors='replace').strip()}"
            )
        acl = (
            acl_text(self._hub_users, "devkit/local_broker.py") if self._acl is None else self._acl
        )
        self.acl_path.write_text(acl, encoding="utf-8")

    def config_text(self) -> str:
        return "\n".join(
            [
                "# Generated by tests/support/mosquitto.py; see deploy/mosquitto/mosquitto.conf.",
                "per_listener_settings false",
                f"listener {self.port} {self.host}",
                *(f"listener {self.port} {address}" for address in self.also_listen),
                "allow_anonymous false",
                f"password_file {_config_path_value(self.password_path)}",
                f"acl_file {_config_path_value(self.acl_path)}",
                # The client id is the username: nobody can take over another's session.
                "use_username_as_clientid true",
                "persistence true",
                f"persistence_location {_config_path_value(self.data_dir)}/",
                "persistence_file mosquitto.db",
                f"max_packet_size {MAX_PACKET_SIZE}",
                f"max_inflight_messages {MAX_INFLIGHT_MESSAGES}",
                f"max_queued_messages {MAX_QUEUED_MESSAGES}",
                "max_queued_bytes 0",
                f"log_dest file {_config_path_value(self.log_path)}",
                "log_type error",
                "log_type warning",
                "log_type notice",
                "log_type information",
                "log_type subscribe",
                "connection_messages true",
                "log_timestamp true",
                "log_timestamp_format %Y-%m-%dT%H:%M:%S",
                # Run as whoever runs the tests, also as root (Mosquitto would switch to the
                # 'mosquitto' user and then could not write into the test's folder).
                f"user {getpass.getuser()}",
                "",
            ]
        )

    def _write_config(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.data_dir.mkdir(exist_ok=True)
        self._write_security_files()
        self.config_path.write_text(self.config_text(), encoding="utf-8")

    # Process.

    @property
    def is_running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def start(self) -> None:
        """Start the broker and wait until it accepts TCP connections."""
        if self.is_running:
            raise MosquittoError(f"mosquitto on port {self.port} is already running")
        for attempt in range(_PORT_ATTEMPTS):
            self._write_config()
            self._spawn()
            try:
                self.wait_until_listening()
                return
            except MosquittoError:
                port_taken = "Address already in use" in self.log_text()
                if self._fixed_port or not port_taken or attempt == _PORT_ATTEMPTS - 1:
                    raise
                # Another process took the port between choosing and binding: pick another.
                log.info("port %s was taken, trying another", self.port)
                self.port = free_loopback_port()

    def _spawn(self) -> None:
        with self.stderr_path.open("ab") as stderr:
            self._process = subprocess.Popen(
                [mosquitto_executable(), "-c", str(self.config_path)],
                stdin=subprocess.DEVNULL,
                stdout=stderr,
                stderr=stderr,
                cwd=self.workdir,
            )
        log.info("mosquitto pid %s starting on %s:%s", self._process.pid, self.host, self.port)

    def wait_until_listening(self, timeout: float = START_TIMEOUT_SECONDS) -> None:
        deadline = time.monotonic() + timeout
        while True:
            if self._process is None or self._process.poll() is not None:
                code = None if self._process is None else self._process.returncode
                raise MosquittoError(f"mosquitto exited ({code}) while starting{self._log_tail()}")
            try:
                with socket.create_connection((self.host, self.port), timeout=1.0):
                    return
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise MosquittoError(
                    f"mosquitto is not listening on {self.host}:{self.port}{self._log_tail()}"
                )
            time.sleep(_POLL_SECONDS)

    def stop(self, timeout: float = STOP_TIMEOUT_SECONDS) -> None:
        """Clean shutdown: SIGTERM and wait, so that persistence is written. No-op if stopped."""
        process = self._process
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired as exc:
            process.kill()
            process.wait()
            raise MosquittoError(
                f"mosquitto pid {process.pid} ignored SIGTERM; killed{self._log_tail()}"
            ) from exc
        log.info("mosquitto pid %s stopped (%s)", process.pid, process.returncode)

    def kill(self) -> None:
        """Crash: SIGKILL, so nothing is written on the way out."""
        process = self._process
        if process is None or process.poll() is not None:
            return
        process.kill()
        process.wait()
        log.info("mosquitto pid %s killed", process.pid)

    def restart(self) -> None:
        self.stop()
        self.start()

    def _wait_until_login_works(self, user: str, password: str) -> None:
        # A SIGHUP reload is asynchronous; the only proof it has happened is a login that works.
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while login_refusal(self.host, self.port, user, password) is not None:
            if time.monotonic() > deadline:
                raise MosquittoError(f"user {user!r} still cannot log in{self._log_tail()}")
            time.sleep(_POLL_SECONDS)

    # Logs.

    def log_text(self) -> str:
        parts = []
        for path in (self.stderr_path, self.log_path):
            if path.exists():
                parts.append(path.read_text(encoding="utf-8", errors="replace"))
        return "\n".join(parts)

    def _log_tail(self, lines: int = 20) -> str:
        tail = self.log_text().strip().splitlines()[-lines:]
        return (":\n" + "\n".join(tail)) if tail else " (no log)"

    # Context manager.

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "running" if self.is_running else "stopped"
        return f"MosquittoBroker({self.host}:{self.port}, {state}, users={sorted(self._users)})"
