"""Liveness for load balancers, scripts and tests; no login needed and nothing secret in it."""

from __future__ import annotations

from fastapi import APIRouter

from cctv_common import __version__
from hub.api.deps import Hub
from hub.api.schemas import HealthOut

router = APIRouter(prefix="/api", tags=["health"])


@router.get("/health", response_model=HealthOut, summary="Is the hub up, is MQTT connected")
async def health(hub: Hub) -> HealthOut:
    return HealthOut(
        status="ok",
        mqtt=hub.service.mqtt_state,
        version=__version__,
        refused_messages=hub.service.refusals.total,
    )
