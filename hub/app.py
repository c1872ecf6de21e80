"""The app factory: ``create_app(settings, db, mqtt=None)``.

The caller owns the settings and the database (tests pass an in-memory one); the app owns
everything else. ``mqtt`` is any ``MqttLink``: ``None`` means the real paho link when the settings
name a broker, and no MQTT at all when they do not. The lifespan starts the hub service (config
sync, upload resume, MQTT, the consumer task) and stops it again.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Final

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cctv_common import __version__
from hub.api.routes import (
    clip_changes,
    clips,
    custody,
    custody_search,
    derived,
    disclosures,
    enrollment,
    events,
    exports,
    fleet,
    health,
    jobs,
    live,
    metrics,
    redaction,
    requests,
    retention,
    session,
    sites,
    snapshots,
    tus,
    upload_links,
    upload_page,
    users,
)
from hub.context import HubContext
from hub.enrollment_setup import build_enrollment
from hub.mqtt import HubMqtt, MqttLink
from hub.service import HubService
from hub.services.auth import Authenticator, load_session_secret
from hub.settings import HubSettings
from hub.storage.engine import AnyDatabase
from hub.storage.evidence.backends import open_evidence_store
from hub.storage.evidence.store import EvidenceStore, StoreUnavailable
from hub.ui import CONTENT_SECURITY_POLICY, STATIC_DIR
from hub.ui import router as ui_router

log = logging.getLogger(__name__)

# /docs and /redoc load Swagger UI and ReDoc from a CDN; only they go without the strict policy.
_CDN_PAGES: Final = ("/docs", "/redoc")


class SecurityHeaders:
    """Headers every response gets; the Content-Security-Policy keeps pages to the hub itself."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        strict = not str(scope.get("path", "")).startswith(_CDN_PAGES)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers.setdefault("X-Content-Type-Options", "nosniff")
                headers.setdefault("Referrer-Policy", "no-referrer")
                headers.setdefault("X-Frame-Options", "DENY")
                if strict:
                    headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
            await send(message)

        await self.app(scope, receive, send_with_headers)


async def _store_unavailable(request: Request, exc: Exception) -> JSONResponse:
    """An evidence store outage (S3 down) is a 503 to retry, never "damaged" evidence."""
    log.warning("%s %s: evidence store unavailable: %s", request.method, request.url.path, exc)
    return JSONResponse(
        status_code=503,
        content={"detail": "the evidence store is unavailable just now; try again shortly"},
        headers={"Retry-After": "30"},
    )


def metrics_token(settings: HubSettings) -> str | None:
    """The bearer token for /metrics from ``[metrics] token_file`` (its first line)."""
    path = settings.metrics.token_file
    if path is None:
        return None
    try:
        token = path.read_text(encoding="utf-8").strip().splitlines()[0].strip()
    except (OSError, UnicodeDecodeError, IndexError) as exc:
        raise ValueError(f"metrics.token_file {path}: cannot read a token: {exc}") from exc
    if len(token) < 16:
        raise ValueError(f"metrics.token_file {path}: the token is shorter than 16 characters")
    return token


def create_app(
    settings: HubSettings,
    db: AnyDatabase,
    mqtt: MqttLink | None = None,
    *,
    store: EvidenceStore | None = None,
) -> FastAPI:
    """The hub as an ASGI app; serve it with uvicorn (``cctv-hub run``) or ``TestClient``."""
    evidence = store if store is not None else open_evidence_store(settings)
    link: MqttLink | None = mqtt
    if link is None and settings.broker is not None:
        link = HubMqtt(settings.broker, settings.hub_id)
    service = HubService(settings, db, evidence, link)
    auth = Authenticator(
        service.storage,
        load_session_secret(settings),
        session_lifetime=timedelta(hours=settings.http.session_hours),
        login=settings.login,
    )
    context = HubContext(
        settings=settings,
        database=db,
        store=evidence,
        service=service,
        auth=auth,
        metrics_token=metrics_token(settings),
    )
    if settings.enrollment is not None and settings.broker is not None:
        context.enrollment = build_enrollment(settings, service.storage)
        context.enrollment.sync()  # the broker's password file follows the database

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await service.start()
        log.info("hub %s started (MQTT %s)", settings.hub_id, service.mqtt_state)
        try:
            yield
        finally:
            await service.stop()
            log.info("hub %s stopped", settings.hub_id)

    app = FastAPI(
        title="CCTV evidence hub",
        version=__version__,
        description="Clip jobs to council CCTV sites, verified evidence, custody log.",
        lifespan=lifespan,
    )
    app.state.hub = context
    for module in (
        health,
        session,
        enrollment,
        sites,
        fleet,
        metrics,
        snapshots,
        events,
        jobs,
        clips,
        clip_changes,
        redaction,
        derived,
        custody,
        custody_search,
        live,
        exports,
        requests,
        retention,
        disclosures,
        users,
        upload_links,
        tus,
        upload_page,
    ):
        app.include_router(module.router)
    app.include_router(ui_router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    app.add_middleware(SecurityHeaders)
    app.add_exception_handler(StoreUnavailable, _store_unavailable)
    return app
