"""``cctv-demo``: a whole site on loopback, from a simulated camera to a verified clip.

It starts a test camera (GStreamer RTSP server with a live test pattern), a Mosquitto broker with a
generated config, the hub and one site agent, each as its own process, waits until the agent has
recorded enough, files a footage request for the last 20 seconds as the police user, approves it
as the supervisor (the data controller: the approval holds the footage and dispatches the clip
job), follows the job's progress, downloads the stored clip and verifies it against the site's
key, releases it to the police user (a disclosure log entry), then prints where it plays.
``--once`` does the same headless and exits: 0 once the clip is verified and stored at the
hub, non-zero with the reason otherwise.
"""

from __future__ import annotations

import argparse
import hashlib
import secrets
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from cctv_common.cli_options import add_common_options, setup_logging
from cctv_common.clock import iso_utc, parse_iso
from cctv_common.evidence.signing import load_public_key
from cctv_common.evidence.verify import EvidenceMismatch, verify_signed_manifest
from cctv_common.wire.job_state import JobState
from devkit.configs import BrokerAccount, write_site
from devkit.local_broker import HUB_USER, LOOPBACK, MosquittoBroker, free_loopback_port
from devkit.testcam import TestCamera, TestCameraUnavailable

SITE_ID = "demo-site"
CAMERA_ID = "cam-1"
CLIP_SECONDS = 20
DEMO_PASSWORD = "demo"
USERS = {
    "operator": "operator",
    "police": "police",
    "supervisor": "supervisor",
    "engineer": "engineer",
    "auditor": "auditor",
}


class DemoFailed(Exception):
    """The demo could not finish; the message says where it stopped."""


def say(message: str) -> None:
    print(f"cctv-demo: {message}", flush=True)


