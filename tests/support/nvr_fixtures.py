"""The test NVR (devkit.nvr) for tests: recordings made once per session, servers per test.

``nvr_recordings``: a folder with channel 1 (H.264 640x360, 12 s from ``T0``, a hole of 4 s,
then 6 s more) and channel 2 (H.265 320x240, 6 s from ``T0``). ``test_nvr``: a started
``TestNvr`` serving them (digest auth on RTSP, WS-UsernameToken on SOAP).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from devkit.nvr import RecordingSpec, TestNvr, make_recordings

T0 = datetime(2026, 1, 10, 10, 0, 0, tzinfo=UTC)
HOLE = (T0 + timedelta(seconds=12), T0 + timedelta(seconds=16))


@pytest.fixture(scope="session")
def nvr_recordings(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("nvr")
    make_recordings(
        root,
        [
            RecordingSpec("REC-CH1", 1, ((T0, 12.0), (HOLE[1], 6.0)), name="High St north"),
            RecordingSpec(
                "REC-CH2", 2, ((T0, 6.0),), codec="h265", width=320, height=240, bitrate_kbps=400
            ),
        ],
    )
    return root


@pytest.fixture
def test_nvr(nvr_recordings: Path) -> Iterator[TestNvr]:
    with TestNvr(nvr_recordings) as nvr:
        yield nvr
