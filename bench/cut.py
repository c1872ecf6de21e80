"""Benchmark: cut 5 minutes out of 10 minutes of 1080p25 H.264, agent cutter vs ffmpeg concat.

Run from the repository root: ``python3 bench/cut.py [--runs N]``. The first run makes the
footage with ffmpeg (10 s MPEG-TS segments, testsrc2, libx264, ~4 Mbit/s, a keyframe every
2 s, timestamps restarting in every segment like a reconnecting camera) and caches it under
``bench/.cache/``. Each round cuts the same window twice, interleaved so that both tools see the
same machine load:

* the agent: ``plan_cut`` + ``cut_clip`` (stream copy, moov at the front, SHA-256 of the
  clip and of every source segment checked against the index, fsync);
* ffmpeg: ``ffmpeg -f concat -safe 0 -i list -c copy clip.mp4`` over the same segment files
  (moov at the end, no hashing, no fsync).

It prints the median of each and the ratio (target: the cutter at least 3 times faster), and
checks the agent's clip with ffprobe. It also prints what bounds the cutter on this machine, from
the same run: CPU time of each tool (less sensitive to other load than wall time), and the
cutter's serial floor, the remux alone plus the clip's SHA-256 (which can only start once the
muxer has written the moov box at the front, i.e. at the end), and the disk's rate for the clip's
fsync. This is a measurement, not a test.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import resource
import shutil
import statistics
import struct
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from edge_agent.clips.cut_plan import CutPlan, plan_cut
from edge_agent.clips.cutter import CutResult, cut_clip
from edge_agent.clips.remux import remux_with_fallbacks
from edge_agent.clips.segment_chain import check_sources
from edge_agent.recording.segment_probe import segment_from_file, sha256_of
from edge_agent.recording.segments import Segment

CACHE = Path(__file__).resolve().parent / ".cache"
CAMERA = "bench-cam"
RECORDING_START = datetime(2026, 11, 23, 10, 0, 0, tzinfo=UTC)
MINUTES = 10
SEGMENT_SECONDS = 10
WINDOW = (timedelta(minutes=2, seconds=30), timedelta(minutes=7, seconds=30))

FOOTAGE_COMMAND = [
    "ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error",
    "-f", "lavfi", "-i", f"testsrc2=size=1920x1080:rate=25:duration={MINUTES * 60}",
    "-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency",
    "-b:v", "4M", "-maxrate", "4M", "-bufsize", "8M",
    "-g", "50", "-keyint_min", "50", "-sc_threshold", "0", "-pix_fmt", "yuv420p",
    "-f", "segment", "-segment_time", str(SEGMENT_SECONDS), "-segment_format", "mpegts",
    "-reset_timestamps", "1",
    "seg_%05d.ts",
]  # fmt: skip

log = logging.getLogger("bench.cut")


def footage_dir() -> Path:
    """The cached segments, made once; a marker file records the command that made them."""
    directory = CACHE / "h264-1080p25-10min"
    marker = directory / "footage.json"
    if marker.exists() and json.loads(marker.read_text())["command"] == FOOTAGE_COMMAND:
        return directory
    shutil.rmtree(directory, ignore_errors=True)
    work = CACHE / "h264-1080p25-10min.making"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    print(f"making {MINUTES} min of 1080p25 H.264 in {directory} (once; about 2 minutes) ...")
    subprocess.run(FOOTAGE_COMMAND, cwd=work, check=True)
    (work / "footage.json").write_text(json.dumps({"command": FOOTAGE_COMMAND}, indent=1))
    work.rename(directory)
    return directory


def index_rows(directory: Path) -> list[Segment]:
    """Index rows as the recorder would write them: each segment starts where the last ended."""
    rows = []
    start = RECORDING_START
    for path in sorted(directory.glob("seg_*.ts")):
        row = segment_from_file(CAMERA, directory, path, start)
        rows.append(row)
        start = row.end
    return rows


def run_cutter(plan: CutPlan, directory: Path, out: Path) -> tuple[float, float, CutResult]:
    """Wall and CPU seconds (all threads) of one cut."""
    began, cpu = time.perf_counter(), time.process_time()
    result = cut_clip(plan, directory, out)
    return time.perf_counter() - began, time.process_time() - cpu, result


@contextlib.contextmanager
def realtime(wanted: bool) -> Iterator[None]:
    """SCHED_FIFO for this thread and what it starts (ffmpeg, the cutter's threads)."""
    if not wanted:
        yield
        return
    os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(10))
    try:
        yield
    finally:
        os.sched_setscheduler(0, os.SCHED_OTHER, os.sched_param(0))


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_ffmpeg(list_file: Path, out: Path) -> tuple[float, float]:
    """Wall and CPU seconds of one ffmpeg run."""
    command = [
        "ffmpeg", "-nostdin", "-loglevel", "error", "-y",
        "-f", "concat", "-safe", "0", "-i", str(list_file), "-c", "copy", str(out),
    ]  # fmt: skip
    began, cpu = time.perf_counter(), children_cpu()
    subprocess.run(command, check=True)
    return time.perf_counter() - began, children_cpu() - cpu


