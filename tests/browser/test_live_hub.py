"""Live view end to end through the real parts: hub HTTP API -> Mosquitto -> agent -> camera.

The hub (``create_app`` with a broker) is served by uvicorn on loopback; the agent is the real
``python -m edge_agent.cli run`` process recording the real RTSP test camera; the viewer is an
aiortc client (it decodes: the browser's stand-in) or real headless Chromium on ``/live``.
Limits on waiting only stop a broken test from hanging; nothing asserts on durations.
"""

from __future__ import annotations

import asyncio
import secrets
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pydantic import SecretStr

from cctv_common.evidence.signing import public_key_pem
from devkit.local_broker import free_loopback_port
from devkit.testcam import TestCamera
from devkit.waiting import wait_until
from hub.app import create_app
from hub.settings import HubSettings
from hub.storage.sqlite.database import HubDatabase
from tests.support.agent_process import AgentProcess, write_config
from tests.support.browser import CHROMIUM, CHROMIUM_ARGS
from tests.support.hub_kit import CAMERA, SITE, USERS, broker_settings, make_settings
from tests.support.mosquitto_fixtures import MosquittoBroker
from tests.support.webrtc_viewer import Viewer

pytestmark = pytest.mark.slow

WAIT = 30.0
OTHER_SITE = "site-b"  # registered, never online


@dataclass
class LiveRig:
    url: str
    settings: HubSettings
    database: HubDatabase
    agent: AgentProcess
    # A second hub worker on the same database and broker (its own broker user and worker_id),
    # behind no sticky routing: a session started on one is continued and closed on the other.
    other_url: str = ""

    def auth(self, user: str) -> tuple[str, str]:
        return user, USERS[user][1]

    def get(self, path: str, user: str = "supervisor") -> Any:
        response = httpx.get(self.url + path, auth=self.auth(user), timeout=WAIT)
        response.raise_for_status()
        return response.json()


def _camera_reported(rig: LiveRig) -> bool:
    site = rig.get(f"/api/sites/{SITE}")
    return site["state"] == "online" and any(c["camera_id"] == CAMERA for c in site["cameras"])


@pytest.fixture
def live_rig(
    tmp_path: Path, mosquitto_broker: MosquittoBroker, rtsp_camera: TestCamera
) -> Iterator[LiveRig]:
    broker = broker_settings(mosquitto_broker).model_copy(update={"worker_id": "w1"})
    settings = make_settings(tmp_path / "hub", site_key=Ed25519PrivateKey.generate(), broker=broker)
    second_user = f"hub-w2-{uuid.uuid4().hex[:6]}"
    mosquitto_broker.add_user(second_user, secrets.token_urlsafe(18), hub=True)
    second = settings.model_copy(
        update={
            "broker": broker.model_copy(
                update={
                    "username": second_user,
                    "password": SecretStr(mosquitto_broker.password(second_user)),
                    "worker_id": "w2",
                }
            )
        }
    )
    database = HubDatabase(settings.db_path)
    other_database = HubDatabase(settings.db_path)
    servers = []
    ports = []
    for worker_settings, worker_database in ((settings, database), (second, other_database)):
        ports.append(free_loopback_port())
        server = uvicorn.Server(
            uvicorn.Config(
                create_app(worker_settings, worker_database),
                host="127.0.0.1",
                port=ports[-1],
                log_level="warning",
                lifespan="on",
            )
        )
        thread = threading.Thread(target=server.run, name="uvicorn", daemon=True)
        thread.start()
        servers.append((server, thread))
    config = write_config(
        tmp_path / "agent.toml",
        mosquitto_broker,
        tmp_path / "agent",
        cameras=[{"id": CAMERA, "rtsp_url": rtsp_camera.url}],
    )
    agent = AgentProcess(config, tmp_path / "agent.log")
    rig = LiveRig(
        f"http://127.0.0.1:{ports[0]}",
        settings,
        database,
        agent,
        other_url=f"http://127.0.0.1:{ports[1]}",
    )
    try:
        wait_until(lambda: all(server.started for server, _ in servers), "hub started", WAIT)
        other = Ed25519PrivateKey.generate().public_key()
        registered = httpx.post(
            rig.url + "/api/sites",
            json={"site_id": OTHER_SITE, "name": "Depot", "public_key_pem": public_key_pem(other)},
            auth=rig.auth("supervisor"),
            timeout=WAIT,
        )
        assert registered.status_code == 201, registered.text
        agent.start()
        wait_until(lambda: _camera_reported(rig), "the agent's camera reported to the hub", WAIT)
        yield rig
    finally:
        agent.stop_quietly()
        for server, _ in servers:
            server.should_exit = True
        for _, thread in servers:
            thread.join(WAIT)
        database.close()
        other_database.close()


def _audit(rig: LiveRig) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = rig.get("/api/audit", "auditor")
    return [row for row in rows if row["action"] in ("live_start", "live_end")]