@contextmanager
def _process(name: str, args: list[str], log_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(args, stdout=log_file, stderr=subprocess.STDOUT)
        try:
            yield process
        finally:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()


class Demo:
    def __init__(self, workdir: Path, http_port: int, stack: ExitStack) -> None:
        self.workdir = workdir
        self.http_port = http_port
        self.stack = stack
        self.base = f"http://127.0.0.1:{http_port}"
        self.auth = ("operator", DEMO_PASSWORD)
        # Operators dispatch and watch; downloading evidence is the data controller's right.
        self.supervisor = ("supervisor", DEMO_PASSWORD)
        self.request_id = ""

    def start(self) -> None:
        say(f"working folder {self.workdir}")
        camera = TestCamera(width=1280, height=720, fps=25, gop_seconds=1.0)
        camera.start()
        self.stack.callback(camera.stop)
        say(f"test camera streaming at {camera.url}")

        site_password = secrets.token_urlsafe(18)
        hub_password = secrets.token_urlsafe(18)
        broker = MosquittoBroker(
            self.workdir / "broker", users={HUB_USER: hub_password, SITE_ID: site_password}
        )
        broker.start()
        self.stack.callback(broker.stop)
        say(f"Mosquitto listening on 127.0.0.1:{broker.port} (generated config, ACL per site)")

        files = write_site(
            self.workdir,
            site_id=SITE_ID,
            site_name="Demo site",
            hub_id="demo",
            http_port=self.http_port,
            site_login=BrokerAccount(LOOPBACK, broker.port, SITE_ID, site_password),
            hub_login=BrokerAccount(LOOPBACK, broker.port, HUB_USER, hub_password),
            camera={"id": CAMERA_ID, "name": "Demo test pattern", "rtsp_url": camera.url},
            users=USERS,
            password=DEMO_PASSWORD,
            uplink={"status_interval_seconds": 2.0},
            recorder={"segment_seconds": 4.0},
        )
        self.public_key_pem = files.site_public_key_pem
        agent_config, hub_config = files.agent_config, files.hub_config
        python = sys.executable
        self.hub = self.stack.enter_context(
            _process(
                "hub",
                [python, "-m", "hub.cli", "run", "--config", str(hub_config)],
                self.workdir / "hub.log",
            )
        )
        self.agent = self.stack.enter_context(
            _process(
                "agent",
                [python, "-m", "edge_agent.cli", "run", "--config", str(agent_config)],
                self.workdir / "agent.log",
            )
        )
        self._wait_for_hub()
        say(f"hub serving {self.base} (logs: {self.workdir}/hub.log, agent.log)")

    def _check_alive(self) -> None:
        for name, process in (("hub", self.hub), ("agent", self.agent)):
            if process.poll() is not None:
                raise DemoFailed(
                    f"the {name} exited with code {process.returncode};"
                    f" see {self.workdir / (name + '.log')}"
                )

    def _wait_for_hub(self) -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            self._check_alive()
            try:
                if httpx.get(f"{self.base}/api/health", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise DemoFailed("the hub did not answer on /api/health within 30 s")

    def _fetch(self, path: str, auth: tuple[str, str] | None = None) -> httpx.Response:
        response = httpx.get(f"{self.base}{path}", auth=auth or self.auth, timeout=30)
        if response.status_code != 200:
            raise DemoFailed(f"GET {path} answered {response.status_code}: {response.text[:300]}")
        return response

    def _get(self, path: str) -> Any:
        return self._fetch(path).json()

    def wait_for_footage(self) -> tuple[datetime, datetime]:
        say(f"recording; waiting until the agent reports {CLIP_SECONDS + 2} s of footage")
        deadline = time.monotonic() + 90
        shown = -1
        while time.monotonic() < deadline:
            self._check_alive()
            for site in self._get("/api/sites"):
                if site["site_id"] != SITE_ID or site["state"] != "online":
                    continue
                for camera in site["cameras"]:
                    if camera["camera_id"] != CAMERA_ID or not camera["buffer_end"]:
                        continue
                    start = parse_iso(camera["buffer_start"])
                    end = parse_iso(camera["buffer_end"])
                    held = int((end - start).total_seconds())
                    if held >= CLIP_SECONDS + 2:
                        return start, end
                    if held // 4 != shown // 4:
                        say(f"  {held} s recorded")
                        shown = held
            time.sleep(0.5)
        raise DemoFailed("the agent did not report enough footage within 90 s; see agent.log")

    def _post(self, path: str, body: dict[str, Any], auth: tuple[str, str], ok: int) -> Any:
        response = httpx.post(f"{self.base}{path}", auth=auth, timeout=30, json=body)
        if response.status_code != ok:
            raise DemoFailed(f"POST {path} answered {response.status_code}: {response.text[:300]}")
        return response.json()

    def dispatch(self, buffer_end: datetime) -> str:
        """File a request as police, approve it as the supervisor; the approval makes the job."""
        start = buffer_end - timedelta(seconds=CLIP_SECONDS)
        police = ("police", DEMO_PASSWORD)
        request = self._post(
            "/api/requests",
            {
                "force": "Demo Police",
                "officer_name": "Demo Officer",
                "rank": "DC",
                "collar_number": "1234",
                "contact": "demo.officer@police.example",
                "incident_log": "DEMO-1",
                "offence": "Demo: the last 20 seconds of the test camera",
                "lawful_basis": "dpa2018-part3-s35",
                "urgency": "routine",
                "window_start": iso_utc(start),
                "window_end": iso_utc(buffer_end),
                "cameras": [{"site_id": SITE_ID, "camera_id": CAMERA_ID}],
            },
            police,
            201,
        )
        self.request_id = str(request["id"])
        say(f"police filed footage request {self.request_id}")
        approved = self._post(
            f"/api/requests/{self.request_id}/decision",
            {"outcome": "approve"},
            self.supervisor,
            200,
        )
        if not approved["jobs"]:
            raise DemoFailed(
                f"approving {self.request_id} made no clip job: {approved['unserved']}"
            )
        job = approved["jobs"][0]
        say(f"supervisor approved {self.request_id}: footage held at the site and the hub")
        say(
            f"dispatched job {job['job_id']}: {CAMERA_ID} {iso_utc(start)} to {iso_utc(buffer_end)}"
        )
        return str(job["job_id"])

    def release(self) -> None:
        """Once the request is ready, release it to the police user (disclosure log entry)."""
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            state = self._get(f"/api/requests/{self.request_id}")["state"]
            if state == "ready":
                break
            time.sleep(0.5)
        released = self._post(
            f"/api/requests/{self.request_id}/release",
            {
                "recipients": [{"name": "DC Demo Officer", "organisation": "Demo Police"}],
                "purpose": "Demo: investigation DEMO-1",
            },
            self.supervisor,
            200,
        )
        number = released["releases"][0]["disclosure_number"]
        say(f"released {self.request_id} to the police user: disclosure log entry {number}")

    def follow(self, job_id: str) -> str:
        deadline = time.monotonic() + 120
        last = ""
        while time.monotonic() < deadline:
            self._check_alive()
            job = self._get(f"/api/jobs/{job_id}")
            line = f"{job['state']} {job['percent']}%"
            if line != last:
                say(f"  job {line}")
                last = line
            if job["state"] == JobState.STORED and job["clip_id"]:
                return str(job["clip_id"])
            if job["state"] == JobState.FAILED:
                raise DemoFailed(f"job {job['state']}: {job['error']}")
            time.sleep(0.3)
        raise DemoFailed(f"job {job_id} was not stored within 120 s (last state: {last})")

    def verify(self, clip_id: str) -> dict[str, Any]:
        detail = self._get(f"/api/clips/{clip_id}")
        manifest_bytes = self._fetch(f"/api/clips/{clip_id}/manifest.json", self.supervisor).content
        try:
            manifest = verify_signed_manifest(
                manifest_bytes, detail["signature"], load_public_key(self.public_key_pem)
            )
        except EvidenceMismatch as exc:
            raise DemoFailed(f"the stored clip's manifest does not verify: {exc}") from exc
        video = self._fetch(f"/api/clips/{clip_id}/video", self.supervisor)
        digest = hashlib.sha256(video.content).hexdigest()
        if digest != manifest.sha256:
            raise DemoFailed(
                f"the clip served by the hub (SHA-256 {digest})"
                f" is not the signed one ({manifest.sha256})"
            )
        say(
            f"verified: signature by key {manifest.key_id}, SHA-256 {manifest.sha256},"
            f" {manifest.bytes} bytes, {manifest.codec} {manifest.width}x{manifest.height},"
            f" delivered {iso_utc(manifest.delivered.start)} to {iso_utc(manifest.delivered.end)}"
        )
        return detail


def run(workdir: Path, once: bool, http_port: int) -> int:
    if workdir.exists():
        shutil.rmtree(workdir)
    workdir.mkdir(parents=True)
    with ExitStack() as stack:
        demo = Demo(workdir, http_port, stack)
        try:
            demo.start()
            _, buffer_end = demo.wait_for_footage()
            job_id = demo.dispatch(buffer_end)
            clip_id = demo.follow(job_id)
            demo.verify(clip_id)
            demo.release()
        except (DemoFailed, TestCameraUnavailable) as exc:
            print(f"cctv-demo: FAILED: {exc}", file=sys.stderr)
            return 1
        say(f"the clip plays at {demo.base}/#clip-{clip_id}")
        say(f"  log in as operator / {DEMO_PASSWORD} (users police and supervisor exist too)")
        say("  engineer and auditor users exist too, each landing on their own page")
        say(f"  video: {demo.base}/api/clips/{clip_id}/video  API docs: {demo.base}/docs")
        if once:
            return 0
        say("running; press Ctrl-C to stop")
        try:
            while demo.hub.poll() is None and demo.agent.poll() is None:
                time.sleep(1)
        except KeyboardInterrupt:
            say("stopping")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cctv-demo", description=__doc__.splitlines()[0].replace("``", "")
    )
    parser.add_argument("--once", action="store_true", help="exit once the clip is verified")
    parser.add_argument(
        "--workdir", type=Path, default=Path("demo-data"), help="demo folder (wiped at start)"
    )
    parser.add_argument(
        "--port", type=int, default=0, help="hub HTTP port (default 8080, or a free one)"
    )
    add_common_options(parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging(args, "warning")
    port = args.port or _default_port()
    # Ctrl-C, or SIGTERM from a service manager or `kill`, stops the demo and everything it
    # started; SIGINT is set even when the shell started us with it ignored (in the background).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _stop)
    return run(args.workdir.resolve(), args.once, port)


def _stop(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _default_port() -> int:
    import socket

    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", 8080))
        except OSError:
            return free_loopback_port()
    return 8080


if __name__ == "__main__":
    sys.exit(main())
