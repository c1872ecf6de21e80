"""The hub's running parts wired together: MQTT link, message routing, jobs, sites, ingest.

``HubService.start()`` brings the config's sites and users into the database, resumes unfinished
uploads, starts the MQTT link and one consumer task that takes events off the queue in order.
Each message is routed by its parsed topic; a topic that is not ours is logged and dropped, and a
bug while handling one message is logged without stopping the consumer.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Final

from cctv_common.clock import utc_now
from cctv_common.evidence.signing import load_or_create_private_key
from cctv_common.mqtt.events import (
    BridgeEvent,
    Connected,
    Disconnected,
    EventQueue,
    Inbound,
    UnknownTopic,
)
from cctv_common.refusals import Refusals
from cctv_common.wire.hub_signing import HubSigner
from cctv_common.wire.topics import (
    ChunkTopic,
    EventsTopic,
    LiveTopic,
    ManifestTopic,
    ProgressTopic,
    SnapshotTopic,
    StatusTopic,
    Topic,
)
from hub.mqtt import HubMqtt, MqttLink
from hub.services.camera_events import CameraEventService
from hub.services.checkpoints import Checkpointer
from hub.services.custody import CustodyLog
from hub.services.derived_items import DerivedItemService, DeriveSettings
from hub.services.evidence_items import EvidenceItemService
from hub.services.exhibit_export import ExhibitExport, ExportSettings
from hub.services.fleet import FleetService, fleet_mailer
from hub.services.ingest.service import IngestService
from hub.services.integrity import IntegrityService
from hub.services.jobs import JobService
from hub.services.leases import LeasedJobs, repeat
from hub.services.live import LiveBridge
from hub.services.outside.service import OutsideFootage
from hub.services.requests.service import RequestService
from hub.services.sites import SiteService, register_in
from hub.services.snapshots import SnapshotBridge
from hub.services.uplink_caps import UplinkCapService
from hub.services.upload_queue import UploadQueueService
from hub.services.users import UserAdmin
from hub.settings import HubSettings
from hub.storage.engine import AnyDatabase, storage_for
from hub.storage.evidence.store import EvidenceStore
from hub.storage.ports import UnitOfWork

log = logging.getLogger(__name__)

CHECKPOINTS: Final = "custody-checkpoints"  # the background job that signs the custody head
# The most chunk messages handled as one batch (they are in memory already, in the queue).
MAX_CHUNK_BATCH: Final = 16


def chunk_batch(
    first: BridgeEvent, take: Callable[[], BridgeEvent | None]
) -> tuple[list[Inbound], BridgeEvent | None]:
    """For a chunk ``first``: it and the chunks of the same clip that ``take`` hands back to back
    (at most ``MAX_CHUNK_BATCH``), and the event that ended the run if it is not one of them
    (handled next, so the order of events is kept). Empty for any other event."""
    if not (isinstance(first, Inbound) and isinstance(first.topic, ChunkTopic)):
        return [], None
    batch = [first]
    while len(batch) < MAX_CHUNK_BATCH:
        event = take()
        if event is None:
            return batch, None
        topic = event.topic if isinstance(event, Inbound) else None
        if not (
            isinstance(topic, ChunkTopic)
            and (topic.site, topic.clip) == (first.topic.site, first.topic.clip)
        ):
            return batch, event
        assert isinstance(event, Inbound)
        batch.append(event)
    return batch, None


MAINTENANCE_INTERVAL: Final = timedelta(minutes=10)
SESSION_SWEEP_INTERVAL: Final = timedelta(seconds=30)


class HubService:
    def __init__(
        self,
        settings: HubSettings,
        database: AnyDatabase,
        store: EvidenceStore,
        link: MqttLink | None = None,
        *,
        now: Callable[[], datetime] = utc_now,
    ) -> None:
        self.settings = settings
        # The hub's own signing key (created 0600 on first start): acks, jobs, holds, checkpoints.
        self.hub_key = load_or_create_private_key(settings.hub_key_path)
        self.signer = HubSigner(self.hub_key)
        self.database = database
        self.storage = storage_for(database)
        self.store = store
        self.link = link
        self._now = now
        # Malformed, unverified and misrouted messages: counted, logged at most once a minute
        # per kind, and never a custody row.
        self.refusals = Refusals(log)
        # With several hub workers: live and snapshot request ids carry this worker's id, and
        # its work folders in the shared data_dir are its own.
        worker = None if settings.broker is None else settings.broker.worker_id
        self.custody = CustodyLog(self.storage)
        self.actor = f"hub:{settings.hub_id}"
        self.integrity = IntegrityService(
            settings.evidence, self.storage, store, actor=self.actor, now=now
        )
        self.checkpoints = Checkpointer(
            self.storage, settings.checkpoint_path, self.hub_key, settings.hub_id, now=now
        )
        self.jobs = JobService(
            self.storage, self.publish, signer=self.signer, now=now, refusals=self.refusals
        )
        self.sites = SiteService(self.storage, now=now, refusals=self.refusals)
        self.fleet = FleetService(
            self.storage,
            settings.alerts,
            settings.data_dir,
            mailer=fleet_mailer(settings),
            now=now,
        )
        self.requests = RequestService(
            settings,
            storage=self.storage,
            store=store,
            jobs=self.jobs,
            publish=self.publish,
            signer=self.signer,
            now=now,
            actor=self.actor,
        )
        self.users = UserAdmin(self.storage, now=now)
        self.camera_events = CameraEventService(self.storage, now=now)
        self.evidence_items = EvidenceItemService(self.storage)
        self.outside = OutsideFootage(settings, self.storage, store, self.hub_key, now=now)
        self.derived = DerivedItemService(
            self.storage,
            store,
            DeriveSettings(settings.data_dir, settings.hub_id, self.hub_key, worker),
            now=now,
        )
        self.exports = ExhibitExport(
            self.storage,
            store,
            ExportSettings(
                settings.data_dir,
                settings.hub_id,
                self.hub_key,
                settings.exhibits.reference_pattern,
                {s.site_id: s.public_key_pem for s in settings.sites if s.public_key_pem},
                worker,
            ),
            now=now,
        )
        self.ingest = IngestService(
            storage=self.storage,
            store=store,
            settings=settings,
            jobs=self.jobs,
            publish=self.publish,
            signer=self.signer,
            now=now,
            refusals=self.refusals,
        )
        self.upload_queue = UploadQueueService(self.storage, self.ingest)
        self.uplink_caps = UplinkCapService(self.storage, self.publish, self.signer, now=now)
        self.live = LiveBridge(
            settings.live,
            self.storage,
            self.publish,
            lambda: None if self.link is None else self.link.is_ready,
            refusals=self.refusals,
            worker=worker,
            owner=worker or settings.hub_id,
            now=now,
        )
        self.snapshots = SnapshotBridge(
            self.storage,
            self.custody,
            self.publish,
            lambda: None if self.link is None else self.link.is_ready,
            refusals=self.refusals,
            worker=worker,
        )
        self._events: EventQueue | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self.handled = 0  # messages handled, for tests and health
        self.background = LeasedJobs(
            self.storage,
            lease=timedelta(seconds=settings.database.lease_seconds),
            now=now,
            worker=worker or settings.hub_id,
        )
        self._add_background_jobs()

    @classmethod
    def from_settings(
        cls, settings: HubSettings, database: AnyDatabase, store: EvidenceStore
    ) -> HubService:
        """The service with the real MQTT link when the settings name a broker."""
        link = None if settings.broker is None else HubMqtt(settings.broker, settings.hub_id)
        return cls(settings, database, store, link)

    # Publishing.

    def publish(self, topic: str, payload: bytes, *, retain: bool = False) -> None:
        if self.link is None:
            log.debug("no broker configured; not publishing %s", topic)
            return
        self.link.publish(topic, payload, retain=retain)

    @property
    def mqtt_state(self) -> str:
        if self.link is None:
            return "disabled"
        return "connected" if self.link.is_ready else "connecting"

    # Life cycle.

    async def start(self) -> None:
        await self._sync_config()
        await self.ingest.resume()
        await self.ingest.expire_stale()
        await self.derived.start()
        # Live sessions this worker started before it died are over: their live_end rows.
        await self.live.close_all(self.actor, "the hub restarted")
        await self.exports.start()
        loop = asyncio.get_running_loop()
        self._events = EventQueue(loop, self.settings.ingest.max_queued_chunk_bytes)
        self._tasks.append(loop.create_task(self._consume(self._events), name="hub-consumer"))
        self._tasks.append(loop.create_task(self._maintain(), name="hub-maintenance"))
        self.requests.start()
        # Each background job on one worker at a time (a lease in the database).
        await self.background.renew()
        self._tasks.append(loop.create_task(self.background.run(), name="hub-leases"))
        if self.link is not None:
            await self.link.start(self._events)

    async def stop(self) -> None:
        await self.live.close_all(self.actor, "hub stopping")
        if self.link is not None:
            await self.link.stop()
        self.integrity.stop()
        await self.derived.stop()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        # The last rows of this run are anchored before the hub goes, by the worker that
        # checkpoints (one writer of the checkpoint file).
        last_checkpoint = self.background.holds(CHECKPOINTS)
        await self.background.stop()
        self.requests.close()
        await self.ingest.close()
        if last_checkpoint:
            try:
                await self.checkpoints.acheckpoint()
            except OSError as exc:
                log.error("cannot write the custody checkpoint on shutdown: %s", exc)

    def _add_background_jobs(self) -> None:
        jobs = self.background
        interval = self.settings.audit.checkpoint_interval_seconds
        jobs.add(CHECKPOINTS, lambda: self.checkpoints.run(interval))
        jobs.add("request-sweep", self.requests.fulfilment.run)
        jobs.add("retention", self.requests.retention_loop)
        jobs.add("fleet-alerts", self.fleet.run)
        jobs.add("upload-sweep", self.outside.sweeping)
        if self.settings.evidence.scrub:
            jobs.add("scrub", self.integrity.run_scrub)
        # What workers that died (and were not started again) left: their live sessions ended,
        # their derived items failed.
        every = self.settings.database.lease_seconds
        jobs.add(
            "live-sweep",
            lambda: repeat(
                every, lambda: self.live.end_orphans(jobs.alive, self.actor), "live sweep"
            ),
        )
        jobs.add(
            "derived-sweep",
            lambda: repeat(every, lambda: self.derived.fail_orphans(jobs.alive), "derived sweep"),
        )

    async def _sync_config(self) -> None:
        """Sites and users from the settings into the database (the settings win)."""
        sites = [
            (site.site_id, site.name, await asyncio.to_thread(site.resolved_public_key_pem))
            for site in self.settings.sites
        ]
        users = [(u.username, u.role, u.password_hash) for u in self.settings.users]
        now = self._now()

        def sync(uow: UnitOfWork) -> None:
            for site_id, name, pem in sites:
                register_in(uow, site_id, name, pem, "config", now)
            uow.users.sync_config(users, now)

        await self.storage.awrite(sync)

    # Consuming events.

    async def _consume(self, events: EventQueue) -> None:
        held_back: BridgeEvent | None = None
        while True:
            event = held_back if held_back is not None else await events.get()
            # Chunks of one clip waiting back to back are handled as one batch: one worker
            # thread call verifies and writes them all (one hop, not one per chunk).
            batch, held_back = chunk_batch(event, events.get_nowait)
            try:
                if len(batch) > 1:
                    await self._route_chunks(batch)
                else:
                    await self.handle(event)
            except asyncio.CancelledError:
                raise
            except Exception:
                # One bad message must not stop ingest for every site.
                log.exception("error while handling %s", event)
            finally:
                finished: list[BridgeEvent] = [*batch] if batch else [event]
                for done in finished:
                    events.done(done)
                self.handled += len(finished)

    async def _route_chunks(self, batch: list[Inbound]) -> None:
        first = batch[0].topic
        assert isinstance(first, ChunkTopic)
        chunks = []
        for event in batch:
            assert isinstance(event.topic, ChunkTopic)
            chunks.append((event.topic.index, event.payload))
        await self.ingest.handle_chunks(first.site, first.clip, chunks)

    async def handle(self, event: BridgeEvent) -> None:
        """Route one event from the link (public so tests can inject events)."""
        match event:
            case Connected():
                await self.jobs.republish_open()
                await self.requests.republish_holds()
                await self.uplink_caps.republish()
                await self.jobs.clear_recently_ended()
                await self.ingest.announce()
            case Disconnected():
                pass
            case Inbound(topic=topic, payload=payload):
                await self._route(topic, payload)
            case UnknownTopic(reason=reason):
                self.refusals.refuse("topic", "dropped a message on an unknown topic: %s", reason)

    async def _route(self, topic: Topic, payload: bytes) -> None:
        match topic:
            case StatusTopic(site=site):
                await self.sites.apply_status(site, payload)
            case ProgressTopic(site=site, job=job):
                await self.jobs.apply_progress(site, job, payload)
            case ManifestTopic(site=site, clip=clip):
                await self.ingest.handle_offer(site, clip, payload)
            case ChunkTopic(site=site, clip=clip, index=index):
                await self.ingest.handle_chunk(site, clip, index, payload)
            case LiveTopic(site=site, session=session, kind=kind):
                await self.live.handle(site, session, kind, payload)
            case SnapshotTopic(site=site, request=request, kind=kind):
                await self.snapshots.handle(site, request, kind, payload)
            case EventsTopic(site=site):
                await self.camera_events.apply(site, payload)
            case _:
                log.debug("ignored a message on %s (sent by the hub)", topic)

    async def _maintain(self) -> None:
        # Sessions another worker ended are dropped every SESSION_SWEEP_INTERVAL: left to the
        # 10-minute pass they grew the worker by ~3 MB/min at 10 jobs/s (bench/scale.py).
        sweeps = itertools.count(1)
        per_pass = round(MAINTENANCE_INTERVAL / SESSION_SWEEP_INTERVAL)
        while True:
            await asyncio.sleep(SESSION_SWEEP_INTERVAL.total_seconds())
            try:
                if next(sweeps) % per_pass == 0:
                    await self.ingest.expire_stale()
                else:
                    await self.ingest.forget_ended()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("maintenance failed")
