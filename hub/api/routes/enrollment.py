"""Enrollment: a supervisor issues a site's one-time token; the site box trades it for its
broker login; a supervisor revokes a site. ``POST /api/enroll`` takes no session: the token is
the credential, and every refusal says why."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request, status

from cctv_common.clock import utc_now
from hub.api.deps import Hub, SiteIdPath, require
from hub.api.enrollment_schemas import (
    EnrollGrantOut,
    EnrollmentCreate,
    EnrollmentTokenOut,
    EnrollRequest,
    SiteAccessOut,
    SiteRevoke,
)
from hub.domain.acl import Permission
from hub.domain.enrollment import EnrollmentRefused, RefusalReason
from hub.services.auth import Principal
from hub.services.broker_logins import BrokerReloadError
from hub.services.enrollment import EnrollmentError, EnrollmentService, EnrollmentThrottled
from hub.services.sites import SiteKeyError

router = APIRouter(tags=["enrollment"])

SitesRegistrar = Annotated[Principal, Depends(require(Permission.SITES_REGISTER))]

_REFUSAL_STATUS = {
    RefusalReason.UNKNOWN: status.HTTP_403_FORBIDDEN,
    RefusalReason.OTHER_SITE: status.HTTP_403_FORBIDDEN,
    RefusalReason.MALFORMED: status.HTTP_400_BAD_REQUEST,
    RefusalReason.USED: status.HTTP_409_CONFLICT,
    RefusalReason.EXPIRED: status.HTTP_410_GONE,
    RefusalReason.REVOKED: status.HTTP_409_CONFLICT,
}


def _service(hub: Hub) -> EnrollmentService:
    if hub.enrollment is None:
        # Not a passing outage (503): this hub has no enrollment until it is configured.
        raise HTTPException(
            status.HTTP_404_NOT_FOUND,
            "enrollment is not set up on this hub ([enrollment] and `cctv-hub init`)",
        )
    return hub.enrollment


@router.post(
    "/api/sites/enrollments",
    response_model=EnrollmentTokenOut,
    status_code=status.HTTP_201_CREATED,
    summary="Issue a site's one-time enrollment token (supervisor); shown once",
)
async def create_enrollment(
    body: EnrollmentCreate, hub: Hub, user: SitesRegistrar
) -> EnrollmentTokenOut:
    try:
        issued = await _service(hub).aissue(body.site_id, body.name, user.username)
    except EnrollmentError as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from exc
    command = (
        f"cctv-provision enroll --hub {hub.settings.requests.base_url} --token {issued.token}"
        " --config /etc/cctv/agent.toml"
    )
    return EnrollmentTokenOut(
        site_id=issued.site_id,
        name=issued.name,
        token=issued.token,
        expires_at=issued.expires_at,
        command=command,
    )


@router.get(
    "/api/sites/enrollments",
    response_model=list[SiteAccessOut],
    summary="Every site's enrollment state (supervisor)",
)
async def list_enrollments(hub: Hub, user: SitesRegistrar) -> list[SiteAccessOut]:
    now = utc_now()
    return [SiteAccessOut.of(access, now) for access in await _service(hub).all()]


@router.post(
    "/api/sites/{site_id}/revoke",
    response_model=SiteAccessOut,
    summary="Remove a site's broker login now and disconnect it, or cancel its unused token"
    " (supervisor)",
)
async def revoke_site(
    site_id: SiteIdPath, hub: Hub, user: SitesRegistrar, body: SiteRevoke | None = None
) -> SiteAccessOut:
    reason = body.reason.strip() if body is not None else ""
    try:
        access = await _service(hub).arevoke(site_id, user.username, reason)
    except EnrollmentError as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from exc
    except BrokerReloadError as exc:
        raise HTTPException(
            status.HTTP_502_BAD_GATEWAY, f"site {site_id} revoked, but: {exc}"
        ) from exc
    return SiteAccessOut.of(access, utc_now())


@router.post(
    "/api/enroll",
    response_model=EnrollGrantOut,
    summary="A site box trades its one-time token and public key for its broker login",
    responses={429: {"description": "Too many refused tokens from this address: Retry-After"}},
)
async def enroll(body: EnrollRequest, hub: Hub, request: Request) -> EnrollGrantOut:
    source = request.client.host if request.client is not None else "unknown"
    try:
        grant = await _service(hub).aenroll(body.token, body.site_id, body.public_key_pem, source)
    except EnrollmentThrottled as exc:
        raise HTTPException(
            status.HTTP_429_TOO_MANY_REQUESTS,
            str(exc),
            headers={"Retry-After": str(exc.retry_after_seconds)},
        ) from exc
    except EnrollmentRefused as exc:
        raise HTTPException(_REFUSAL_STATUS[exc.reason], exc.message) from exc
    except SiteKeyError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from exc
    return EnrollGrantOut(
        site_id=grant.site_id,
        name=grant.name,
        key_id=grant.key_id,
        broker_host=grant.broker_host,
        broker_port=grant.broker_port,
        broker_username=grant.broker_username,
        broker_password=grant.broker_password,
        broker_ca_pem=grant.broker_ca_pem,
        hub_public_key_pem=grant.hub_public_key_pem,
    )
