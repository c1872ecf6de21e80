"""The real hub in this process (uvicorn on loopback) for the request pages' browser tests, and
what stands in for the site agent there: the cameras' status reports (cam-3's ring buffer starts
20 minutes ago), holds reported in force, and clips stored for a request's clip jobs the way
ingest leaves them (``hub_kit.insert_evidence``: signed manifest, store file, custody rows).

Everything else is the hub's own: login, sessions, the request routes and services, the sweep
that moves requests on, SQLite. The tests drive it through the pages; set-up that is not what
a person does in a page goes through the API (``LiveHub.call``, HTTP basic auth).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any, Final, TypeVar

import httpx
import uvicorn
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pydantic import SecretStr

from cctv_common.clock import iso_utc, parse_iso
from cctv_common.wire.job_state import JobState
from cctv_common.wire.payloads import HeldWindow
from devkit.local_broker import free_loopback_port
from devkit.waiting import wait_until
from hub.app import create_app
from hub.broker_pki import make_ca
from hub.domain.records import ClipJob, EvidenceItem
from hub.settings import BrokerSettings, HubSettings
from hub.settings_enrollment import EnrollmentSettings
from hub.settings_requests import RequestSettings
from hub.settings_uploads import UploadSettings
from hub.storage.engine import AnyDatabase, open_database
from hub.storage.sqlite import repository as repo
from tests.support.hub_kit import (
    CAMERA,
    SITE,
    USERS,
    WAIT_SECONDS,
    RecordingLink,
    insert_evidence,
    make_h264_mp4,
    make_settings,
    online_status,
)

CAMERAS: Final = (CAMERA, "cam-2", "cam-3")
# A police officer added by the supervisor with their details (users from the settings file have
# none), so the request form fills them in.
OFFICER: Final = "dc-smith"
OFFICER_PROFILE: Final = {
    "display_name": "Jane Smith",
    "email": "jane.smith@cleveland.police.uk",
    "force": "Cleveland Police",
    "collar_number": "4521",
}
PASSWORDS: Final = {name: password for name, (_, password) in USERS.items()} | {
    OFFICER: "pw-dc-smith-2026"
}
T = TypeVar("T")


def off_loop(fn: Callable[[], T]) -> T:
    """Run blocking database work on a worker thread: Playwright's sync API runs an event loop
    in the test's thread, and the hub's database refuses to block a running loop."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(fn).result()


@dataclass
class LiveHub:
    url: str
    settings: HubSettings
    database: AnyDatabase
    site_key: Ed25519PrivateKey
    video: bytes
    client: httpx.Client

    def call(self, user: str, method: str, path: str, ok: int = 200, **kw: Any) -> Any:
        response = self.client.request(method, path, auth=(user, PASSWORDS[user]), **kw)
        assert response.status_code == ok, (method, path, response.status_code, response.text)
        return response.json() if response.content else None

    def request(self, reference: str) -> dict[str, Any]:
        found: dict[str, Any] = self.call("supervisor", "GET", f"/api/requests/{reference}")
        return found

    def report_status(self, holds: Sequence[HeldWindow] = ()) -> None:
        """The site's status as its agent would send it: three cameras recording for two days,
        cam-3 only for the last 20 minutes, and ``holds`` pinned."""
        now = datetime.now(UTC)
        status = online_status(CAMERAS, now - timedelta(days=2), now)
        cam3 = status.cameras[2].model_copy(update={"buffer_start": now - timedelta(minutes=20)})
        status = status.model_copy(
            update={"cameras": (*status.cameras[:2], cam3), "holds": tuple(holds)}
        )
        off_loop(
            lambda: self.database.write(lambda d: repo.apply_site_status(d, SITE, status, now))
        )

    def confirm_holds(self) -> None:
        """The agent reports every hold in force (as it does once it has pinned the segments)."""
        held = []
        for summary in self.call("supervisor", "GET", "/api/requests")["requests"]:
            for hold in self.request(summary["id"])["holds"]:
                if hold["lifted_at"] is None:
                    held.append(
                        HeldWindow(
                            hold_id=hold["id"],
                            camera_id=hold["camera_id"],
                            window_start=parse_iso(hold["window_start"]),
                            window_end=parse_iso(hold["window_end"]),
                        )
                    )
        self.report_status(held)

    def open_jobs(self, reference: str) -> list[ClipJob]:
        ids = [job["job_id"] for job in self.request(reference)["jobs"] if not job["ended"]]

        def read() -> list[ClipJob | None]:
            return [self.database.read(partial(repo.get_job, job_id=i)) for i in ids]

        jobs = off_loop(read)
        assert None not in jobs, (ids, jobs)
        return [job for job in jobs if job is not None]

    def store_clip(self, reference: str, job: ClipJob) -> EvidenceItem:
        """The agent's clip for ``job``, verified and stored as ingest stores it."""
        return off_loop(
            lambda: insert_evidence(
                self.settings,
                self.database,
                self.site_key,
                self.video,
                requested_by=reference,
                job=job,
            )
        )

    def fail_job(self, job: ClipJob, why: str) -> None:
        now = datetime.now(UTC)
        off_loop(
            lambda: self.database.write(
                lambda d: repo.update_job(
                    d, job.id, state=JobState.FAILED, percent=0, error=why, clip_id=None, now=now
                )
            )
        )

    def fulfil(self, reference: str, *, failed: str | None = None, why: str = "") -> None:
        """Every open job of the request answered: a stored clip, or for camera ``failed`` the
        agent's refusal ``why``."""
        for job in self.open_jobs(reference):
            if job.camera_id == failed:
                self.fail_job(job, why)
            else:
                self.store_clip(reference, job)

    def wait_state(self, reference: str, state: str) -> dict[str, Any]:
        wait_until(
            lambda: self.request(reference)["state"] == state, f"{reference} is {state}", poll=0.3
        )
        return self.request(reference)


