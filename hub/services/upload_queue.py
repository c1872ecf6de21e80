"""A site's upload queue for the site view: open clip jobs in sending order, bytes held of each,
the site's measured rate and time left (``hub.domain.upload_queue``)."""

from __future__ import annotations

from dataclasses import dataclass

from hub.domain.records import ClipJob
from hub.domain.upload_queue import QueuedClip, QueueRow, queue_rows
from hub.services.ingest.service import IngestService
from hub.storage.ports import HubStorage, UnitOfWork


@dataclass(frozen=True)
class SiteUploadQueue:
    site_id: str
    bytes_per_second: float
    rows: list[QueueRow]


class UploadQueueService:
    def __init__(self, storage: HubStorage, ingest: IngestService) -> None:
        self._storage = storage
        self._ingest = ingest

    async def for_site(self, site_id: str) -> SiteUploadQueue:
        def read(uow: UnitOfWork) -> list[ClipJob]:
            return [job for job in uow.jobs.open() if job.site_id == site_id]

        jobs = await self._storage.aread(read)
        uploads = self._ingest.site_uploads(site_id)
        clips = []
        for job in jobs:
            clip_id, held, total = uploads.get(job.id, (job.clip_id, 0, None))
            clips.append(
                QueuedClip(
                    job_id=job.id,
                    camera_id=job.camera_id,
                    priority=job.priority,
                    state=str(job.state),
                    created_at=job.created_at,
                    clip_id=clip_id,
                    bytes_held=held,
                    bytes_total=total,
                )
            )
        rate = self._ingest.site_rate(site_id)
        return SiteUploadQueue(site_id, rate, queue_rows(clips, rate))