def test_aiortc_viewer_through_the_hub_decodes_the_camera_and_is_in_the_custody_log(
    live_rig: LiveRig, rtsp_camera: TestCamera
) -> None:
    rig = live_rig
    offer_path = f"/api/live/{SITE}/{CAMERA}/offer"

    async def scenario() -> None:
        async with httpx.AsyncClient(base_url=rig.url, timeout=WAIT) as client:
            viewer = Viewer()
            try:
                response = await client.post(
                    offer_path, json={"sdp": await viewer.offer_sdp()}, auth=rig.auth("pc-one")
                )
                assert response.status_code == 200, response.text
                body = response.json()
                await viewer.apply(body["sdp"])
                frames = await viewer.wait_frames(10)
                assert {(f.width, f.height) for f in frames} == {
                    (rtsp_camera.width, rtsp_camera.height)
                }
                assert all(f.to_ndarray(format="rgb24").any() for f in frames[-3:])

                # The session's later calls reach the other hub worker (no sticky routing):
                # it holds the session as well as the worker that started it.
                session = f"{rig.other_url}/api/live/{SITE}/{CAMERA}/sessions/{body['session_id']}"
                candidate = await client.post(
                    f"{session}/candidate", json={"candidate": ""}, auth=rig.auth("pc-one")
                )
                assert candidate.status_code == 200, candidate.text
                # Someone else may not end this viewer's session.
                other = await client.delete(session, auth=rig.auth("pc-two"))
                assert other.status_code == 403
                closed = await client.delete(session, auth=rig.auth("pc-one"))
                assert closed.status_code == 200 and closed.json() == {"closed": True}
                for url in (session, session.replace(rig.other_url, rig.url)):
                    again = await client.delete(url, auth=rig.auth("pc-one"))
                    assert again.status_code == 404
            finally:
                await viewer.close()

            # An unknown camera: 404 saying so, before anything is sent to the site.
            lost = Viewer()
            try:
                sdp = await lost.offer_sdp()
                unknown = await client.post(
                    f"/api/live/{SITE}/no-such-cam/offer",
                    json={"sdp": sdp},
                    auth=rig.auth("pc-one"),
                )
                assert unknown.status_code == 404
                assert unknown.json()["detail"] == f"site {SITE} has no camera no-such-cam"
                # Engineers and auditors may not watch live.
                for user in ("engineer", "auditor"):
                    refused = await client.post(offer_path, json={"sdp": sdp}, auth=rig.auth(user))
                    assert refused.status_code == 403, user
                # A registered site that is not online.
                offline = await client.post(
                    f"/api/live/{OTHER_SITE}/{CAMERA}/offer",
                    json={"sdp": sdp},
                    auth=rig.auth("operator"),
                )
                assert offline.status_code == 503
                assert offline.json()["detail"] == f"site {OTHER_SITE} is offline"
            finally:
                await lost.close()

    asyncio.run(scenario())

    rows = _audit(rig)
    assert [(r["action"], r["actor"]) for r in rows] == [
        ("live_start", "pc-one"),
        ("live_end", "pc-one"),
    ]
    assert {r["subject"] for r in rows} == {f"camera:{SITE}/{CAMERA}"}
    assert rows[0]["detail"]["session_id"] == rows[1]["detail"]["session_id"]
    assert rows[1]["detail"]["reason"] == "closed by viewer"
    assert rig.get("/api/audit/verify", "auditor")["ok"] is True

    # The agent stops: its last status marks the site offline, and live view says so.
    assert rig.agent.terminate() == 0
    wait_until(lambda: rig.get(f"/api/sites/{SITE}")["state"] == "offline", "site offline", WAIT)
    response = httpx.post(
        rig.url + f"/api/live/{SITE}/{CAMERA}/offer",
        json={"sdp": "v=0\r\n"},
        auth=rig.auth("pc-one"),
        timeout=WAIT,
    )
    assert response.status_code == 503
    assert response.json()["detail"] == f"site {SITE} is offline"
    log = rig.agent.log()
    assert "live offer from the hub" in log and "live session ended" in log


def _wait_js(page: Any, function: str, what: str) -> Any:
    wait_until(lambda: bool(page.evaluate(function)), what, WAIT)
    return page.evaluate(function)


def test_chromium_plays_the_live_page_from_the_hub(live_rig: LiveRig) -> None:
    from playwright.sync_api import sync_playwright

    rig = live_rig
    tile = "(i) => document.querySelectorAll('.tile')[i]"
    video = (
        "() => { const v = document.querySelectorAll('.tile video')[0];"
        " return v.videoWidth > 0 ? {w: v.videoWidth, h: v.videoHeight, t: v.currentTime} : null; }"
    )
    message = "() => document.querySelectorAll('.tile .message')[1].textContent"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_context().new_page()
            page.set_default_timeout(WAIT * 1000)
            page.goto(rig.url + "/login")
            page.fill("#username", "operator")
            page.fill("#password", USERS["operator"][1])
            page.click("button[type=submit]")
            page.wait_for_selector("body[data-ready=true]")
            # The operator's "Sites & live" page links each camera to its live view.
            page.click("#nav a[data-page=sites]")
            link = page.wait_for_selector(f"[data-camera-id='{CAMERA}'] a.live-link")
            assert link is not None
            assert link.get_attribute("href") == f"/live?site={SITE}&camera={CAMERA}"

            page.goto(f"{rig.url}/live?cam={SITE}/{CAMERA}&cam={OTHER_SITE}/{CAMERA}")
            first = _wait_js(page, video, "the live video has a size")
            assert (first["w"], first["h"]) == (640, 360)
            start = first["t"]
            _wait_js(
                page,
                f"() => document.querySelectorAll('.tile video')[0].currentTime > {start} + 0.5",
                "the live video plays",
            )
            assert page.evaluate(f"() => ({tile})(0).dataset.state") == "live"
            shown = _wait_js(
                page, f"() => ({message})().includes('offline') && ({message})()", "offline"
            )
            assert f"site {OTHER_SITE} is offline" in shown
            page.close()  # pagehide: live.js deletes its session
        finally:
            browser.close()
    wait_until(
        lambda: [r["action"] for r in _audit(rig)] == ["live_start", "live_end"],
        "the browser's session ended in the custody log",
        WAIT,
    )
    assert {r["actor"] for r in _audit(rig)} == {"operator"}
