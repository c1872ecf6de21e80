"""``GET /metrics``: the fleet's health for Prometheus (prometheus-client's text format).

Without ``[metrics] token_file`` only loopback clients may scrape (a Prometheus on the hub's
box, or an exporter tunnel); with it every scrape must send ``Authorization: Bearer <token>``.
"""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Iterator

from fastapi import APIRouter, HTTPException, Request, status
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from hub.api.deps import Hub, client_address
from hub.domain.fleet_rules import AlertKind, SiteHealth

router = APIRouter(tags=["metrics"])

CAMERA = ["site", "camera"]


def _loopback(address: str) -> bool:
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return address == "testclient"


def _allowed(request: Request, token: str | None) -> bool:
    if token is None:
        return _loopback(client_address(request))
    given = request.headers.get("authorization", "")
    return hmac.compare_digest(given.encode(), f"Bearer {token}".encode())


class FleetCollector(Collector):
    def __init__(self, sites: list[SiteHealth]) -> None:
        self._sites = sites

    def collect(self) -> Iterator[GaugeMetricFamily]:
        up = GaugeMetricFamily(
            "cctv_hub_site_up", "1 when the site reports online", labels=["site"]
        )
        forecast = GaugeMetricFamily(
            "cctv_hub_site_buffer_days_forecast",
            "Days of footage the site's disk holds at its recorded bitrate",
            labels=["site"],
        )
        queue = GaugeMetricFamily(
            "cctv_hub_site_upload_queue", "Clips the site still has to upload", labels=["site"]
        )
        failing = GaugeMetricFamily(
            "cctv_hub_site_checks_failing", "The site's checks failing now", labels=["site"]
        )
        recording = GaugeMetricFamily(
            "cctv_hub_camera_recording", "1 when the camera records", labels=CAMERA
        )
        lost = GaugeMetricFamily(
            "cctv_hub_camera_frames_lost_24h", "Frames lost in the last 24 h", labels=CAMERA
        )
        days = GaugeMetricFamily(
            "cctv_hub_camera_buffer_days", "Days of footage retrievable now", labels=CAMERA
        )
        drift = GaugeMetricFamily(
            "cctv_hub_camera_clock_offset_seconds", "Camera clock minus its box's", labels=CAMERA
        )
        alert = GaugeMetricFamily(
            "cctv_hub_alert", "1 for each open alert", labels=["kind", "site", "camera"]
        )
        alerts = GaugeMetricFamily("cctv_hub_alerts", "Open alerts by kind", labels=["kind"])
        counts = dict.fromkeys(AlertKind, 0)
        for site in self._sites:
            up.add_metric([site.site_id], 1.0 if site.state == "online" else 0.0)
            if site.buffer_days_forecast is not None:
                forecast.add_metric([site.site_id], site.buffer_days_forecast)
            if site.upload_queue is not None:
                queue.add_metric([site.site_id], float(site.upload_queue))
            failing.add_metric([site.site_id], float(len(site.checks_failing)))
            for camera in site.cameras:
                labels = [site.site_id, camera.camera_id]
                recording.add_metric(labels, 1.0 if camera.state == "recording" else 0.0)
                if camera.frames_lost_24h is not None:
                    lost.add_metric(labels, float(camera.frames_lost_24h))
                if camera.days_now is not None:
                    days.add_metric(labels, camera.days_now)
                if camera.clock_offset_seconds is not None:
                    drift.add_metric(labels, camera.clock_offset_seconds)
            for item in site.all_alerts:
                counts[item.kind] += 1
                alert.add_metric([item.kind.value, item.site_id, item.camera_id or ""], 1.0)
        for kind, count in counts.items():
            alerts.add_metric([kind.value], float(count))
        yield from (up, forecast, queue, failing, recording, lost, days, drift, alert, alerts)


@router.get("/metrics", include_in_schema=False)
async def metrics(request: Request, hub: Hub) -> Response:
    if not _allowed(request, hub.metrics_token):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "metrics: loopback or the bearer token only")
    registry = CollectorRegistry(auto_describe=False)
    registry.register(FleetCollector(await hub.service.fleet.fleet()))
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
