"""Builds the enrollment service from the hub's settings (for ``cctv-hub`` and the app)."""

from __future__ import annotations

from cctv_common.evidence.signing import load_or_create_private_key, public_key_pem
from hub.services.broker_logins import BrokerLogins
from hub.services.enrollment import EnrollmentService
from hub.services.login_throttle import ThrottlePolicy
from hub.settings import HubSettings
from hub.storage.ports import HubStorage


class EnrollmentNotSetUp(Exception):
    """The settings have no [enrollment] (or no [broker] password): run `cctv-hub init`."""


def build_enrollment(settings: HubSettings, storage: HubStorage) -> EnrollmentService:
    enrollment, broker = settings.enrollment, settings.broker
    if enrollment is None or broker is None:
        raise EnrollmentNotSetUp(
            "enrollment needs [broker] and [enrollment] in the settings and `cctv-hub init`"
            " (see deploy/hub.example.toml)"
        )
    password = broker.resolved_password()
    if password is None:
        raise EnrollmentNotSetUp("[broker] has no password_file: run `cctv-hub init`")
    hub_key = load_or_create_private_key(settings.hub_key_path)
    return EnrollmentService(
        storage,
        enrollment,
        BrokerLogins(enrollment, broker.username, password),
        public_key_pem(hub_key),
        throttle_policy=ThrottlePolicy.of(settings.login),
    )
