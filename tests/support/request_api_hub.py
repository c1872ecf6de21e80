"""A hub for the footage-request API tests: the real app under TestClient on a real SQLite
file with a recording MQTT link, its services and key; helpers to file a request, store clips
for its jobs as the agent and ingest would, and confirm its holds at the edge. Shared by the
request API tests and the court export tests."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi.testclient import TestClient

from cctv_common.wire.payloads import HeldWindow, SiteStatus
from cctv_common.wire.topics import parse_topic
from hub.app import create_app
from hub.context import HubContext
from hub.settings import HubSettings
from hub.settings_requests import RequestSettings
from hub.storage.engine import AnyDatabase, open_database
from hub.storage.sqlite import repository as repo
from tests.support.hub_kit import (
    CAMERA,
    SITE,
    RecordingLink,
    auth,
    insert_evidence,
    make_settings,
    online_status,
    report_status,
)


@dataclass
class Hub:
    client: TestClient
    database: AnyDatabase
    settings: HubSettings
    link: RecordingLink
    key: Ed25519PrivateKey

    @property
    def context(self) -> HubContext:
        context: HubContext = self.client.app.state.hub  # type: ignore[attr-defined]
        return context

    def sweep(self) -> int:
        return int(self.client.portal.call(self.context.service.requests.fulfilment.sweep))  # type: ignore[union-attr]

    def get(self, path: str, user: str = "supervisor", status: int = 200) -> Any:
        response = self.client.get(path, auth=auth(user))
        assert response.status_code == status, response.text
        return response.json()

    def post(self, path: str, body: Any, user: str, status: int = 200) -> Any:
        response = self.client.post(path, json=body, auth=auth(user))
        assert response.status_code == status, response.text
        return response.json()

    def published(self, kind: type[Any]) -> list[tuple[Any, bytes, bool]]:
        return [
            (parse_topic(topic), payload, retain)
            for topic, payload, retain in self.link.published
            if payload and isinstance(parse_topic(topic), kind)
        ]


def request_hub(tmp_path: Path, requests: RequestSettings | None = None) -> Iterator[Hub]:
    key = Ed25519PrivateKey.generate()
    settings = make_settings(tmp_path, site_key=key)
    if requests is not None:
        settings = settings.model_copy(update={"requests": requests})
    database = open_database(settings)
    link = RecordingLink()
    try:
        with TestClient(create_app(settings, database, link)) as client:
            report_status(database, cameras=(CAMERA, "cam-2"))
            yield Hub(client, database, settings, link, key)
    finally:
        database.close()


def request_body(**changes: Any) -> dict[str, Any]:
    end = datetime.now(UTC) - timedelta(minutes=5)
    body: dict[str, Any] = {
        "force": "Cleveland Police",
        "officer_name": "Jane Smith",
        "rank": "DC",
        "collar_number": "4521",
        "contact": "jane.smith@cleveland.police.uk",
        "crime_reference": "CR/012345/26",
        "offence": "Assault outside the Grand Hotel",
        "lawful_basis": "dpa2018-part3-s35",
        "urgency": "routine",
        "window_start": (end - timedelta(minutes=5)).isoformat(),
        "window_end": end.isoformat(),
        "cameras": [
            {"site_id": SITE, "camera_id": CAMERA},
            {"site_id": SITE, "camera_id": "cam-2"},
        ],
        "notes": "",
        "ripa": False,
        "colleagues": ["pc-two"],
    }
    body.update(changes)
    return body


def store_clips(hub: Hub, reference: str) -> list[str]:
    """What the agent and ingest would do: one verified item for each of the request's jobs."""
    detail = hub.get(f"/api/requests/{reference}")
    clips = []
    for job_out in detail["jobs"]:
        job = hub.database.read(partial(repo.get_job, job_id=job_out["job_id"]))
        assert job is not None
        item = insert_evidence(
            hub.settings,
            hub.database,
            hub.key,
            secrets.token_bytes(50_000),
            requested_by=job.requested_by,
            job=job,
        )
        clips.append(item.clip_id)
    return clips


def confirm_holds_at_edge(hub: Hub, reference: str) -> None:
    detail = hub.get(f"/api/requests/{reference}")
    now = datetime.now(UTC)
    status = online_status((CAMERA, "cam-2"), now - timedelta(hours=1), now)
    status = SiteStatus(
        **{
            **status.model_dump(exclude={"v"}),
            "holds": tuple(
                HeldWindow(
                    hold_id=h["id"],
                    camera_id=h["camera_id"],
                    window_start=h["window_start"],
                    window_end=h["window_end"],
                )
                for h in detail["holds"]
            ),
        }
    )
    hub.database.write(lambda d: repo.apply_site_status(d, SITE, status, now))
