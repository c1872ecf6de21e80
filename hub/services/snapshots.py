"""A camera's current picture for the operator's camera picker, asked of its site over MQTT.

The hub publishes a ``SnapshotRequest`` on ``sites/{site}/snapshots/{request}/request`` and waits
for the agent's ``SnapshotReply``. A snapshot is a preview, never evidence: it is not stored, and
one taken from an RTSP keyframe was decoded and re-encoded by the agent. Each one served is a
``snapshot`` row in the custody log, because it shows what a camera sees.
"""

from __future__ import annotations

import base64
import logging
from dataclasses import dataclass
from typing import Final

from cctv_common.refusals import Refusals
from cctv_common.wire.payloads import InvalidPayload, SnapshotReply, SnapshotRequest
from cctv_common.wire.topics import SnapshotKind, snapshot_request_topic
from hub.services.custody import CustodyAction, CustodyLog
from hub.services.live import Publish
from hub.services.site_requests import (
    LinkReady,
    PendingReplies,
    SiteRequestError,
    check_site_camera,
)
from hub.storage.ports import HubStorage

log = logging.getLogger(__name__)

REPLY_TIMEOUT_SECONDS: Final = 15.0  # an ONVIF camera may take a few seconds; RTSP more


@dataclass(frozen=True)
class Snapshot:
    jpeg: bytes
    source: str


class SnapshotBridge:
    """Snapshot requests waiting for their site's reply. Use on the hub's loop."""

    def __init__(
        self,
        storage: HubStorage,
        custody: CustodyLog,
        publish: Publish,
        link_ready: LinkReady,
        timeout: float = REPLY_TIMEOUT_SECONDS,
        refusals: Refusals | None = None,
        *,
        worker: str | None = None,
    ) -> None:
        self._storage = storage
        self._custody = custody
        self._publish = publish
        self._link_ready = link_ready
        self._refusals = refusals or Refusals(log)
        self._timeout = timeout
        self._replies: PendingReplies[SnapshotReply] = PendingReplies(worker)

    async def take(self, username: str, site_id: str, camera_id: str) -> Snapshot:
        await check_site_camera(
            self._storage, self._link_ready, site_id, camera_id, "a camera snapshot"
        )
        request_id = self._replies.new_id()
        request = SnapshotRequest(request_id=request_id, camera_id=camera_id)
        try:
            reply = await self._replies.send_and_wait(
                site_id,
                request_id,
                lambda: self._publish(
                    snapshot_request_topic(site_id, request_id), request.to_bytes()
                ),
                self._timeout,
            )
        except TimeoutError:
            log.warning(
                "site=%s camera=%s snapshot %s: no reply within %.0f s",
                site_id,
                camera_id,
                request_id,
                self._timeout,
            )
            raise SiteRequestError(
                504, f"site {site_id} did not send a snapshot in time ({self._timeout:.0f} s)"
            ) from None
        if reply.error is not None or reply.jpeg_b64 is None:
            reason = reply.error or "no picture"
            log.info("site=%s camera=%s snapshot refused: %s", site_id, camera_id, reason)
            raise SiteRequestError(502, f"camera {camera_id} gave no snapshot: {reason}")
        await self._custody.aappend(
            username,
            CustodyAction.SNAPSHOT,
            f"camera:{site_id}/{camera_id}",
            {"request_id": request_id, "source": reply.source},
        )
        return Snapshot(base64.b64decode(reply.jpeg_b64), reply.source or "unknown")

    async def handle(
        self, site_id: str, request_id: str, kind: SnapshotKind, payload: bytes
    ) -> None:
        """A snapshot message a site sent (``reply``)."""
        if kind != "reply" or not self._replies.is_mine(request_id):
            return  # a request, or another hub worker's reply
        try:
            reply = SnapshotReply.parse(payload)
        except InvalidPayload as exc:
            self._refusals.refuse(
                "snapshot", "site=%s snapshot %s: malformed reply: %s", site_id, request_id, exc
            )
            return
        if reply.request_id != request_id or not self._replies.deliver(site_id, request_id, reply):
            log.info(
                "site=%s snapshot %s: reply for no waiting request ignored", site_id, request_id
            )
