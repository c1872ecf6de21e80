"""A whole site on loopback for end-to-end tests and benches: hub and agent processes, one broker.

The configs are written the way ``devkit/demo.py`` writes them: the agent TOML (one camera, the
broker's site user), the site key created up front and its public key registered in the hub TOML,
the hub's key created up front and its public key given to the agent
(``uplink.hub_public_key_file``), and hub users with ``hash_password``. ``SiteStack`` starts,
stops (SIGTERM), kills (SIGKILL) and restarts the hub and the agent as separate processes with the
same config and data, so a restart resumes exactly what a real restart would. ``HubApi`` is the
small REST client the tests use.

The broker and the camera are owned by the caller, so several stacks (or tests) can share them.
"""

from __future__ import annotations

import hashlib
import io
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Final

import httpx

from cctv_common.clock import iso_utc, parse_iso
from cctv_common.evidence.manifest import Manifest
from cctv_common.evidence.signing import load_public_key
from cctv_common.evidence.verify import verify_signed_manifest
from cctv_common.wire.job_state import is_final
from devkit.configs import BrokerAccount, write_site
from devkit.local_broker import HUB_USER, MosquittoBroker, free_loopback_port

PASSWORD: Final = "e2e-password"
USERS: Final = {
    "operator": "operator",
    "supervisor": "supervisor",
    "police": "police",
    "engineer": "engineer",
    "auditor": "auditor",
}
# Safety limits for waits; nothing asserts on how long anything took.
START_TIMEOUT_SECONDS: Final = 30.0
STOP_TIMEOUT_SECONDS: Final = 20.0
JOB_TIMEOUT_SECONDS: Final = 120.0


class StackError(AssertionError):
    """A process died or a wait ran out; the message points at the log to read."""


class ManagedProcess:
    """One Python module run as a child process, its output appended to a log file."""

    def __init__(self, name: str, args: list[str], log_path: Path) -> None:
        self.name = name
        self.args = args
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self) -> None:
        if self.running:
            return
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log_file:
            self.starts += 1
            log_file.write(f"\n===== start #{self.starts} =====\n".encode())
            log_file.flush()
            self.process = subprocess.Popen(self.args, stdout=log_file, stderr=subprocess.STDOUT)

    def stop(self) -> None:
        """SIGTERM and wait (SIGKILL if it does not stop in time)."""
        self._signal(signal.SIGTERM)

    def kill(self) -> None:
        """SIGKILL: a crash, nothing cleaned up."""
        self._signal(signal.SIGKILL)

    def _signal(self, sig: signal.Signals) -> None:
        process = self.process
        if process is None or process.poll() is not None:
            return
        process.send_signal(sig)
        try:
            process.wait(timeout=STOP_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def check_alive(self) -> None:
        if self.process is not None and self.process.poll() is not None:
            raise StackError(
                f"the {self.name} exited with code {self.process.returncode}; see {self.log_path}"
            )

    def log_tail(self, chars: int = 3000) -> str:
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")[-chars:]
        except OSError:
            return ""


@dataclass(frozen=True)
class StoredClip:
    """A clip as the hub serves it, checked against the site's key and its own manifest."""

    clip_id: str
    detail: dict[str, Any]
    manifest: Manifest
    video: bytes

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.video).hexdigest()

    def video_file(self) -> io.BytesIO:
        return io.BytesIO(self.video)