def remux_alone(plan: CutPlan, directory: Path, out: Path, rt: bool) -> float:
    """The cutter's remux with its source hashing, without the clip's hash and fsync."""
    sources = check_sources(plan, directory)
    out.unlink(missing_ok=True)  # untimed, as before a timed cut
    os.sync()
    with realtime(rt):
        began = time.perf_counter()
        remux_with_fallbacks(plan, sources, out, None).sources.digests()
        return time.perf_counter() - began


def disk_write_seconds(data_from: Path, out: Path, rt: bool) -> float:
    """Writing and fsyncing a copy of the clip: the disk's share of a cut."""
    data = data_from.read_bytes()
    out.unlink(missing_ok=True)
    os.sync()
    with realtime(rt), out.open("wb") as handle:
        began = time.perf_counter()
        handle.write(data)
        os.fsync(handle.fileno())
        seconds = time.perf_counter() - began
    out.unlink()
    return seconds


def top_level_boxes(path: Path) -> list[str]:
    boxes = []
    with path.open("rb") as handle:
        while header := handle.read(8):
            size, kind = struct.unpack(">I4s", header)
            if size == 1:
                size = struct.unpack(">Q", handle.read(8))[0] - 8
            boxes.append(kind.decode("latin-1"))
            handle.seek(size - 8, 1)
    return boxes


