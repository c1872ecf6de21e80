"""`AsyncOnvifClient`: OnvifClient for the agent's event loop. Each blocking call runs in a
worker thread (`asyncio.to_thread`) under a timeout, so a stuck camera never blocks the loop."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, TypeVar

from cctv_onvif.client import OnvifClient
from cctv_onvif.events import EventStream
from cctv_onvif.types import (
    ClockReading,
    DeviceInfo,
    EventSettings,
    MediaProfile,
    OnvifSettings,
    OnvifTarget,
    OnvifUnreachable,
    RecordingInfo,
    RecordingSummary,
    SearchSettings,
    ServiceInfo,
    StreamUri,
)

T = TypeVar("T")


class AsyncOnvifClient:
    """OnvifClient for the agent's event loop: each call runs in a worker thread with a timeout."""

    def __init__(
        self,
        target: OnvifTarget,
        settings: OnvifSettings | None = None,
        *,
        sync: OnvifClient | None = None,
    ) -> None:
        """`sync`: share an existing blocking client (and its clock and services) instead."""
        self.sync = sync if sync is not None else OnvifClient(target, settings)

    @property
    def target(self) -> OnvifTarget:
        return self.sync.target

    @property
    def clock(self) -> ClockReading | None:
        return self.sync.clock

    async def _run(self, exchanges: int, function: Callable[..., T], *args: Any) -> T:
        # The HTTP timeouts in the worker thread end each exchange; this guards against a call that
        # slips past them. `exchanges` is how many SOAP round trips the call may make (connecting
        # first takes two more).
        limit = (exchanges + 2) * self.sync.settings.timeout + 1.0
        try:
            return await asyncio.wait_for(asyncio.to_thread(function, *args), limit)
        except TimeoutError as exc:
            raise OnvifUnreachable(
                f"{self.target.where} does not answer: no answer within {limit:g} s",
                self.target.camera_id,
            ) from exc

    async def connect(self) -> list[ServiceInfo]:
        return await self._run(1, self.sync.connect)

    async def get_system_date_and_time(self) -> ClockReading:
        return await self._run(2, self.sync.get_system_date_and_time)

    async def get_services(self) -> list[ServiceInfo]:
        return await self._run(2, self.sync.get_services)

    async def get_device_information(self) -> DeviceInfo:
        return await self._run(1, self.sync.get_device_information)

    async def get_hostname(self) -> str:
        return await self._run(1, self.sync.get_hostname)

    async def get_scopes(self) -> list[str]:
        return await self._run(1, self.sync.get_scopes)

    async def get_profiles(self) -> list[MediaProfile]:
        return await self._run(1, self.sync.get_profiles)

    async def get_stream_uri(self, profile: str = "main") -> StreamUri:
        return await self._run(2, self.sync.get_stream_uri, profile)

    async def get_snapshot_uri(self, profile: str = "main") -> str:
        return await self._run(2, self.sync.get_snapshot_uri, profile)

    async def fetch_snapshot(self, profile: str = "main") -> bytes:
        return await self._run(4, self.sync.fetch_snapshot, profile)

    async def get_recording_summary(self) -> RecordingSummary:
        return await self._run(1, self.sync.get_recording_summary)

    async def find_recordings(self, settings: SearchSettings | None = None) -> list[RecordingInfo]:
        pages = (settings or SearchSettings()).max_pages
        return await self._run(pages + 2, self.sync.find_recordings, settings)

    async def get_recording_information(self, token: str) -> RecordingInfo:
        return await self._run(1, self.sync.get_recording_information, token)

    async def get_replay_uri(self, recording_token: str) -> str:
        return await self._run(1, self.sync.get_replay_uri, recording_token)

    def events(self, settings: EventSettings | None = None) -> EventStream:
        return EventStream(self.sync, settings)

    async def aclose(self) -> None:
        self.sync.close()
