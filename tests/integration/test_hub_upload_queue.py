"""The site's upload queue at the hub: open jobs in sending order (most urgent first), bytes the
hub holds of each upload, the measured rate and the time left, through the real ingest."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from hub.service import HubService
from hub.storage.engine import AnyDatabase
from tests.integration.test_hub_ingest import fast_settings, offer, run_hub, send
from tests.support.hub_kit import SITE, RecordingLink, insert_job, signed_clip, video_bytes

pytestmark = pytest.mark.usefixtures("hub_engine")  # SQLite, then PostgreSQL

CHUNK = 64 * 1024


def test_the_queue_shows_each_clip_in_sending_order_with_bytes_acked_and_time_left(
    tmp_path: Path,
) -> None:
    key = Ed25519PrivateKey.generate()
    settings = fast_settings(tmp_path, key)
    data = video_bytes(40 * CHUNK)

    async def scenario(service: HubService, link: RecordingLink, database: AnyDatabase) -> None:
        routine = await asyncio.to_thread(insert_job, database, requested_by="op")
        urgent = await asyncio.to_thread(
            insert_job, database, requested_by="op", priority=9, state="cutting"
        )
        clip = signed_clip(key, data, job_id=routine.id)
        await offer(service, clip)
        await send(service, clip, range(0, 16))
        queue = await service.upload_queue.for_site(SITE)
        assert [row.clip.job_id for row in queue.rows] == [urgent.id, routine.id]
        first, second = queue.rows
        assert (first.clip.priority, first.clip.bytes_total, first.seconds_left) == (9, None, None)
        assert second.clip.clip_id == clip.clip_id
        assert (second.clip.bytes_held, second.clip.bytes_total) == (16 * CHUNK, len(data))
        # Nothing is known of the urgent clip's size yet, so the routine one has no estimate.
        assert second.seconds_left is None
        assert queue.bytes_per_second > 0
        assert await service.upload_queue.for_site("elsewhere") == type(queue)("elsewhere", 0.0, [])

    run_hub(settings, scenario)
