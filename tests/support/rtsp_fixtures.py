"""Pytest fixtures for a real RTSP camera on loopback (GStreamer's RTSP server, see testcam.py).

- ``rtsp_camera``: a started 640x360, 25 fps H.264 camera with a keyframe every second, stopped
  at teardown. Its ``url`` is ``rtsp://127.0.0.1:<port>/cam``; ``restart()``, ``stop()``,
  ``start()``, ``freeze()`` and ``thaw()`` simulate a camera that drops or stalls.
- ``rtsp_camera_factory``: ``make(**options)`` starts another camera with ``TestCamera``'s
  options (``width``, ``height``, ``fps``, ``gop_seconds``, ``codec``, ``bitrate_kbps``,
  ``mount``); every camera it made is stopped at teardown.

A missing GStreamer install fails the test with what to install (``TestCameraUnavailable``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from devkit.testcam import TestCamera

CameraFactory = Callable[..., TestCamera]


@pytest.fixture
def rtsp_camera_factory() -> Iterator[CameraFactory]:
    cameras: list[TestCamera] = []

    def make(**options: object) -> TestCamera:
        camera = TestCamera(**options)  # type: ignore[arg-type]
        cameras.append(camera)
        return camera.start()

    yield make
    for camera in cameras:
        camera.stop()


@pytest.fixture
def rtsp_camera(rtsp_camera_factory: CameraFactory) -> TestCamera:
    return rtsp_camera_factory(width=640, height=360, fps=25, gop_seconds=1.0, codec="h264")
