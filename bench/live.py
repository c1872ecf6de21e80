"""Live view benchmark: forwarding the camera's H.264 against aiortc's decode + re-encode.

Run from the repository root: ``python3 bench/live.py`` (about two minutes). It needs GStreamer's
RTSP server for the test camera (see ``devkit/testcam.py``).

What it measures, in one run, against a 1920x1080 test camera:

1. Time to first frame: from the viewer creating its offer to its first decoded frame, through
   ``LiveService`` called directly (no hub, no MQTT). "cold" opens the camera connection for the
   viewer; "warm" joins a camera another viewer already watches. The same for the baseline.
2. The agent's CPU, as a share of one core, while 1 and then 4 viewers watch, once with the
   forwarding track (``LiveService``) and once with aiortc's own path: ``MediaPlayer(url,
   decode=True)`` and ``MediaRelay``, every viewer's sender re-encoding H.264 with libx264.

The agent side runs in a child process; the viewers (aiortc clients that decode every frame, as a
browser would) run in this process, so their decoding is not counted. CPU is the child's
``time.process_time()`` (every thread: the demux thread, aiortc's encoder threads) over the window.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import statistics
import sys
import time
import uuid
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import av  # noqa: E402
from aiortc import RTCPeerConnection, RTCSessionDescription  # noqa: E402
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack  # noqa: E402

TARGET_FIRST_FRAME_S = 0.5
TARGET_CPU_ONE = 10.0
TARGET_CPU_FOUR = 15.0
SITE = "bench"
CAMERA = "cam1080"

# ---------------------------------------------------------------------------------------------
# Agent side (child process). Commands arrive on a pipe as tuples; every command gets one reply.


class _Agent:
    async def offer(self, session_id: str, sdp: str) -> str:
        raise NotImplementedError

    async def close(self, session_id: str) -> None:
        raise NotImplementedError

    async def close_all(self) -> None:
        raise NotImplementedError

    def open_seconds(self) -> float | None:
        return None


class _ForwardingAgent(_Agent):
    def __init__(self, url: str) -> None:
        from edge_agent.config import AgentConfig, CameraConfig
        from edge_agent.live.service import LiveService

        config = AgentConfig(
            site_id=SITE,
            data_dir=Path("/tmp/cctv-bench-live"),
            cameras=[CameraConfig(id=CAMERA, rtsp_url=url)],
        )
        self.service = LiveService(config)
        self._open_seconds: float | None = None

    async def offer(self, session_id: str, sdp: str) -> str:
        from cctv_common.wire.payloads import LiveOffer

        answer = await self.service.handle_offer(
            LiveOffer(session_id=session_id, camera_id=CAMERA, sdp=sdp)
        )
        source = self.service.source(CAMERA)
        self._open_seconds = source.open_seconds if source is not None else None
        return answer

    async def close(self, session_id: str) -> None:
        await self.service.close(session_id)

    async def close_all(self) -> None:
        await self.service.close_all()

    def open_seconds(self) -> float | None:
        return self._open_seconds


class _ReencodingAgent(_Agent):
    """aiortc's documented way: one MediaPlayer (decoding) shared through a MediaRelay; every
    viewer's sender encodes the decoded frames again (H.264, as the forwarding path sends)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.player: Any = None
        self.relay: Any = None
        self.pcs: dict[str, RTCPeerConnection] = {}

    async def offer(self, session_id: str, sdp: str) -> str:
        from aiortc.contrib.media import MediaPlayer, MediaRelay

        from edge_agent.live.track import prefer_h264

        if self.player is None:
            self.player = MediaPlayer(
                self.url, options={"rtsp_transport": "tcp"}, timeout=10, decode=True
            )
            self.relay = MediaRelay()
        pc = RTCPeerConnection()
        self.pcs[session_id] = pc
        transceiver = pc.addTransceiver(self.relay.subscribe(self.player.video), "sendonly")
        prefer_h264(transceiver)
        await pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="offer"))
        await pc.setLocalDescription(await pc.createAnswer())
        return str(pc.localDescription.sdp)

    async def close(self, session_id: str) -> None:
        pc = self.pcs.pop(session_id, None)
        if pc is not None:
            await pc.close()
        if not self.pcs and self.player is not None:
            self.player.video.stop()
            self.player = None
            self.relay = None

    async def close_all(self) -> None:
        for session_id in list(self.pcs):
            await self.close(session_id)


def agent_main(conn: Connection, mode: str, url: str) -> None:
    asyncio.run(_agent_loop(conn, mode, url))


