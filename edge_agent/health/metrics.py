"""The agent's Prometheus metrics on a small HTTP listener (``[health] metrics_port``, loopback
by default): each camera's recording state, frames lost, days of buffer, clock offset, the upload
queue, the uplink, and every check's verdict. Read from the status the heartbeat would send now,
at each scrape, on the listener's thread."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from typing import Final
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from cctv_common.wire.payloads import SiteStatus

log = logging.getLogger(__name__)

CAMERA_STATES: Final = ("recording", "reconnecting", "stopped", "error")
VERDICT_VALUE: Final = {"OK": 0.0, "WARN": 1.0, "FAIL": 2.0}


class AgentCollector(Collector):
    def __init__(self, site_id: str, status: Callable[[], SiteStatus]) -> None:
        self._site = site_id
        self._status = status

    def collect(self) -> Iterator[GaugeMetricFamily]:
        try:
            status = self._status()
        except Exception:
            log.exception("site %s: metrics: status unavailable", self._site)
            return
        site = [self._site]
        state = GaugeMetricFamily(
            "cctv_agent_camera_state",
            "1 for the camera's recorder state",
            labels=["site", "camera", "state"],
        )
        recording = GaugeMetricFamily(
            "cctv_agent_camera_recording", "1 when the camera records", labels=["site", "camera"]
        )
        lost = GaugeMetricFamily(
            "cctv_agent_frames_lost_24h", "Frames lost in the last 24 h", labels=["site", "camera"]
        )
        days = GaugeMetricFamily(
            "cctv_agent_buffer_days", "Days of footage retrievable now", labels=["site", "camera"]
        )
        drift = GaugeMetricFamily(
            "cctv_agent_camera_clock_offset_seconds",
            "Camera clock minus the box's",
            labels=["site", "camera"],
        )
        for camera in status.cameras:
            labels = [self._site, camera.camera_id]
            for name in CAMERA_STATES:
                state.add_metric([*labels, name], 1.0 if camera.state == name else 0.0)
            recording.add_metric(labels, 1.0 if camera.state == "recording" else 0.0)
            if camera.frames_lost_24h is not None:
                lost.add_metric(labels, float(camera.frames_lost_24h))
            if camera.buffer_start and camera.buffer_end:
                span = (camera.buffer_end - camera.buffer_start).total_seconds() / 86400
                days.add_metric(labels, span)
            if camera.clock_offset_seconds is not None:
                drift.add_metric(labels, camera.clock_offset_seconds)
        yield from (state, recording, lost, days, drift)
        forecast = GaugeMetricFamily(
            "cctv_agent_buffer_days_forecast",
            "Days of footage the disk holds at the recorded bitrate",
            labels=["site"],
        )
        if status.buffer_days_forecast is not None:
            forecast.add_metric(site, status.buffer_days_forecast)
        yield forecast
        queue = GaugeMetricFamily(
            "cctv_agent_upload_queue", "Clips waiting for the hub's ack", labels=["site"]
        )
        queue.add_metric(site, float(status.upload_queue or 0))
        yield queue
        free = GaugeMetricFamily(
            "cctv_agent_disk_free_bytes", "Free bytes on the footage disk", labels=["site"]
        )
        if status.disk_free_bytes is not None:
            free.add_metric(site, float(status.disk_free_bytes))
        yield free
        checks = GaugeMetricFamily(
            "cctv_agent_check",
            "Each site check's verdict: 0 OK, 1 WARN, 2 FAIL",
            labels=["site", "check", "subject"],
        )
        for check in status.checks:
            checks.add_metric(
                [self._site, check.check, check.subject], VERDICT_VALUE[check.verdict]
            )
        yield checks
        failing = GaugeMetricFamily(
            "cctv_agent_checks_failing", "Site checks failing now", labels=["site"]
        )
        failing.add_metric(site, float(sum(1 for c in status.checks if c.verdict == "FAIL")))
        yield failing


def agent_registry(site_id: str, status: Callable[[], SiteStatus]) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(AgentCollector(site_id, status))
    return registry


def serve_metrics(
    host: str, port: int, registry: CollectorRegistry
) -> tuple[WSGIServer, threading.Thread]:
    """Start the listener (a daemon thread); ``server.shutdown()`` stops it."""
    server, thread = start_http_server(port, addr=host, registry=registry)
    log.info("metrics on http://%s:%d/metrics", host, port)
    return server, thread