def request_body(
    cameras: Sequence[str], start: datetime, minutes: int = 30, **changes: Any
) -> dict[str, Any]:
    return {
        "force": "Cleveland Police",
        "officer_name": "Jane Smith",
        "rank": "DC",
        "collar_number": "4521",
        "contact": "jane.smith@cleveland.police.uk",
        "crime_reference": "CR/012345/26",
        "offence": "Assault",
        "lawful_basis": "dpa2018-part3-s35",
        "urgency": "routine",
        "window_start": iso_utc(start),
        "window_end": iso_utc(start + timedelta(minutes=minutes)),
        "cameras": [{"site_id": SITE, "camera_id": c} for c in cameras],
        "notes": "",
        "ripa": False,
        "colleagues": [],
    } | changes


def with_enrollment(settings: HubSettings, url: str) -> HubSettings:
    """``settings`` with enrollment set up as `cctv-hub init` leaves it (the hub's broker
    password, the broker's CA); the broker is told to reload by a command that does nothing
    (``[enrollment] reload_command``): these tests are about pages, test_enrollment.py revokes
    through a real Mosquitto."""
    enrollment = EnrollmentSettings(
        broker_dir=settings.data_dir / "broker", reload_command=("true",)
    )
    enrollment.broker_dir.mkdir(parents=True, exist_ok=True)
    make_ca(enrollment, settings.hub_id)
    broker = BrokerSettings(host="127.0.0.1", port=1, tls=False, password=SecretStr("x" * 24))
    return settings.model_copy(
        update={
            "broker": broker,
            "enrollment": enrollment,
            "requests": settings.requests.model_copy(update={"base_url": url}),
        }
    )


@contextmanager
def live_hub(
    tmp_path: Path, uploads: UploadSettings | None = None, *, enrollment: bool = False
) -> Iterator[LiveHub]:
    """The real hub app on a loopback port, its site reporting three cameras, and the officer
    ``dc-smith`` added by the supervisor (``uploads``: other ``[uploads]`` settings; with
    ``enrollment``, sites can be enrolled: the broker link only records what the hub publishes)."""
    key = Ed25519PrivateKey.generate()
    settings = make_settings(tmp_path / "hub", site_key=key)
    settings = settings.model_copy(
        update={
            "requests": RequestSettings(sweep_seconds=0.3, after_case_ends_days=1),
            "uploads": uploads or UploadSettings(),
        }
    )
    port = free_loopback_port()
    if enrollment:
        settings = with_enrollment(settings, f"http://127.0.0.1:{port}")
    database = open_database(settings)
    app = create_app(settings, database, RecordingLink() if enrollment else None)
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=server.run, name="uvicorn", daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    client = httpx.Client(base_url=url, timeout=WAIT_SECONDS)
    try:
        wait_until(lambda: server.started, "uvicorn started")
        hub = LiveHub(url, settings, database, key, make_h264_mp4(tmp_path / "clip.mp4"), client)
        hub.report_status()
        hub.call(
            "supervisor",
            "POST",
            "/api/users",
            201,
            json={
                "username": OFFICER,
                "role": "police",
                "password": PASSWORDS[OFFICER],
                **OFFICER_PROFILE,
            },
        )
        yield hub
    finally:
        client.close()
        server.should_exit = True
        thread.join(WAIT_SECONDS)
        database.close()
