"""Everything a request handler may use, built once by ``create_app`` and kept on the app."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from cctv_common.clock import utc_now
from hub.service import HubService
from hub.services.auth import Authenticator
from hub.services.enrollment import EnrollmentService
from hub.services.playback import ViewSessions
from hub.settings import HubSettings
from hub.storage.engine import AnyDatabase
from hub.storage.evidence.store import EvidenceStore


@dataclass
class HubContext:
    settings: HubSettings
    database: AnyDatabase
    store: EvidenceStore
    service: HubService
    auth: Authenticator
    enrollment: EnrollmentService | None = None
    views: ViewSessions = field(default_factory=ViewSessions)
    refusals: ViewSessions = field(default_factory=ViewSessions)  # one custody row per session
    now: Callable[[], datetime] = utc_now
    metrics_token: str | None = None  # [metrics] token_file's token; None: loopback scrapes only
