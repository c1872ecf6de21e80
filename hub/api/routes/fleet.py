"""Fleet health for engineers (their landing page): every site and camera, sorted by what needs
attention, with the open alerts. Health only: no route here serves footage."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from cctv_common.clock import utc_now
from hub.api.deps import Hub, require
from hub.api.fleet_schemas import FleetOut, FleetSiteOut
from hub.domain.acl import Permission
from hub.services.auth import Principal

router = APIRouter(prefix="/api/fleet", tags=["fleet"])

SitesReader = Annotated[Principal, Depends(require(Permission.SITES_READ))]


@router.get("", response_model=FleetOut, summary="Every site's and camera's health, worst first")
async def fleet(hub: Hub, user: SitesReader) -> FleetOut:
    sites = await hub.service.fleet.fleet()
    return FleetOut(
        generated_at=utc_now(),
        alerts=sum(len(site.all_alerts) for site in sites),
        sites=[FleetSiteOut.of(site) for site in sites],
    )