class HubApi:
    """The hub's REST API as the tests use it (HTTP Basic auth)."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.operator = ("operator", PASSWORD)
        self.supervisor = ("supervisor", PASSWORD)
        self._client = httpx.Client(base_url=base, timeout=30)

    def close(self) -> None:
        self._client.close()

    def healthy(self) -> bool:
        try:
            return self._client.get("/api/health", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    def get(self, path: str, auth: tuple[str, str] | None = None) -> httpx.Response:
        response = self._client.get(path, auth=auth or self.operator)
        if response.status_code != 200:
            raise StackError(f"GET {path} answered {response.status_code}: {response.text[:300]}")
        return response

    def json(self, path: str) -> Any:
        return self.get(path).json()

    def camera(self, site_id: str, camera_id: str) -> dict[str, Any] | None:
        for site in self.json("/api/sites"):
            if site["site_id"] != site_id:
                continue
            for camera in site["cameras"]:
                if camera["camera_id"] == camera_id:
                    return dict(camera)
        return None

    def site_state(self, site_id: str) -> str | None:
        for site in self.json("/api/sites"):
            if site["site_id"] == site_id:
                return str(site["state"])
        return None

    def dispatch(
        self, site_id: str, camera_id: str, start: datetime, end: datetime, reason: str
    ) -> dict[str, Any]:
        response = self._client.post(
            "/api/jobs",
            auth=self.operator,
            json={
                "site_id": site_id,
                "camera_id": camera_id,
                "start": iso_utc(start),
                "end": iso_utc(end),
                "reason": reason,
            },
        )
        if response.status_code != 201:
            raise StackError(f"POST /api/jobs answered {response.status_code}: {response.text}")
        return dict(response.json())

    def job(self, job_id: str) -> dict[str, Any]:
        return dict(self.json(f"/api/jobs/{job_id}"))

    def clips_for_job(self, job_id: str) -> list[dict[str, Any]]:
        return [clip for clip in self.json("/api/clips?limit=1000") if clip["job_id"] == job_id]

    def stored_clip(self, clip_id: str, public_key_pem_text: str) -> StoredClip:
        """Fetch a clip's detail, manifest and video; the manifest must verify with the key."""
        detail = self.json(f"/api/clips/{clip_id}")
        manifest_bytes = self.get(f"/api/clips/{clip_id}/manifest.json", self.supervisor).content
        manifest = verify_signed_manifest(
            manifest_bytes, detail["signature"], load_public_key(public_key_pem_text)
        )
        video = self.get(f"/api/clips/{clip_id}/video", self.supervisor).content
        return StoredClip(clip_id, detail, manifest, video)


