"""Requests the hub relays to a site and waits on (live view, snapshots): the shared parts.

A site behind NAT is reached only through the broker, so before relaying the hub checks that the
site is registered, the broker link is up, the site is online and it reported the camera. Each
refusal is a :class:`SiteRequestError` whose ``status`` is the HTTP status to answer with.
:class:`PendingReplies` holds the requests sent and matches each reply to the site that was asked.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Callable
from typing import Generic, TypeVar

from hub.domain.records import CameraRecord, SiteRecord
from hub.storage.ports import HubStorage, UnitOfWork

ReplyT = TypeVar("ReplyT")

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


class PendingReplies(Generic[ReplyT]):
    """Requests sent to sites whose replies are awaited, each keyed by its request id.

    A reply counts only when it comes from the site that was asked, while someone still waits.

    With several hub workers (``worker``), each request id starts with its worker's id: every
    worker receives every reply (the reply topics are not shared), and ``is_mine`` tells a
    worker which are its own, so that it neither takes nor answers another worker's.
    """

    def __init__(self, worker: str | None = None) -> None:
        self._waiting: dict[str, tuple[str, asyncio.Future[ReplyT]]] = {}
        self._prefix = "" if worker is None else f"{worker}-"

    def new_id(self) -> str:
        """A fresh request id (``{worker}-{32 hex}`` with a worker, else 32 hex)."""
        return f"{self._prefix}{secrets.token_hex(16)}"

    def is_mine(self, request_id: str) -> bool:
        """Whether this worker made ``request_id`` (always, without workers)."""
        return request_id.startswith(self._prefix)

    async def send_and_wait(
        self, site_id: str, request_id: str, send: Callable[[], None], seconds: float
    ) -> ReplyT:
        """Call ``send`` and wait for the reply; :class:`TimeoutError` when none comes in time."""
        future: asyncio.Future[ReplyT] = asyncio.get_running_loop().create_future()
        self._waiting[request_id] = (site_id, future)
        try:
            send()
            return await asyncio.wait_for(asyncio.shield(future), seconds)
        finally:
            self._waiting.pop(request_id, None)

    def deliver(self, site_id: str, request_id: str, reply: ReplyT) -> bool:
        """Hand ``reply`` to its waiter; False when nobody from ``site_id`` waits for it."""
        waiting = self._waiting.get(request_id)
        if waiting is None or waiting[0] != site_id:
            return False
        if not waiting[1].done():
            waiting[1].set_result(reply)
        return True

    def cancel_all(self) -> None:
        for _site, future in self._waiting.values():
            if not future.done():
                future.cancel()