def check_clip(result: CutResult, plan: CutPlan) -> list[str]:
    """ffprobe must read the clip as the planned H.264 with the moov box before mdat."""
    command = [
        "ffprobe", "-v", "error", "-select_streams", "v:0", "-count_packets",
        "-show_entries", "stream=codec_name,width,height,nb_read_packets:format=duration",
        "-of", "json", str(result.path),
    ]  # fmt: skip
    probe = subprocess.run(command, capture_output=True, text=True)
    if probe.returncode != 0:
        return [f"ffprobe failed: {probe.stderr.strip()}"]
    info = json.loads(probe.stdout)
    stream = info["streams"][0]
    duration = float(info["format"]["duration"])
    wanted = (plan.requested_end - plan.requested_start).total_seconds()
    problems = []
    if stream["codec_name"] != "h264" or (stream["width"], stream["height"]) != (1920, 1080):
        problems.append(f"unexpected stream {stream}")
    if int(stream["nb_read_packets"]) != result.packets:
        problems.append(f"{stream['nb_read_packets']} packets, cutter wrote {result.packets}")
    if duration + 0.001 < wanted:
        problems.append(f"duration {duration:.3f} s is shorter than the window {wanted:.3f} s")
    boxes = top_level_boxes(result.path)
    if boxes.index("moov") > boxes.index("mdat"):
        problems.append(f"moov after mdat: {boxes}")
    return problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7, help="timed runs of each tool")
    parser.add_argument(
        "--realtime",
        action="store_true",
        help="run each timed cut (both tools) at SCHED_FIFO priority, root only: other load is"
        " kept off the CPU, not off the disk; a second at a time, so other work barely notices",
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")

    directory = footage_dir()
    rows = index_rows(directory)
    plan = plan_cut(CAMERA, rows, RECORDING_START + WINDOW[0], RECORDING_START + WINDOW[1])
    out_dir = CACHE / "out"
    out_dir.mkdir(parents=True, exist_ok=True)
    list_file = out_dir / "concat.txt"
    list_file.write_text(
        "".join(f"file '{(directory / part.segment.path).resolve()}'\n" for part in plan.parts)
    )
    source_bytes = sum(part.segment.bytes for part in plan.parts)
    print(
        f"window {WINDOW[0]} to {WINDOW[1]} of {len(rows)} segments:"
        f" {len(plan.parts)} segments, {source_bytes / 1e6:.0f} MB"
    )

    agent_out = out_dir / "agent.mp4"
    ffmpeg_out = out_dir / "ffmpeg.mp4"
    # One warm-up of each (page cache, imports), then interleaved timed runs. Every run
    # writes a new file, as a real cut does, and starts with no dirty pages left to write
    # back from the run before (os.sync, untimed): the cutter fsyncs its clip, ffmpeg does not.
    agent_times: list[float] = []
    ffmpeg_times: list[float] = []
    agent_cpu: list[float] = []
    ffmpeg_cpu: list[float] = []
    result: CutResult | None = None
    for run in range(args.runs + 1):
        for out in (agent_out, ffmpeg_out):
            out.unlink(missing_ok=True)
        os.sync()
        with realtime(args.realtime):
            ffmpeg_seconds, ffmpeg_cpu_seconds = run_ffmpeg(list_file, ffmpeg_out)
        os.sync()
        with realtime(args.realtime):
            agent_seconds, agent_cpu_seconds, result = run_cutter(plan, directory, agent_out)
        if run:
            ffmpeg_times.append(ffmpeg_seconds)
            agent_times.append(agent_seconds)
            ffmpeg_cpu.append(ffmpeg_cpu_seconds)
            agent_cpu.append(agent_cpu_seconds)
    assert result is not None

    problems = check_clip(result, plan)
    ffmpeg_out.unlink(missing_ok=True)
    # For scale: SHA-256 of the sources and of the clip on one core, which the cutter must do
    # (evidence) and ffmpeg does not.
    with realtime(args.realtime):
        began = time.perf_counter()
        for part in plan.parts:
            sha256_of(directory / part.segment.path)
        clip_began = time.perf_counter()
        sha256_of(result.path)
        clip_hashing = time.perf_counter() - clip_began
        hashing = time.perf_counter() - began
    remux_out = out_dir / "remux-alone.mp4"
    remux = statistics.median(
        remux_alone(plan, directory, remux_out, args.realtime) for _ in range(3)
    )
    remux_out.unlink(missing_ok=True)
    disk = statistics.median(
        disk_write_seconds(result.path, out_dir / "disk.bin", args.realtime) for _ in range(3)
    )
    agent = statistics.median(agent_times)
    ffmpeg = statistics.median(ffmpeg_times)
    print(
        f"agent cutter:  median {agent:.3f} s over {len(agent_times)} runs"
        f" (min {min(agent_times):.3f}, max {max(agent_times):.3f});"
        f" {result.packets} packets, {result.bytes / 1e6:.0f} MB, {result.duration_seconds:.1f} s"
    )
    print(
        f"ffmpeg concat: median {ffmpeg:.3f} s over {len(ffmpeg_times)} runs"
        f" (min {min(ffmpeg_times):.3f}, max {max(ffmpeg_times):.3f})"
    )
    print(
        f"of the cutter's work, SHA-256 of {source_bytes / 1e6:.0f} MB of sources and"
        f" {result.bytes / 1e6:.0f} MB of clip alone takes {hashing:.3f} s on one core"
    )
    print(
        f"CPU time (all threads): cutter {statistics.median(agent_cpu):.3f} s,"
        f" ffmpeg {statistics.median(ffmpeg_cpu):.3f} s"
        f" ({statistics.median(ffmpeg_cpu) / statistics.median(agent_cpu):.1f}x)"
    )
    floor = remux + clip_hashing
    print(
        f"cutter's serial floor: remux with the sources' hashing {remux:.3f} s, then the clip's"
        f" SHA-256 {clip_hashing:.3f} s = {floor:.3f} s, so at most {ffmpeg / floor:.1f}x here;"
        f" the disk writes and fsyncs the clip in {disk:.3f} s"
        f" ({result.bytes / disk / 1e6:.0f} MB/s), overlapped with both"
    )
    print(f"cutter is {ffmpeg / agent:.1f} times faster than ffmpeg concat (target >= 3)")
    print(f"load average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    if problems:
        for problem in problems:
            print(f"CLIP CHECK FAILED: {problem}")
        return 1
    print(f"clip check: ffprobe reads {result.path} as h264 1920x1080, moov before mdat")
    return 0


if __name__ == "__main__":
    sys.exit(main())