class SiteStack:
    """One hub and one site agent (processes) on a caller's broker and camera.

    The broker must have the users ``hub`` and ``site_id``. ``chunk_bytes`` sets the agent's
    upload chunk size (64 KiB is the minimum; small chunks make an upload last long enough to
    interrupt).
    """

    def __init__(
        self,
        workdir: Path,
        broker: MosquittoBroker,
        camera_url: str,
        *,
        site_id: str,
        camera_id: str = "cam-1",
        hub_id: str = "e2e",
        chunk_bytes: int | None = None,
        segment_seconds: float = 2.0,
        camera: dict[str, Any] | None = None,
        ca_file: Path | None = None,
        extra_cameras: Sequence[Mapping[str, Any]] = (),
    ) -> None:
        """``camera`` replaces the agent's camera entry (e.g. an ``onvif`` camera); by default
        it is ``camera_url`` as a plain RTSP camera. ``extra_cameras``: more camera entries
        (``{"id", "name", "rtsp_url"}``) the agent records too. ``ca_file``: the broker speaks
        TLS with a certificate from this CA (else plain TCP)."""
        self.workdir = workdir
        self.broker = broker
        self.site_id = site_id
        self.camera_id = camera_id
        self.http_port = free_loopback_port()
        self.api = HubApi(f"http://127.0.0.1:{self.http_port}")
        uplink: dict[str, Any] = {"status_interval_seconds": 1.0}
        if chunk_bytes is not None:
            uplink["chunk_bytes"] = chunk_bytes
        tls = ca_file is not None
        files = write_site(
            workdir,
            site_id=site_id,
            site_name="E2E site",
            hub_id=hub_id,
            http_port=self.http_port,
            site_login=BrokerAccount(
                broker.host, broker.port, site_id, broker.password(site_id), tls, ca_file
            ),
            hub_login=BrokerAccount(
                broker.host, broker.port, HUB_USER, broker.password(HUB_USER), tls, ca_file
            ),
            camera={"id": camera_id, **camera}
            if camera is not None
            else {"id": camera_id, "name": "E2E test pattern", "rtsp_url": camera_url},
            users=USERS,
            password=PASSWORD,
            uplink=uplink,
            recorder={"segment_seconds": segment_seconds},
            extra_cameras=extra_cameras,
        )
        self.agent_data = files.agent_data
        # The hub's own key, made up front so that the agent's config can name its public half.
        self.hub_key = files.hub_key
        self.public_key_pem = files.site_public_key_pem
        self.agent_config = agent_config = files.agent_config
        self.hub_config = hub_config = files.hub_config
        python = sys.executable
        self.hub = ManagedProcess(
            "hub",
            [python, "-m", "hub.cli", "run", "--config", str(hub_config)],
            workdir / "hub.log",
        )
        self.agent = ManagedProcess(
            "agent",
            [python, "-m", "edge_agent.cli", "run", "--config", str(agent_config)],
            workdir / "agent.log",
        )

    # Processes.

    def start_hub(self) -> None:
        self.hub.start()
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while not self.api.healthy():
            self.hub.check_alive()
            if time.monotonic() > deadline:
                raise StackError(f"the hub did not answer on /api/health; see {self.hub.log_path}")
            time.sleep(0.1)

    def start_agent(self) -> None:
        self.agent.start()

    def start(self) -> None:
        self.start_hub()
        self.start_agent()

    def ensure_running(self) -> None:
        if not self.hub.running:
            self.start_hub()
        if not self.agent.running:
            self.start_agent()

    def restart_hub(self) -> None:
        self.hub.stop()
        self.start_hub()

    def close(self) -> None:
        try:
            self.agent.stop()
        finally:
            try:
                self.hub.stop()
            finally:
                self.api.close()

    def check_alive(self) -> None:
        self.hub.check_alive()
        self.agent.check_alive()

    # Waits.

    def wait_for_footage(self, seconds: float, timeout: float = 90.0) -> tuple[datetime, datetime]:
        """Wait until the hub shows the camera online with ``seconds`` of footage; its extent."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.check_alive()
            camera = self.api.camera(self.site_id, self.camera_id)
            if camera and camera["buffer_start"] and camera["buffer_end"]:
                start, end = parse_iso(camera["buffer_start"]), parse_iso(camera["buffer_end"])
                if (end - start).total_seconds() >= seconds:
                    return start, end
            time.sleep(0.5)
        raise StackError(
            f"the agent did not report {seconds} s of footage; see {self.agent.log_path}"
        )

    def buffer_end(self) -> datetime:
        camera = self.api.camera(self.site_id, self.camera_id)
        if camera is None or not camera["buffer_end"]:
            raise StackError(f"the hub knows no footage of {self.camera_id}")
        return parse_iso(camera["buffer_end"])

    def dispatch_last(self, seconds: float, reason: str) -> dict[str, Any]:
        """A job for the last ``seconds`` of footage the hub knows of."""
        end = self.buffer_end()
        return self.api.dispatch(
            self.site_id, self.camera_id, end - timedelta(seconds=seconds), end, reason
        )

    def wait_job(
        self, job_id: str, states: frozenset[str] = frozenset({"stored"}), *, poll: float = 0.2
    ) -> dict[str, Any]:
        """Poll the job until it is in one of ``states``; a final state not asked for fails."""
        deadline = time.monotonic() + JOB_TIMEOUT_SECONDS
        job: dict[str, Any] = {}
        while time.monotonic() < deadline:
            for process in (self.hub, self.agent):
                if process.process is not None:
                    process.check_alive()
            job = self.api.job(job_id)
            if job["state"] in states:
                return job
            if is_final(job["state"]):
                raise StackError(f"job {job_id} ended {job['state']}: {job['error']}")
            time.sleep(poll)
        raise StackError(f"job {job_id} did not reach {sorted(states)}; last seen {job}")

    # The agent's outbox (read from outside, as a check of what the agent cut).

    def outbox_clip(self, job_id: str) -> dict[str, Any] | None:
        """The agent's outbox row for the job's clip (clip_id, state, sha256, clip_bytes)."""
        path = self.agent_data / "outbox.db"
        if not path.exists():
            return None
        connection = sqlite3.connect(str(path), timeout=5)
        try:
            connection.row_factory = sqlite3.Row
            rows = connection.execute(
                "select clip_id, state, sha256, clip_bytes, directory from clips where job_id = ?",
                [job_id],
            ).fetchall()
        except sqlite3.OperationalError:
            return None  # the schema is not there yet
        finally:
            connection.close()
        return dict(rows[0]) if rows else None

    def wait_outbox_clip(self, job_id: str, timeout: float = JOB_TIMEOUT_SECONDS) -> dict[str, Any]:
        """Wait until the agent has cut the job's clip and recorded it for upload."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.agent.check_alive()
            row = self.outbox_clip(job_id)
            if row is not None:
                return row
            time.sleep(0.01)
        raise StackError(f"the agent did not cut job {job_id}; see {self.agent.log_path}")
