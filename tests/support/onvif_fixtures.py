"""Pytest fixtures: a fake ONVIF camera (HTTP + WS-Discovery on loopback) per test."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from tests.support.onvif_device import FakeOnvifDevice


@pytest.fixture
def onvif_device() -> Iterator[FakeOnvifDevice]:
    """A started fake camera: host, port, user, password, xaddr, discovery_port and its controls
    (set_stream_uri, set_clock_skew, push_event / push_motion / push_tamper, set_fault_mode)."""
    with FakeOnvifDevice() as device:
        yield device


@pytest.fixture
def onvif_device_factory() -> Iterator[Callable[..., FakeOnvifDevice]]:
    """Start as many fake cameras as a test needs (keyword arguments go to FakeOnvifDevice)."""
    devices: list[FakeOnvifDevice] = []

    def start(**options: object) -> FakeOnvifDevice:
        device = FakeOnvifDevice(**options)  # type: ignore[arg-type]
        devices.append(device.start())
        return device

    yield start
    for device in devices:
        device.stop()
