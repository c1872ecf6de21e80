"""Snapshot requests from the hub over MQTT: parse, answer with ``Snapshots``, publish the reply.

A snapshot is a preview for the hub's camera picker, never evidence. Malformed or retained
requests, and requests whose id does not match their topic, are logged and dropped.
"""

from __future__ import annotations

import asyncio
import logging

from cctv_common.wire.payloads import InvalidPayload, SnapshotRequest
from cctv_common.wire.topics import SnapshotTopic, snapshot_reply_topic
from edge_agent.snapshots.service import Snapshots
from edge_agent.uplink.port import UplinkPort

log = logging.getLogger(__name__)


class SnapshotSignalling:
    def __init__(self, site_id: str, snapshots: Snapshots, publisher: UplinkPort) -> None:
        self._site = site_id
        self._snapshots = snapshots
        self._publisher = publisher
        self._tasks: set[asyncio.Task[None]] = set()

    def handle(self, topic: SnapshotTopic, payload: bytes, retained: bool) -> None:
        if topic.kind != "request" or retained:
            return
        try:
            request = SnapshotRequest.parse(payload)
        except InvalidPayload as exc:
            log.warning("site %s: snapshot request %s dropped: %s", self._site, topic.request, exc)
            return
        if request.request_id != topic.request:
            log.warning(
                "site %s: snapshot request %s names request %s; dropped",
                self._site,
                topic.request,
                request.request_id,
            )
            return
        task = asyncio.get_running_loop().create_task(self._answer(request))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _answer(self, request: SnapshotRequest) -> None:
        reply = await self._snapshots.handle_snapshot_request(request)
        try:
            await self._publisher.publish(
                snapshot_reply_topic(self._site, request.request_id), reply.to_bytes()
            )
        except Exception as exc:  # the uplink may be stopping; the hub times out and says so
            log.warning(
                "site %s camera %s: snapshot reply %s not sent: %s",
                self._site,
                request.camera_id,
                request.request_id,
                exc,
            )

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