async def _agent_loop(conn: Connection, mode: str, url: str) -> None:
    agent: _Agent = _ForwardingAgent(url) if mode == "forward" else _ReencodingAgent(url)
    loop = asyncio.get_running_loop()
    cpu_mark = (0.0, 0.0)
    while True:
        command = await loop.run_in_executor(None, conn.recv)
        name = command[0]
        reply: Any = None
        if name == "offer":
            reply = await agent.offer(command[1], command[2])
        elif name == "close":
            await agent.close(command[1])
        elif name == "close_all":
            await agent.close_all()
        elif name == "open_seconds":
            reply = agent.open_seconds()
        elif name == "cpu_start":
            cpu_mark = (time.process_time(), time.monotonic())
        elif name == "cpu_stop":
            reply = (time.process_time() - cpu_mark[0], time.monotonic() - cpu_mark[1])
        elif name == "quit":
            await agent.close_all()
            conn.send(None)
            return
        conn.send(reply)


class AgentProcess:
    def __init__(self, mode: str, url: str) -> None:
        context = multiprocessing.get_context("spawn")
        self._conn, child = context.Pipe()
        self._process = context.Process(
            target=agent_main, args=(child, mode, url), name=f"agent-{mode}", daemon=True
        )
        self._process.start()
        self._lock = asyncio.Lock()

    async def call(self, *command: Any) -> Any:
        loop = asyncio.get_running_loop()
        async with self._lock:
            self._conn.send(command)
            return await loop.run_in_executor(None, self._conn.recv)

    async def stop(self) -> None:
        await self.call("quit")
        self._process.join(10)


# ---------------------------------------------------------------------------------------------
# Viewer side (this process).


@dataclass
class Viewer:
    pc: RTCPeerConnection = field(default_factory=RTCPeerConnection)
    session_id: str = field(default_factory=lambda: uuid.uuid4().hex[:16])
    frames: int = 0
    size: tuple[int, int] = (0, 0)
    first_frame: asyncio.Event = field(default_factory=asyncio.Event)
    reader: asyncio.Task[None] | None = None

    async def connect(self, agent: AgentProcess) -> float:
        """Offer, answer, first decoded frame; returns the seconds that took."""
        started = time.monotonic()
        self.pc.addTransceiver("video", direction="recvonly")
        track_ready: asyncio.Future[MediaStreamTrack] = asyncio.get_running_loop().create_future()
        self.pc.on("track", track_ready.set_result)
        await self.pc.setLocalDescription(await self.pc.createOffer())
        answer = await agent.call("offer", self.session_id, self.pc.localDescription.sdp)
        await self.pc.setRemoteDescription(RTCSessionDescription(sdp=answer, type="answer"))
        self.reader = asyncio.ensure_future(self._read(await track_ready))
        await asyncio.wait_for(self.first_frame.wait(), 30)
        return time.monotonic() - started

    async def _read(self, track: MediaStreamTrack) -> None:
        try:
            while True:
                frame = await track.recv()
                assert isinstance(frame, av.VideoFrame)
                self.size = (frame.width, frame.height)
                self.frames += 1
                self.first_frame.set()
        except MediaStreamError:
            pass

    async def close(self, agent: AgentProcess) -> None:
        await agent.call("close", self.session_id)
        await self.pc.close()
        if self.reader is not None:
            self.reader.cancel()


@dataclass
class CpuResult:
    viewers: int
    percent: float
    fps: list[float]
    sizes: set[tuple[int, int]]


async def time_to_first_frame(agent: AgentProcess, runs: int) -> tuple[list[float], list[float]]:
    """Cold and warm offer -> first decoded frame, ``runs`` of each."""
    cold: list[float] = []
    warm: list[float] = []
    for _ in range(runs):
        first = Viewer()
        cold.append(await first.connect(agent))
        await asyncio.sleep(0.6)  # join mid-GOP
        second = Viewer()
        warm.append(await second.connect(agent))
        await first.close(agent)
        await second.close(agent)
        await asyncio.sleep(0.3)
    return cold, warm


async def cpu_with_viewers(agent: AgentProcess, count: int, seconds: float) -> CpuResult:
    viewers = [Viewer() for _ in range(count)]
    for viewer in viewers:
        await viewer.connect(agent)
    await asyncio.sleep(2.0)  # let encoders and bitrates settle
    before = [v.frames for v in viewers]
    await agent.call("cpu_start")
    await asyncio.sleep(seconds)
    cpu, wall = await agent.call("cpu_stop")
    fps = [(v.frames - b) / wall for v, b in zip(viewers, before, strict=True)]
    sizes = {v.size for v in viewers}
    for viewer in viewers:
        await viewer.close(agent)
    await agent.call("close_all")
    return CpuResult(count, 100.0 * cpu / wall, fps, sizes)


