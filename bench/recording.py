"""Recording benchmark: the agent's CPU for 8 cameras of 1080p25 at 4 Mbit/s, and frames kept.

Run from the repository root: ``python3 bench/recording.py [--seconds 60] [--cameras 8]``. It
needs GStreamer's RTSP server for the test camera (see ``devkit/testcam.py``).

What it does, in one run:

1. Starts one test camera (1920x1080, 25 fps, 4 Mbit/s, a keyframe every 2 s) with a shared mount,
   so one encoder feeds every client, as one camera serving several recorders would, and the
   encoder's CPU (which is the camera's, not the agent's) is paid once.
2. Starts an independent capture of the mount in a process of its own (the reference: the frames
   the camera sent, by the bytes of their slices).
3. Starts the agent's recorders (``Recorders``: one supervised process per camera, all on that
   mount, the index written by this process) and waits until every camera records.
4. Measures, for ``--seconds``, the CPU of the agent: this process (the supervisor threads and the
   index) plus every recorder process, from ``/proc`` (user + system time), as a share of one core.
   The test camera and the reference capture are other processes and are not counted.
5. Stops, and compares each camera's segments with the reference: frames written / frames sent
   from each camera's first frame to its last.

Target: at most 15% of one core for 8 cameras, and 100% of the frames. This is a measurement, not
a test; it exits 1 when a frame is missing.
"""

from __future__ import annotations

import argparse
import logging
import multiprocessing
import os
import sys
import tempfile
import time
from multiprocessing.connection import Connection
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from devkit.testcam import TestCamera  # noqa: E402
from edge_agent.config import AgentConfig  # noqa: E402
from edge_agent.recording.recorder import RecorderState  # noqa: E402
from edge_agent.recording.recorder_supervisor import Recorders  # noqa: E402
from edge_agent.store.segment_index import SegmentIndex  # noqa: E402
from tests.support.frame_reference import (  # noqa: E402
    Comparison,
    ReferenceCapture,
    compare,
    recorded_frames,
)

TARGET_CPU_PERCENT = 15.0
SETTLE_SECONDS = 5.0
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")

log = logging.getLogger("bench.recording")


def _reference(url: str, conn: Connection) -> None:
    """Child process: capture the mount until told to stop, then send the frame digests."""
    capture = ReferenceCapture(url).start()
    conn.send("started")
    conn.recv()
    conn.send((capture.stop(), capture.backward_steps, capture.error))


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a live process (every thread), from /proc."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as handle:
        fields = handle.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def rss_mib(pid: int | str) -> float:
    with open(f"/proc/{pid}/status", encoding="ascii") as handle:
        for line in handle:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def agent_cpu_seconds(recorders: Recorders, camera_ids: list[str]) -> float:
    total = time.process_time()  # this process: supervisor threads, index writes
    for camera_id in camera_ids:
        pid = recorders.pid(camera_id)
        if pid is not None:
            total += process_cpu_seconds(pid)
    return total


def run(args: argparse.Namespace) -> int:
    camera = TestCamera(
        width=args.width,
        height=args.height,
        fps=args.fps,
        gop_seconds=2.0,
        bitrate_kbps=args.bitrate_kbps,
    ).start()
    context = multiprocessing.get_context("spawn")
    ours, theirs = context.Pipe()
    reference = context.Process(target=_reference, args=(camera.url, theirs), daemon=True)
    reference.start()
    ours.recv()
    camera_ids = [f"cam{n:02d}" for n in range(1, args.cameras + 1)]
    with tempfile.TemporaryDirectory(prefix="bench-recording-") as data:
        config = AgentConfig.model_validate(
            {
                "site_id": "bench",
                "data_dir": data,
                "recorder": {"segment_seconds": 10.0},
                "cameras": [{"id": camera_id, "rtsp_url": camera.url} for camera_id in camera_ids],
            }
        )
        index = SegmentIndex(config.index_path)
        recorders = Recorders(config, index)
        recorders.start()
        try:
            deadline = time.monotonic() + 60
            while any(recorders.status(c).state is not RecorderState.RECORDING for c in camera_ids):
                if time.monotonic() > deadline:
                    print("not every camera recorded within 60 s", file=sys.stderr)
                    return 2
                time.sleep(0.2)
            time.sleep(SETTLE_SECONDS)  # the start (interpreters, imports, probes) is not counted
            cpu_before = agent_cpu_seconds(recorders, camera_ids)
            wall_before = time.monotonic()
            time.sleep(args.seconds)
            cpu = agent_cpu_seconds(recorders, camera_ids) - cpu_before
            wall = time.monotonic() - wall_before
            pids = [pid for c in camera_ids if (pid := recorders.pid(c)) is not None]
            memory = (rss_mib("self"), [rss_mib(pid) for pid in pids])
            restarts = sum(recorders.status(c).restarts for c in camera_ids)
        finally:
            recorders.stop_all(timeout=30)
            ours.send("stop")
            frames, backward_steps, error = ours.recv()
            reference.join(10)
            camera.stop()
        results: dict[str, Comparison] = {}
        for camera_id in camera_ids:
            segments = index.all_segments(camera_id)
            results[camera_id] = compare(frames, recorded_frames(config.segments_dir, segments))
        index.close()

    percent = 100 * cpu / wall
    sent = sum(r.sent for r in results.values())
    kept = sum(r.recorded for r in results.values())
    print(
        f"{args.cameras} cameras, {args.width}x{args.height} at {args.fps} fps,"
        f" {args.bitrate_kbps} kbit/s, {wall:.0f} s measured"
    )
    print(
        f"agent CPU: {percent:.1f}% of one core"
        f" ({percent / args.cameras:.2f}% per camera; target <= {TARGET_CPU_PERCENT:g}%)"
    )
    print(f"frames written / frames sent: {kept} / {sent} ({100 * kept / max(sent, 1):.2f}%)")
    main_rss, recorder_rss = memory
    print(
        f"memory: main process {main_rss:.0f} MiB, recorder processes"
        f" {min(recorder_rss):.0f}-{max(recorder_rss):.0f} MiB each (RSS)"
    )
    for camera_id, result in results.items():
        print(f"  {camera_id}: {result.recorded} / {result.sent}, {result.extra} not in reference")
    print(
        f"reference: {len(frames)} frames; its timestamps stepped back {backward_steps} times"
        f" (the server restarts them when clients join){'; error: ' + error if error else ''};"
        f" recorder restarts: {restarts}"
    )
    return 0 if kept == sent else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="measured time")
    parser.add_argument("--cameras", type=int, default=8)
    parser.add_argument("--width", type=int, default=1920)
    parser.add_argument("--height", type=int, default=1080)
    parser.add_argument("--fps", type=int, default=25)
    parser.add_argument("--bitrate-kbps", type=int, default=4000)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
