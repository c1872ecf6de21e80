"""Where the loopback MQTT upload's time goes: CPU per process and thread, and py-spy profiles.

Run from the repository root: ``python3 bench/transfer_profile.py [--runs 3] [--mib 200]
[--py-spy DIR]``. It sets up exactly what ``bench/transfer.py`` measures (real Mosquitto, the
real hub process, the agent's uplink + runner + outbox in this process), uploads the clip
``--runs`` times, and around each upload reads the CPU time (user + system, from ``/proc``) of
every thread of this process (the agent side), of the hub and of Mosquitto. It prints CPU seconds
per 100 MB by process and thread next to the wall time, so a side that is busy the whole upload
(the bottleneck) stands out.

With ``--py-spy DIR`` (``pip install py-spy``; needs root or ptrace rights) it also samples the
agent side and the hub with ``py-spy record --nonblocking`` at 97 Hz during the uploads only, and
prints the functions with the most samples, by own time and by time inside (a function and what
it calls). The raw stacks stay in ``DIR`` for ``flamegraph.pl`` or speedscope. Sampling slows the
upload down a little; compare CPU shares, not the wall times of a sampled run.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import hashlib
import json
import logging
import os
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Final

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from transfer import CAMERA_ID, SITE_ID, AgentSide, cached_file, check_stored

from cctv_common.wire.topics import AckTopic, Topic
from devkit.local_broker import HUB_USER, MosquittoBroker
from devkit.site_stack import SiteStack
from edge_agent.uplink.upload import read_chunk
from hub.services.ingest.clip_probe import probe_clip
from hub.services.ingest.staging import open_staging, sync_and_hash, verify_and_write

TICKS: Final = os.sysconf("SC_CLK_TCK")
TOP: Final = 25


def say(message: str) -> None:
    print(f"profile: {message}", flush=True)


def thread_cpu(pid: int) -> dict[str, float]:
    """CPU seconds (user + system) of each thread of ``pid``, summed by thread name.

    Python does not name its OS threads, so names come from ``threading`` for this process
    (paho's thread, asyncio's workers) and are the kernel's ("python") for another one.
    """
    names = {t.native_id: t.name for t in threading.enumerate()} if pid == os.getpid() else {}
    totals: dict[str, float] = collections.defaultdict(float)
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            comm = (task / "comm").read_text().strip()
            fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # the thread ended
        name = names.get(int(task.name), comm)
        # Worker threads are numbered (asyncio_3, Thread-4): group them.
        name = name.split(" ")[0].rstrip("0123456789").rstrip("_-") or name
        totals[name] += (int(fields[11]) + int(fields[12])) / TICKS
    return dict(totals)


class Timeline:
    """When the agent side published the offer and each chunk, their PUBACKs, and each ack.

    Recorded by wrapping the uplink's ``publish_nowait`` and the ack callback of this bench's
    ``AgentSide`` (the upload code itself is untouched)."""

    def __init__(self, agent: AgentSide) -> None:
        self.events: list[tuple[float, str]] = []
        uplink = agent.uplink
        publish = uplink.publish_nowait
        on_message = agent._on_message

        def timed_publish(topic: str, payload: bytes, *, retain: bool = False) -> Any:
            kind = "chunk" if "/chunk/" in topic else "offer" if topic.endswith("/manifest") else ""
            future = publish(topic, payload, retain=retain)
            if kind:
                self.events.append((time.perf_counter(), f"{kind} sent"))
                future.add_done_callback(
                    lambda _: self.events.append((time.perf_counter(), f"{kind} puback"))
                )
            return future

        def timed_message(topic: Topic, payload: bytes, retained: bool) -> None:
            if isinstance(topic, AckTopic):
                state = json.loads(json.loads(payload)["body"])["state"]
                self.events.append((time.perf_counter(), f"ack {state}"))
            on_message(topic, payload, retained)

        uplink.publish_nowait = timed_publish  # type: ignore[method-assign]
        agent.uplink.set_handlers(on_message=timed_message, on_connect=agent._on_connect)

    def mark(self, what: str) -> None:
        self.events.append((time.perf_counter(), what))

    def phases(self) -> dict[str, float]:
        """Seconds: start to first ack (the hub took the offer), the chunk phase, the tail."""
        first: dict[str, float] = {}
        last: dict[str, float] = {}
        for moment, what in self.events:
            first.setdefault(what, moment)
            last[what] = moment
        start, done = first["start"], last["stored"]
        first_ack = first.get("ack receiving", first["ack stored"])
        return {
            "start -> offer sent": first["offer sent"] - start,
            "offer sent -> the hub's answer (first ack)": first_ack - first["offer sent"],
            "the hub's answer -> first chunk sent": first["chunk sent"] - first_ack,
            "first chunk sent -> last chunk PUBACK": last["chunk puback"] - first["chunk sent"],
            "last chunk PUBACK -> stored ack": last["ack stored"] - last["chunk puback"],
            "stored ack -> outbox stored": done - last["ack stored"],
            "total": done - start,
            "chunk phase: gaps ended by a hub ack (the window full)": self.window_stalls(),
        }

    def window_stalls(self) -> float:
        """Seconds between chunk sends where the next send followed a hub ack: the agent had
        filled its window and waited for the hub (the other gaps are the agent's own pace)."""
        stalled = 0.0
        previous_send: float | None = None
        after_ack = False
        for moment, what in self.events:
            if what == "ack receiving":
                after_ack = True
            elif what == "chunk sent":
                if previous_send is not None and after_ack:
                    stalled += moment - previous_send
                previous_send, after_ack = moment, False
        return stalled


def tail_costs(source: Path, folder: Path) -> dict[str, float]:
    """The hub's per-chunk and completion steps on the clip, timed one by one (seconds).

    The hub's own functions on a staging file written as the hub writes one (``open_staging``,
    ``verify_and_write`` per 1 MiB chunk, no fsync), then what completion does: ``sync_and_hash``
    (fsync, then read back and hash the whole file) and ``probe_clip``. Plus the agent's
    ``read_chunk`` per chunk. Run after the uploads, on the same machine, so the figures compare.
    """
    chunk = 1024 * 1024
    size = source.stat().st_size
    data = source.read_bytes()
    hashes = [hashlib.sha256(data[i : i + chunk]).hexdigest() for i in range(0, size, chunk)]
    staging = folder / "staging.bin"
    costs: dict[str, float] = {}
    started = time.perf_counter()
    for index in range(len(hashes)):
        read_chunk(source, index, chunk)
    costs["agent: read_chunk, every chunk"] = time.perf_counter() - started
    started = time.perf_counter()
    for index in range(len(hashes)):
        hashlib.sha256(data[index * chunk : (index + 1) * chunk]).digest()
    costs["SHA-256 of every chunk (no I/O)"] = time.perf_counter() - started
    fd = open_staging(staging, size, True)
    try:
        started = time.perf_counter()
        for index, expected in enumerate(hashes):
            verify_and_write(fd, data[index * chunk : (index + 1) * chunk], index * chunk, expected)
        costs["hub: verify_and_write, every chunk"] = time.perf_counter() - started
        started = time.perf_counter()
        os.fsync(fd)
        costs["hub completion: fsync of the staging file"] = time.perf_counter() - started
        started = time.perf_counter()
        sync_and_hash(fd)
        costs["hub completion: read back + SHA-256 (already synced)"] = (
            time.perf_counter() - started
        )
    finally:
        os.close(fd)
    started = time.perf_counter()
    probe_clip(staging, "h264", 1920, 1080)
    costs["hub completion: probe_clip"] = time.perf_counter() - started
    staging.unlink()
    return costs


def cpu_delta(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    return {name: after.get(name, 0.0) - before.get(name, 0.0) for name in after}


def read_stacks(paths: list[Path]) -> list[tuple[list[str], int]]:
    stacks: list[tuple[list[str], int]] = []
    for path in paths:
        for line in path.read_text(errors="replace").splitlines():
            frames, _, count = line.rpartition(" ")
            if frames and count.isdigit():
                stacks.append((frames.split(";"), int(count)))
    return stacks


def summarise_stacks(label: str, path: Path) -> None:
    stacks = read_stacks(sorted(path.parent.glob(path.name)))
    total = sum(count for _, count in stacks)
    if not total:
        say(f"{label}: no samples in {path}")
        return
    own: collections.Counter[str] = collections.Counter()
    inside: collections.Counter[str] = collections.Counter()
    by_thread: collections.Counter[str] = collections.Counter()
    for frames, count in stacks:
        python = [f for f in frames if not f.startswith(("process ", "thread "))]
        threads = [f for f in frames if f.startswith("thread ")]
        by_thread[threads[0].split(": ", 1)[-1] if threads else "?"] += count
        if python:
            own[python[-1]] += count
        for frame in set(python):
            inside[frame] += count
    say(f"{label}: {total} samples (active threads only) in {path}")
    for name, count in by_thread.most_common(8):
        say(f"  thread {name}: {100 * count / total:.1f}%")
    say("  most samples, own time:")
    for frame, count in own.most_common(TOP):
        say(f"    {100 * count / total:5.1f}%  {frame}")
    say("  most samples, time inside (with what it calls):")
    for frame, count in inside.most_common(TOP + 15):
        say(f"    {100 * count / total:5.1f}%  {frame}")


def start_py_spy(pid: int, out: Path, gil: bool) -> subprocess.Popen[bytes]:
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    return subprocess.Popen(
        [
            *(py_spy, "record", "--pid", str(pid), "--nonblocking", "--threads"),
            *("--rate", "97", "--format", "raw", "-o", str(out)),
            *(["--gil"] if gil else []),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def stop_py_spy(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGINT)  # py-spy writes its file on Ctrl-C
    try:
        process.wait(60)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


async def run(
    runs: int, mib: int, spy_dir: Path | None, gil: bool, chunk_bytes: int | None = None
) -> int:
    source = cached_file(mib)
    size = source.stat().st_size
    work = Path(tempfile.mkdtemp(prefix="cctv-transfer-profile-"))
    totals: dict[str, dict[str, float]] = {}
    walls: list[float] = []
    phases: dict[str, list[float]] = {}
    try:
        broker = MosquittoBroker(
            work / "broker",
            {HUB_USER: secrets.token_urlsafe(18), SITE_ID: secrets.token_urlsafe(18)},
        )
        broker.start()
        stack = SiteStack(
            work / "site", broker, "rtsp://127.0.0.1:9/none", site_id=SITE_ID, hub_id="bench"
        )
        agent: AgentSide | None = None
        spies: list[subprocess.Popen[bytes]] = []
        try:
            await asyncio.to_thread(stack.start_hub)
            agent = AgentSide(stack, chunk_bytes=chunk_bytes)
            timeline = Timeline(agent)
            await agent.uplink.start()
            await asyncio.wait_for(agent.uplink.wait_connected(), 30)
            while stack.api.camera(SITE_ID, CAMERA_ID) is None:  # noqa: ASYNC110
                await asyncio.sleep(0.2)
            assert stack.hub.process is not None and broker.pid is not None
            pids = {"agent": os.getpid(), "hub": stack.hub.process.pid, "mosquitto": broker.pid}
            if spy_dir is not None:
                await asyncio.to_thread(spy_dir.mkdir, parents=True, exist_ok=True)
            for number in range(1, runs + 1):
                # One clip at a time: the runner resumes every clip in the outbox at start.
                job_id, clip_id, sha256 = await asyncio.to_thread(agent.prepare, source)
                if spy_dir is not None:  # sampled during the upload only
                    spies = [
                        start_py_spy(pid, spy_dir / f"{side}-{number}.txt", gil)
                        for side, pid in pids.items()
                        if side != "mosquitto"
                    ]
                    await asyncio.sleep(1.0)  # py-spy attaches
                before = {side: thread_cpu(pid) for side, pid in pids.items()}
                timeline.events.clear()
                timeline.mark("start")
                seconds = await agent.upload(clip_id)
                timeline.mark("stored")
                after = {side: thread_cpu(pid) for side, pid in pids.items()}
                for phase, took in timeline.phases().items():
                    phases.setdefault(phase, []).append(took)
                chunks = sum(1 for _, what in timeline.events if what == "chunk sent")
                acks = sum(1 for _, what in timeline.events if what.startswith("ack"))
                walls.append(seconds)
                for spy in spies:
                    await asyncio.to_thread(stop_py_spy, spy)
                spies = []
                await asyncio.to_thread(check_stored, stack, job_id, sha256)
                for side in pids:
                    for name, cpu in cpu_delta(before[side], after[side]).items():
                        totals.setdefault(side, {}).setdefault(name, 0.0)
                        totals[side][name] += cpu
                say(
                    f"run {number}: {size / seconds / 1e6:.1f} MB/s ({seconds:.2f} s;"
                    f" {chunks} chunks, {acks} acks)"
                )
        finally:
            for spy in spies:
                stop_py_spy(spy)
            if agent is not None:
                await agent.uplink.stop()
                agent.outbox.close()
            stack.close()
            broker.stop()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    costs = await asyncio.to_thread(tail_costs, source, Path(tempfile.mkdtemp(prefix="cctv-tail-")))
    say(f"the same steps one by one on the {size / 1e6:.0f} MB clip (seconds):")
    for step, took in costs.items():
        say(f"  {step}: {took:.3f}")
    say("where an upload's wall time goes (median of the runs, seconds):")
    for phase, times in phases.items():
        say(f"  {phase}: {statistics.median(times):.3f}")
    per = 100e6 / (size * runs)
    wall = sum(walls) * per
    say(f"wall time per 100 MB: {wall:.2f} s; CPU seconds per 100 MB (share of the wall time):")
    for side, threads in totals.items():
        side_total = sum(threads.values()) * per
        say(f"  {side}: {side_total:.2f} s ({100 * side_total / wall:.0f}%)")
        for name, cpu in sorted(threads.items(), key=lambda item: -item[1]):
            if cpu * per >= 0.005:
                say(f"      {name}: {cpu * per:.2f} s ({100 * cpu * per / wall:.0f}%)")
    if spy_dir is not None:
        summarise_stacks("agent side (this process)", spy_dir / "agent-*.txt")
        summarise_stacks("hub", spy_dir / "hub-*.txt")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--mib", type=int, default=200, help="clip size in MiB")
    parser.add_argument("--py-spy", type=Path, default=None, help="also sample; raw stacks here")
    parser.add_argument(
        "--gil", action="store_true", help="sample only threads holding the GIL (py-spy --gil)"
    )
    parser.add_argument(
        "--chunk-kib", type=int, default=None, help="the agent's [uplink] chunk_bytes, in KiB"
    )
    args = parser.parse_args(argv)
    chunk_bytes = None if args.chunk_kib is None else args.chunk_kib * 1024
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    return asyncio.run(run(args.runs, args.mib, args.py_spy, args.gil, chunk_bytes))


if __name__ == "__main__":
    sys.exit(main())
