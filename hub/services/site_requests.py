"""Requests the hub relays to a site and waits on (live view, snapshots): the shared checks.

A site behind NAT is reached only through the broker, so before relaying the hub checks that the
site is registered, the broker link is up, the site is online and it reported the camera. Each
refusal is a :class:`SiteRequestError` whose ``status`` is the HTTP status to answer with.
"""

from __future__ import annotations

from collections.abc import Callable

from hub.domain.records import CameraRecord, SiteRecord
from hub.storage.ports import HubStorage, UnitOfWork

LinkReady = Callable[[], bool | None]  # True/False: the broker link's state; None: no broker


class SiteRequestError(Exception):
    """A request for a site that cannot be served; ``status`` is its HTTP status."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


async def check_site_camera(
    storage: HubStorage, link_ready: LinkReady, site_id: str, camera_id: str, purpose: str
) -> None:
    """Refuse unless ``site_id`` is registered, online and has ``camera_id``, with the reason."""

    def look(uow: UnitOfWork) -> tuple[SiteRecord | None, CameraRecord | None]:
        return uow.sites.get(site_id), uow.sites.camera(site_id, camera_id)

    site, camera = await storage.aread(look)
    if site is None:
        raise SiteRequestError(404, f"site {site_id} is not registered")
    ready = link_ready()
    if ready is None:
        raise SiteRequestError(503, f"{purpose} needs the hub's MQTT broker, which is not set")
    if not ready:
        raise SiteRequestError(503, "the hub is not connected to its MQTT broker; try again")
    if site.state != "online":
        raise SiteRequestError(503, f"site {site_id} is offline")
    if camera is None:
        raise SiteRequestError(404, f"site {site_id} has no camera {camera_id}")
