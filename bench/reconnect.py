"""Reconnect benchmark: how soon a camera that comes back is recorded again, over many outages.

Run from the repository root: ``python3 bench/reconnect.py [--outages 10]``. It needs GStreamer's
RTSP server for the test camera (see ``devkit/testcam.py``).

One test camera (640x360, 25 fps, a keyframe every second) recorded by the agent's recorder
process with the default recorder settings (retries after 0.5 s, then every 1 s while the camera is
down). The camera's server is stopped for a random 2-15 s and started again, many
times. For each outage it reports the gap recorded and how long after the camera was listening
again its first frame was recorded (the recorded gap's end minus the moment the server was back):
at most one retry interval plus the RTSP handshake, the probe and the wait for a keyframe. The
camera here sends a keyframe to each new client at once; a camera that does not adds up to one
keyframe interval (its frames before the first keyframe cannot be decoded and are counted as
dropped, not written). This is a measurement, not a test.
"""

from __future__ import annotations

import argparse
import functools
import logging
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from devkit.waiting import wait_until

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from cctv_common.evidence.manifest import GapCause  # noqa: E402
from devkit.testcam import TestCamera  # noqa: E402
from edge_agent.config import AgentConfig  # noqa: E402
from edge_agent.recording.recorder_supervisor import Recorders  # noqa: E402
from edge_agent.store.segment_index import SegmentIndex  # noqa: E402

TARGET_SECONDS = 2.0


def _segment_after(index: SegmentIndex, moment: datetime) -> bool:
    return any(s.start > moment for s in index.all_segments("cam1"))


def run(args: argparse.Namespace) -> int:
    rng = random.Random(args.seed)
    camera = TestCamera(width=640, height=360, fps=25, gop_seconds=1.0).start()
    backs: list[float] = []
    with tempfile.TemporaryDirectory(prefix="bench-reconnect-") as data:
        config = AgentConfig.model_validate(
            {
                "site_id": "bench",
                "data_dir": data,
                "recorder": {"segment_seconds": 4.0},
                "cameras": [{"id": "cam1", "rtsp_url": camera.url}],
            }
        )
        index = SegmentIndex(config.index_path)
        recorders = Recorders(config, index)
        recorders.start()
        try:
            wait_until(lambda: len(index.all_segments("cam1")) >= 1, "the first segment")
            for number in range(1, args.outages + 1):
                down = rng.uniform(2.0, 15.0)
                went = datetime.now(UTC)
                camera.stop()
                time.sleep(down)
                camera.start()
                came = datetime.now(UTC)
                wait_until(
                    functools.partial(_segment_after, index, came), "a segment after the reconnect"
                )
                gap = next(
                    g
                    for g in index.gaps_overlapping("cam1", went - timedelta(seconds=30), came)
                    if g.end > went and not g.open
                )
                back = (gap.end - came).total_seconds()
                backs.append(back)
                print(
                    f"outage {number}: camera down {(came - went).total_seconds():5.1f} s,"
                    f" gap recorded {gap.seconds:5.1f} s ({gap.cause}),"
                    f" recording again {back:4.2f} s after it came back"
                )
                assert gap.cause is GapCause.CAMERA_UNREACHABLE
                time.sleep(1.0)
        finally:
            recorders.stop_all(timeout=30)
            camera.stop()
            index.close()
    print(
        f"recording again after a camera comes back: median {statistics.median(backs):.2f} s,"
        f" worst {max(backs):.2f} s over {len(backs)} outages (target <= {TARGET_SECONDS:g} s)"
    )
    return 0 if max(backs) <= TARGET_SECONDS else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--outages", type=int, default=10)
    parser.add_argument("--seed", type=int, default=8)
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR, format="%(levelname)s %(name)s: %(message)s")
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