@dataclass
class ModeResult:
    cold: list[float]
    warm: list[float]
    open_seconds: float | None
    cpu: dict[int, CpuResult]


async def measure(mode: str, url: str, runs: int, seconds: float) -> ModeResult:
    agent = AgentProcess(mode, url)
    try:
        cold, warm = await time_to_first_frame(agent, runs)
        open_seconds = await agent.call("open_seconds")
        cpu = {n: await cpu_with_viewers(agent, n, seconds) for n in (1, 4)}
    finally:
        await agent.stop()
    return ModeResult(cold, warm, open_seconds, cpu)


def _median(values: list[float]) -> str:
    each = " ".join(f"{v:.2f}" for v in values)
    return f"median {statistics.median(values):.3f} s, max {max(values):.3f} s  [{each}]"


def _verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"


def report(args: argparse.Namespace, forward: ModeResult, baseline: ModeResult | None) -> None:
    print()
    print(
        f"Live view bench: test camera {args.width}x{args.height} {args.fps} fps, "
        f"{args.bitrate} kbit/s H.264, keyframe every {args.gop:g} s; agent in a child process; "
        f"{multiprocessing.cpu_count()} CPU(s)"
    )
    print()
    print("Time to first frame (viewer's offer -> first decoded frame, LiveService directly):")
    print(f"  forwarding, cold (opens the camera):  {_median(forward.cold)}")
    if forward.open_seconds is not None:
        print(f"    of which the camera's RTSP open (last cold run): {forward.open_seconds:.3f} s")
    print(f"  forwarding, warm (camera already open): {_median(forward.warm)}")
    if baseline is not None:
        print(f"  re-encoding, cold:                    {_median(baseline.cold)}")
        print(f"  re-encoding, warm:                    {_median(baseline.warm)}")
    print()
    print(f"Agent CPU over {args.seconds:g} s, % of one core (frames/s each viewer decoded):")
    print(f"  {'viewers':<9}{'forwarding':>22}{'re-encoding':>24}{'ratio':>9}")
    for n in (1, 4):
        f = forward.cpu[n]
        line = f"  {n:<9}{f.percent:>9.1f}%  ({min(f.fps):4.1f}-{max(f.fps):4.1f} fps)"
        if baseline is not None:
            b = baseline.cpu[n]
            line += f"{b.percent:>11.1f}%  ({min(b.fps):4.1f}-{max(b.fps):4.1f} fps)"
            line += f"{b.percent / max(f.percent, 0.01):>8.1f}x"
        print(line)
    sizes = {s for r in forward.cpu.values() for s in r.sizes}
    print(f"  frame size the viewers decoded (forwarding): {sorted(sizes)}")
    print()
    first = statistics.median(forward.cold)
    print("Targets:")
    print(
        f"  first frame <= {TARGET_FIRST_FRAME_S} s (cold, median):    "
        f"{first:.3f} s  {_verdict(first <= TARGET_FIRST_FRAME_S)}"
    )
    one, four = forward.cpu[1].percent, forward.cpu[4].percent
    print(
        f"  <= {TARGET_CPU_ONE:g}% of a core, 1 viewer:           "
        f"{one:.1f}%  {_verdict(one <= TARGET_CPU_ONE)}"
    )
    print(
        f"  <= {TARGET_CPU_FOUR:g}% of a core, 4 viewers:          "
        f"{four:.1f}%  {_verdict(four <= TARGET_CPU_FOUR)}"
    )


async def main_async(args: argparse.Namespace) -> None:
    from devkit.testcam import TestCamera

    with TestCamera(
        width=args.width,
        height=args.height,
        fps=args.fps,
        gop_seconds=args.gop,
        bitrate_kbps=args.bitrate,
    ) as camera:
        print(f"camera {camera.url}: measuring forwarding ...", flush=True)
        forward = await measure("forward", camera.url, args.runs, args.seconds)
        baseline = None
        if not args.skip_baseline:
            print("measuring aiortc decode + re-encode (baseline) ...", flush=True)
            baseline = await measure("reencode", camera.url, max(1, args.runs // 2), args.seconds)
    report(args, forward, baseline)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--width", type=int, default=1920)
    parser.add_argument("--height", type=int, default=1080)
    parser.add_argument("--fps", type=int, default=25)
    parser.add_argument("--gop", type=float, default=1.0, help="keyframe interval, seconds")
    parser.add_argument("--bitrate", type=int, default=4000, help="camera bitrate, kbit/s")
    parser.add_argument("--seconds", type=float, default=10.0, help="CPU window")
    parser.add_argument("--runs", type=int, default=5, help="first-frame runs")
    parser.add_argument("--skip-baseline", action="store_true")
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
