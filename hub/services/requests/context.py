"""What every part of the request workflow shares: storage, the hub's jobs and publisher, the
settings, the clock and the requester's mail."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from cctv_common.wire.hub_signing import HubSigner
from hub.domain.exhibit_numbers import DEFAULT_PATTERN
from hub.domain.requests.request import Urgency
from hub.services.jobs import JobService, MessagePublisher
from hub.services.requests.mail import RequesterMail
from hub.settings_requests import RequestSettings
from hub.storage.evidence.store import EvidenceStore
from hub.storage.ports import HubStorage

# A clip job's priority on the wire (0 lowest .. 9 most urgent) for each urgency.
JOB_PRIORITY: Final = {Urgency.THREAT_TO_LIFE: 9, Urgency.PRIORITY: 7, Urgency.ROUTINE: 5}


def subject(reference: str) -> str:
    """The custody log's subject for a request."""
    return f"request:{reference}"


class RequestError(Exception):
    """A step that cannot be taken as asked; ``status`` is the HTTP status, the message says why."""

    status = 409

    def __init__(self, message: str, status_code: int | None = None) -> None:
        self.message = message
        if status_code is not None:
            self.status = status_code
        super().__init__(message)


class RequestNotFound(RequestError):
    status = 404


class RequestInvalid(RequestError):
    status = 422


@dataclass
class Workflow:
    storage: HubStorage
    store: EvidenceStore
    jobs: JobService
    publish: MessagePublisher
    signer: HubSigner
    settings: RequestSettings
    mail: RequesterMail
    now: Callable[[], datetime]
    actor: str  # hub:{hub_id}, for what the hub does by itself
    exhibit_pattern: str = DEFAULT_PATTERN  # [exhibits] reference_pattern
