"""Sites and their cameras, as the agents report them; registering a site and its key."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, status

from cctv_common.wire.payloads import CapWindowPart
from hub.api.deps import Hub, HubContext, SiteIdPath, require
from hub.api.schemas import SiteOut, SiteRegister
from hub.api.upload_queue_schemas import UplinkCapIn, UplinkCapOut, UploadQueueOut
from hub.domain.acl import Permission
from hub.services.auth import Principal
from hub.services.sites import SiteKeyError

router = APIRouter(prefix="/api/sites", tags=["sites"])

SitesReader = Annotated[Principal, Depends(require(Permission.SITES_READ))]
SitesRegistrar = Annotated[Principal, Depends(require(Permission.SITES_REGISTER))]


@router.get("", response_model=list[SiteOut], summary="Sites, their state and cameras")
async def list_sites(hub: Hub, user: SitesReader) -> list[SiteOut]:
    return [
        SiteOut.of(site, cameras) for site, cameras in await hub.service.sites.all_with_cameras()
    ]


@router.get("/{site_id}", response_model=SiteOut, summary="One site")
async def get_site(site_id: SiteIdPath, hub: Hub, user: SitesReader) -> SiteOut:
    found = await hub.service.sites.with_cameras(site_id)
    if found is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"site {site_id} is not registered")
    return SiteOut.of(*found)


@router.post(
    "",
    response_model=SiteOut,
    status_code=status.HTTP_201_CREATED,
    summary="Register a site and the public key its agent signs with (supervisor)",
)
async def register_site(body: SiteRegister, hub: Hub, user: SitesRegistrar) -> SiteOut:
    try:
        site = await hub.service.sites.register(
            body.site_id, body.name, body.public_key_pem, user.username
        )
    except SiteKeyError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from exc
    found = await hub.service.sites.with_cameras(site.id)
    return SiteOut.of(site, [] if found is None else found[1])


@router.get(
    "/{site_id}/uploads",
    response_model=UploadQueueOut,
    summary="The site's upload queue: clips in sending order, bytes acked, rate, time left",
)
async def site_uploads(site_id: SiteIdPath, hub: Hub, user: SitesReader) -> UploadQueueOut:
    await _known(hub, site_id)
    return UploadQueueOut.of(await hub.service.upload_queue.for_site(site_id))


async def _known(hub: HubContext, site_id: str) -> None:
    if await hub.service.sites.with_cameras(site_id) is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"site {site_id} is not registered")


@router.get(
    "/{site_id}/uplink-cap",
    response_model=UplinkCapOut,
    summary="The site's upload cap: set at the hub, or as the site's config says",
)
async def get_uplink_cap(site_id: SiteIdPath, hub: Hub, user: SitesReader) -> UplinkCapOut:
    await _known(hub, site_id)
    return UplinkCapOut.of(site_id, await hub.service.uplink_caps.get(site_id))


@router.put(
    "/{site_id}/uplink-cap",
    response_model=UplinkCapOut,
    summary="Set the site's upload cap (supervisor); sent to the site signed and retained",
)
async def put_uplink_cap(
    site_id: SiteIdPath, body: UplinkCapIn, hub: Hub, user: SitesRegistrar
) -> UplinkCapOut:
    await _known(hub, site_id)
    try:
        windows = [CapWindowPart(**window.model_dump()) for window in body.windows]
    except ValueError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from exc
    cap = await hub.service.uplink_caps.set(
        site_id, max_mbps=body.max_mbps, windows=windows, by=user.username
    )
    return UplinkCapOut.of(site_id, cap)


@router.delete(
    "/{site_id}/uplink-cap",
    response_model=UplinkCapOut,
    summary="Clear the hub's cap (supervisor): the site's own config applies again",
)
async def clear_uplink_cap(site_id: SiteIdPath, hub: Hub, user: SitesRegistrar) -> UplinkCapOut:
    await _known(hub, site_id)
    return UplinkCapOut.of(site_id, await hub.service.uplink_caps.clear(site_id, by=user.username))
