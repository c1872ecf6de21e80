"""Sites and their cameras, as the agents report them; registering a site and its key."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, status
from sqlite_utils import Database

from hub.api.deps import Db, Hub, SiteIdPath, require
from hub.api.schemas import SiteOut, SiteRegister
from hub.domain.acl import Permission
from hub.services.auth import Principal
from hub.services.sites import SiteKeyError
from hub.storage.sqlite import repository as repo

router = APIRouter(prefix="/api/sites", tags=["sites"])

SitesReader = Annotated[Principal, Depends(require(Permission.SITES_READ))]
SitesRegistrar = Annotated[Principal, Depends(require(Permission.SITES_REGISTER))]


def _all_sites(db: Database) -> list[SiteOut]:
    cameras = repo.list_cameras(db)
    return [
        SiteOut.of(site, [c for c in cameras if c.site_id == site.id])
        for site in repo.list_sites(db)
    ]


@router.get("", response_model=list[SiteOut], summary="Sites, their state and cameras")
async def list_sites(database: Db, user: SitesReader) -> list[SiteOut]:
    return await database.aread(_all_sites)


@router.get("/{site_id}", response_model=SiteOut, summary="One site")
async def get_site(site_id: SiteIdPath, database: Db, user: SitesReader) -> SiteOut:
    def one(db: Database) -> SiteOut | None:
        site = repo.get_site(db, site_id)
        return None if site is None else SiteOut.of(site, repo.list_cameras(db, site_id))

    found = await database.aread(one)
    if found is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"site {site_id} is not registered")
    return found


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
    cameras = await hub.database.aread(lambda db: repo.list_cameras(db, site.id))
    return SiteOut.of(site, cameras)
