"""The site agent process (``cctv-agent run``): recorders, retention, uplink and clip jobs.

Start order: the key (created on first start), the segment index and the outbox; crash leftovers
of the recorder are recovered before anything records; then the recorders (one child process per
camera, supervised from threads of this process, which alone writes the index), the janitor, the job
runner (which resumes the outbox before the uplink connects), and the uplink. ``READY=1`` goes to
systemd once all of that runs; the watchdog is pinged from the event loop, so a loop that hangs
is restarted. SIGTERM or SIGINT stops everything in reverse: the running cut is abandoned (and
redone at the next start), live sessions close, the site is marked offline, and each recorder
finishes its segment. Live view offers, candidates and closes go to ``LiveSignalling``, snapshot
requests to ``SnapshotSignalling``, legal holds to ``HoldKeeper``. Jobs, holds and acks are acted
on only when signed by the hub's key
(``uplink.hub_public_key_file``; without it the agent records but trusts no job). ONVIF cameras
(``OnvifCameras``) give the recorders their stream URLs before every (re)connect, live view its
live-profile URL, and their motion and tamper events go into the index, from which
``EventUplink`` sends each one to the hub once.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable

from cctv_common import __version__
from cctv_common.evidence.signing import KeyFileError, load_or_create_private_key, load_public_key
from cctv_common.sdnotify import SdNotify
from cctv_common.wire.hub_signing import HubVerifier
from cctv_common.wire.payloads import SiteStatus
from cctv_common.wire.topics import (
    HoldTopic,
    LiveTopic,
    SnapshotTopic,
    Topic,
    agent_subscriptions,
)
from edge_agent.cameras.onvif_cameras import OnvifCameras
from edge_agent.clips.evidence_clip import release_stale_cut_pins
from edge_agent.config import AgentConfig, CameraConfig
from edge_agent.health.metrics import agent_registry, serve_metrics
from edge_agent.health.monitor import HealthMonitor
from edge_agent.health.report import with_health
from edge_agent.holds.keeper import HoldKeeper, held_windows
from edge_agent.jobs.runner import JobRunner
from edge_agent.live.errors import LiveCameraUnavailable
from edge_agent.live.service import LiveService, UrlResolver
from edge_agent.live.signalling import LiveSignalling
from edge_agent.nvr.coverage import NvrCoverage
from edge_agent.recording.janitor import Janitor
from edge_agent.recording.recorder import CameraUnreachable
from edge_agent.recording.recorder_supervisor import Recorders
from edge_agent.snapshots.service import Snapshots
from edge_agent.snapshots.signalling import SnapshotSignalling
from edge_agent.store.outbox import Outbox
from edge_agent.store.segment_index import SegmentIndex
from edge_agent.uplink.connection import Uplink, build_site_status
from edge_agent.uplink.events import STATE_FILE, EventUplink, stop_task

log = logging.getLogger(__name__)

RECORDER_STOP_SECONDS = 15.0


def run_agent(config: AgentConfig) -> int:
    """Run until SIGTERM or SIGINT; 0 after a clean stop."""
    return asyncio.run(_run(config))


def route_messages(
    site: str,
    jobs: Callable[[Topic, bytes, bool], None],
    live: Callable[[LiveTopic, bytes, bool], None],
    snapshots: Callable[[SnapshotTopic, bytes, bool], None] | None = None,
    holds: Callable[[HoldTopic, bytes, bool], None] | None = None,
) -> Callable[[Topic, bytes, bool], None]:
    """The uplink's message handler (topics arrive parsed): live signalling to ``live``, snapshot
    requests to ``snapshots``, legal holds to ``holds`` (which refuses another site's), the rest
    (jobs, acks, and anything unexpected, which it logs) to ``jobs``."""

    def route(topic: Topic, payload: bytes, retained: bool = False) -> None:
        if isinstance(topic, LiveTopic) and topic.site == site:
            live(topic, payload, retained)
        elif isinstance(topic, SnapshotTopic) and topic.site == site and snapshots is not None:
            snapshots(topic, payload, retained)
        elif isinstance(topic, HoldTopic) and holds is not None:
            holds(topic, payload, retained)
        else:
            jobs(topic, payload, retained)

    return route


class HubKeyError(Exception):
    """``uplink.hub_public_key_file`` is set but cannot be used."""


def hub_verifier(config: AgentConfig) -> HubVerifier:
    """What checks the hub's signatures, from ``uplink.hub_public_key_file`` (blocking read)."""
    path = config.uplink.hub_public_key_file
    if path is None:
        log.error(
            "site %s: uplink.hub_public_key_file is not set: no job, hold or ack from the hub"
            " will be trusted, so nothing is cut or uploaded (footage is still recorded)."
            " Set it to the key printed by `cctv-hub public-key`",
            config.site_id,
        )
        return HubVerifier(None)
    try:
        key = load_public_key(path.read_bytes())
    except (OSError, KeyFileError) as exc:
        raise HubKeyError(f"uplink.hub_public_key_file {path}: {exc}") from exc
    verifier = HubVerifier(key)
    log.info("site %s: trusting the hub key %s (%s)", config.site_id, verifier.key_id, path)
    return verifier


def live_resolver(cameras: OnvifCameras) -> UrlResolver:
    """Live view's stream URL for ONVIF cameras (their live_profile), in live view's terms."""

    async def resolve(camera: CameraConfig) -> str:
        try:
            return await cameras.live_url(camera)
        except CameraUnreachable as exc:
            raise LiveCameraUnavailable(str(exc)) from exc

    return resolve


async def _run(config: AgentConfig) -> int:
    site = config.site_id
    notifier = SdNotify()
    config.data_dir.mkdir(parents=True, exist_ok=True)
    hub = await asyncio.to_thread(hub_verifier, config)
    key = await asyncio.to_thread(load_or_create_private_key, config.resolved_key_file)
    index = await asyncio.to_thread(SegmentIndex, config.index_path)
    outbox = await asyncio.to_thread(Outbox, config.data_dir)
    janitor = Janitor(index, config.segments_dir, config.retention, site_id=site)
    recovery = await asyncio.to_thread(janitor.recover_leftovers)
    if recovery.salvaged or recovery.removed:
        log.info(
            "site %s: leftovers from the last run: %d segment(s) salvaged, %d removed",
            site,
            len(recovery.salvaged),
            len(recovery.removed),
        )
    for owner in await asyncio.to_thread(release_stale_cut_pins, index):
        log.info("site %s: released pin %s left by a cut that did not finish", site, owner)
    onvif_cameras = OnvifCameras(config, index)
    recorders = Recorders(
        config,
        index,
        url_providers=onvif_cameras.url_providers(),
        on_disk_full=janitor.wake,
        recover=janitor.recover_leftovers,
    )

    nvr_coverage = NvrCoverage(config)

    def clock_offset(camera_id: str) -> float | None:
        try:
            return onvif_cameras.clock_offset(camera_id)
        except KeyError:  # a plain RTSP camera: no ONVIF clock
            return None

    def status() -> SiteStatus:
        statuses = recorders.statuses()
        return with_health(
            build_site_status(
                cameras=statuses,
                index=index,
                segments_dir=config.segments_dir,
                version=__version__,
                holds=held_windows(index.holds.in_force(), site),
                retention_pressure=janitor.pressure,
                nvr=nvr_coverage.by_camera(),
            ),
            health.latest,
            upload_queue=len(outbox.pending_clips()),
            clock_offsets={s.camera_id: clock_offset(s.camera_id) for s in statuses},
        )

    uplink = Uplink(
        site_id=site,
        config=config.uplink,
        status=status,
        version=__version__,
        subscriptions=agent_subscriptions(site),
    )
    health = HealthMonitor(
        config,
        index,
        recorders=recorders.statuses,
        clock_offset=clock_offset,
        uplink_connected=lambda: uplink.connected,
        on_report=uplink.publish_status_now,
    )
    runner = JobRunner(
        config=config,
        outbox=outbox,
        index=index,
        key=key,
        publisher=uplink,
        hub=hub,
        nvr=nvr_coverage,
    )
    holds = HoldKeeper(config=config, index=index, hub=hub, on_change=uplink.publish_status_now)
    loop = asyncio.get_running_loop()
    live_service = LiveService(config, loop, url_resolver=live_resolver(onvif_cameras))
    live = LiveSignalling(site, live_service, uplink)
    snapshots = SnapshotSignalling(site, Snapshots(config, onvif_cameras), uplink)
    uplink.set_handlers(
        on_message=route_messages(
            site, runner.handle_message, live.handle, snapshots.handle, holds.handle
        ),
        on_connect=runner.on_connected,
    )

    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)

    events = asyncio.create_task(onvif_cameras.run_events(stop), name="onvif-events")
    nvr_search = asyncio.create_task(
        nvr_coverage.run(stop, uplink.publish_status_now), name="nvr-search"
    )
    event_uplink = EventUplink(site, index, uplink, config.data_dir / STATE_FILE)
    events_out: asyncio.Task[None] | None = None
    checks: asyncio.Task[None] | None = None
    metrics = None
    try:
        recorders.start()
        janitor.start()
        await runner.start()
        await uplink.start()
        events_out = asyncio.create_task(event_uplink.run(), name="event-uplink")
        checks = asyncio.create_task(health.run(stop), name="site-checks")
        if config.health.metrics_port is not None:
            try:
                metrics, _ = await asyncio.to_thread(
                    serve_metrics,
                    config.health.metrics_host,
                    config.health.metrics_port,
                    agent_registry(site, status),
                )
            except OSError as exc:  # the port is taken: record anyway, say so
                log.error(
                    "site %s: no metrics on %s:%d: %s",
                    site,
                    config.health.metrics_host,
                    config.health.metrics_port,
                    exc,
                )
        cameras = sum(1 for camera in config.cameras if camera.enabled)
        notifier.ready(f"site {site}: {cameras} camera(s) recording")
        log.info("site %s: agent %s running with %d camera(s)", site, __version__, cameras)
        async with notifier.watchdog_running():
            await stop.wait()
        log.info("site %s: stopping", site)
    finally:
        notifier.stopping()
        await runner.stop()
        await holds.stop()
        await snapshots.stop()
        await live.stop()
        await stop_task(events_out)
        await stop_task(checks)
        if metrics is not None:
            await asyncio.to_thread(metrics.shutdown)
        await uplink.stop()
        stuck = await asyncio.to_thread(recorders.stop_all, RECORDER_STOP_SECONDS)
        await asyncio.to_thread(janitor.stop)
        stop.set()
        for outcome in await asyncio.gather(events, nvr_search, return_exceptions=True):
            if isinstance(outcome, Exception):
                log.error(
                    "site %s: ONVIF events or NVR search stopped with an error: %s", site, outcome
                )
        onvif_cameras.close()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)
        if not stuck:
            index.close()
        outbox.close()
        log.info("site %s: agent stopped", site)
    return 0
