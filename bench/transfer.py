"""Benchmark: a 100 MiB clip agent -> hub through Mosquitto, vs a plain streaming HTTP upload.

Run from the repository root: ``python3 bench/transfer.py [--runs N] [--mib 100]``. The file (a
real 1080p H.264 MP4 from ffmpeg, padded to size with an MP4 ``free`` box of random bytes, since the
hub checks that a clip decodes as its declared codec before storing it) is made once and cached
under ``bench/.cache/``. Each round, interleaved so both see the
same machine load:

* **MQTT**: a real Mosquitto (``MosquittoBroker``), the real hub as its own process
  (``hub.cli run``, site key registered in its config), and in this process the agent's real
  upload path: ``Uplink`` (paho, MQTT 5, QoS 1) + ``JobRunner`` + ``Outbox``. The job is
  dispatched through the hub's API (so the hub knows it); the clip (the cached file, hard-linked
  into the outbox) gets a real signed manifest and is recorded in the outbox as a freshly cut clip
  would be. The clock starts when the runner starts (it offers at once) and stops when the outbox
  says ``stored``: the hub has checked every chunk, the whole SHA-256 and the signature, and moved
  the clip into its evidence store. The stored clip is then checked through the API (not timed).
* **HTTP**: an ``httpx`` streaming POST of the same file (1 MiB blocks) to a uvicorn endpoint in
  its own process that writes it to disk and fsyncs.

It prints the median throughput of each (MB/s, 10^6 bytes) and the ratio; the target is MQTT at
least 0.8 of HTTP. This is a measurement, not a test.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import multiprocessing
import os
import secrets
import shutil
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx
import uvicorn

from cctv_common import __version__
from cctv_common.evidence.manifest import CameraIdentity, Manifest, Software, Window
from cctv_common.evidence.signing import key_id, load_or_create_private_key, sign
from cctv_common.evidence.verify import CLIP_NAME, MANIFEST_NAME, SIGNATURE_NAME
from cctv_common.wire.payloads import CameraStatus, Job, SiteStatus
from cctv_common.wire.topics import Subscription, Topic, agent_acks_filter
from devkit.local_broker import HUB_USER, MosquittoBroker, free_loopback_port
from devkit.site_stack import SiteStack
from edge_agent.agent import hub_verifier
from edge_agent.config import load_config
from edge_agent.jobs.runner import JobRunner
from edge_agent.store.outbox import NewClip, Outbox
from edge_agent.store.segment_index import SegmentIndex
from edge_agent.uplink.connection import Uplink
from edge_agent.uplink.upload import chunk_hashes
from edge_agent.uplink.window_rules import LinkEstimate, chunk_size_for

CACHE: Final = Path(__file__).resolve().parent / ".cache"
SITE_ID: Final = "bench-site"
CAMERA_ID: Final = "cam-1"
TARGET_RATIO: Final = 0.8
HTTP_BLOCK: Final = 1024 * 1024
# Safety limit for one transfer; the bench never judges by it.
TRANSFER_TIMEOUT_SECONDS: Final = 600.0


def say(message: str) -> None:
    print(f"transfer: {message}", flush=True)


def cached_file(mib: int) -> Path:
    path = CACHE / f"transfer-{mib}MiB.mp4"
    size = mib * 1024 * 1024
    if path.exists() and path.stat().st_size == size:
        return path
    CACHE.mkdir(parents=True, exist_ok=True)
    part = path.with_suffix(".part")
    subprocess.run(
        [
            "ffmpeg",
            "-hide_banner",
            "-loglevel",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=1920x1080:rate=25:duration=2",
            "-c:v",
            "libx264",
            "-pix_fmt",
            "yuv420p",
            "-movflags",
            "+faststart",
            "-f",
            "mp4",
            str(part),
        ],
        check=True,
    )
    pad = size - part.stat().st_size
    if pad < 8:
        raise RuntimeError(f"--mib {mib} is smaller than the 2 s video ffmpeg made")
    with part.open("ab") as handle:
        handle.write(struct.pack(">I", pad) + b"free")
        for start in range(0, pad - 8, 1024 * 1024):
            handle.write(os.urandom(min(1024 * 1024, pad - 8 - start)))
    part.replace(path)
    say(f"made {path} ({mib} MiB: 2 s of 1080p H.264 and a free box of random bytes)")
    return path


def mb_per_s(size: int, seconds: float) -> float:
    return size / seconds / 1e6


# HTTP: a uvicorn endpoint in its own process that streams the body to disk.


def _sink_app(folder: str) -> Callable[..., Awaitable[None]]:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        if scope["method"] != "POST":
            await send({"type": "http.response.start", "status": 405, "headers": []})
            await send({"type": "http.response.body", "body": b""})
            return
        path = Path(folder) / f"upload-{secrets.token_hex(8)}.bin"
        size = 0
        with path.open("wb") as handle:
            while True:
                message = await receive()
                body = message.get("body", b"")
                if body:
                    handle.write(body)
                    size += len(body)
                if not message.get("more_body", False):
                    break
            handle.flush()
            os.fsync(handle.fileno())
        path.unlink()
        answer = str(size).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 201,
                "headers": [(b"content-length", str(len(answer)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": answer})

    return app


def _serve_sink(folder: str, port: int, host: str) -> None:
    uvicorn.run(_sink_app(folder), host=host, port=port, log_level="warning")


@contextlib.contextmanager
def http_sink(folder: Path, host: str = "127.0.0.1") -> Iterator[str]:
    """A uvicorn sink in a child process listening on ``host``; yields its upload URL."""
    port = free_loopback_port()
    process = multiprocessing.get_context("spawn").Process(
        target=_serve_sink, args=(str(folder), port, host), daemon=True
    )
    process.start()
    url = f"http://{host}:{port}/upload"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(url, timeout=1)
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline or not process.is_alive():
                    raise RuntimeError("the uvicorn sink did not start") from None
                time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        process.join(10)


def http_upload(url: str, path: Path, congestion_control: str | None = None) -> float:
    """Seconds to POST ``path``; ``congestion_control`` is set on the socket (TCP_CONGESTION)."""

    def blocks() -> Iterator[bytes]:
        with path.open("rb") as handle:
            while block := handle.read(HTTP_BLOCK):
                yield block

    size = path.stat().st_size
    options = (
        []
        if congestion_control is None
        else [(socket.IPPROTO_TCP, socket.TCP_CONGESTION, congestion_control.encode())]
    )
    transport = httpx.HTTPTransport(socket_options=options)
    with httpx.Client(timeout=120, transport=transport) as client:
        started = time.perf_counter()
        response = client.post(url, content=blocks(), headers={"content-length": str(size)})
        elapsed = time.perf_counter() - started
    if response.status_code != 201 or int(response.text) != size:
        raise RuntimeError(f"HTTP upload answered {response.status_code}: {response.text}")
    return elapsed


# MQTT: the real hub process, the agent's real uplink, runner and outbox in this process.


class AgentSide:
    """The agent's upload machinery without its recorder: uplink, outbox, index, key."""

    def __init__(
        self, stack: SiteStack, broker_host: str | None = None, chunk_bytes: int | None = None
    ) -> None:
        """``broker_host``: reach the broker there (a shaped link's hub address) rather than at
        the loopback address the checked config names (``model_copy`` does not check again:
        plain MQTT across the bench's own namespaces). ``chunk_bytes``: the config's
        ``[uplink] chunk_bytes`` instead of its default."""
        self.stack = stack
        config = load_config(stack.agent_config)
        changes: dict[str, object] = {}
        if broker_host is not None:
            changes["host"] = broker_host
        if chunk_bytes is not None:
            changes["chunk_bytes"] = chunk_bytes
        if changes:
            uplink = config.uplink.model_copy(update=changes)
            config = config.model_copy(update={"uplink": uplink})
        self.config = config
        # The link as measured by every upload so far: it sizes each clip's chunks, as the
        # cutter does (``JobContext.chunk_size``), and each runner's window.
        self.estimate = LinkEstimate()
        self.last_chunk_size = 0
        self.key = load_or_create_private_key(self.config.resolved_key_file)
        self.outbox = Outbox(self.config.data_dir)
        self.index = SegmentIndex(self.config.data_dir / "bench-index.db")
        self.runner: JobRunner | None = None
        self.uplink = Uplink(
            site_id=SITE_ID,
            config=self.config.uplink,
            status=self._status,
            # Acks only: the jobs the bench dispatches are not for cutting.
            subscriptions=[Subscription(agent_acks_filter(SITE_ID))],
        )
        self.uplink.set_handlers(on_message=self._on_message, on_connect=self._on_connect)

    def _status(self) -> SiteStatus:
        now = datetime.now(UTC)
        camera = CameraStatus(
            camera_id=CAMERA_ID,
            state="recording",
            buffer_start=now - timedelta(hours=1),
            buffer_end=now,
            codec="h264",
        )
        return SiteStatus(state="online", version=__version__, sent_at=now, cameras=(camera,))

    def _on_message(self, topic: Topic, payload: bytes, retained: bool) -> None:
        if self.runner is not None:
            self.runner.handle_message(topic, payload, retained)

    async def _on_connect(self, session_present: bool) -> None:
        if self.runner is not None:
            await self.runner.on_connected(session_present)

    def prepare(self, source: Path) -> tuple[str, str, str]:
        """Dispatch a job at the hub and put a signed clip for it into the outbox."""
        now = datetime.now(UTC)
        start, end = now - timedelta(seconds=70), now - timedelta(seconds=10)
        job_out = self.stack.api.dispatch(SITE_ID, CAMERA_ID, start, end, "bench: transfer")
        job = Job(
            job_id=job_out["job_id"],
            camera_id=CAMERA_ID,
            start=start,
            end=end,
            reason=job_out["reason"],
        )
        self.outbox.add_job(job)
        clip_id = secrets.token_hex(16)
        folder = self.outbox.clip_dir(clip_id)
        folder.mkdir(parents=True)
        clip_path = folder / CLIP_NAME
        try:
            os.link(source, clip_path)
        except OSError:
            shutil.copyfile(source, clip_path)
        uplink = self.config.uplink
        chunk = (
            chunk_size_for(
                self.estimate,
                time.monotonic(),
                largest=uplink.chunk_bytes,
                default=uplink.chunk_bytes,
            )
            if uplink.adaptive_chunks
            else uplink.chunk_bytes
        )
        hashes = chunk_hashes(clip_path, chunk)
        self.last_chunk_size = chunk
        manifest = Manifest(
            clip_id=clip_id,
            job_id=job.job_id,
            site_id=SITE_ID,
            camera=CameraIdentity(id=CAMERA_ID, name="bench"),
            requested=Window(start=start, end=end),
            delivered=Window(start=start, end=end),
            codec="h264",
            width=1920,
            height=1080,
            fps=25.0,
            bytes=hashes.size,
            sha256=hashes.sha256,
            software=Software(name="cctv-evidence bench/transfer.py", version=__version__),
            created_at=now,
            key_id=key_id(self.key),
        )
        manifest_bytes = manifest.canonical_bytes()
        signature = sign(self.key, manifest_bytes)
        (folder / MANIFEST_NAME).write_bytes(manifest_bytes)
        (folder / SIGNATURE_NAME).write_text(signature + "\n", encoding="ascii")
        self.outbox.add_clip(
            NewClip(
                clip_id=clip_id,
                job_id=job.job_id,
                directory=folder,
                manifest=manifest_bytes,
                signature=signature,
                key_id=key_id(self.key),
                clip_bytes=hashes.size,
                sha256=hashes.sha256,
                chunk_size=hashes.chunk_size,
                chunk_sha256=hashes.chunk_sha256,
            )
        )
        return job.job_id, clip_id, hashes.sha256

    async def upload(self, clip_id: str) -> float:
        """Offer to stored, through the real runner; seconds."""
        runner = JobRunner(
            config=self.config,
            outbox=self.outbox,
            index=self.index,
            key=self.key,
            publisher=self.uplink,
            hub=hub_verifier(self.config),
            link_estimate=self.estimate,
        )
        self.runner = runner
        started = time.perf_counter()
        await runner.start()  # resumes the outbox: offers the clip at once
        deadline = time.monotonic() + TRANSFER_TIMEOUT_SECONDS
        try:
            while True:
                clip = await asyncio.to_thread(self.outbox.clip, clip_id)
                assert clip is not None
                if clip.state == "stored":
                    return time.perf_counter() - started
                if clip.final:
                    raise RuntimeError(f"clip {clip_id} ended {clip.state}: {clip.reason}")
                if time.monotonic() > deadline:
                    raise RuntimeError(f"clip {clip_id} not stored; see {self.stack.hub.log_path}")
                await asyncio.sleep(0.005)
        finally:
            await runner.stop()
            self.runner = None


def check_stored(stack: SiteStack, job_id: str, sha256: str) -> None:
    job = stack.wait_job(job_id)
    clips = stack.api.clips_for_job(job_id)
    if len(clips) != 1 or clips[0]["sha256"] != sha256 or job["clip_id"] != clips[0]["clip_id"]:
        raise RuntimeError(f"the hub does not hold exactly the clip sent for job {job_id}: {clips}")


async def run(runs: int, mib: int, chunk_bytes: int | None = None) -> int:
    source = cached_file(mib)
    size = source.stat().st_size
    work = Path(tempfile.mkdtemp(prefix="cctv-transfer-"))
    mqtt_times: list[float] = []
    http_times: list[float] = []
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
        try:
            await asyncio.to_thread(stack.start_hub)
            agent = AgentSide(stack, chunk_bytes=chunk_bytes)
            await agent.uplink.start()
            await asyncio.wait_for(agent.uplink.wait_connected(), 30)
            deadline = time.monotonic() + 30
            while stack.api.camera(SITE_ID, CAMERA_ID) is None:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"the hub never saw the site; see {stack.hub.log_path}")
                await asyncio.sleep(0.2)
            say(
                f"{size} bytes, {runs} run(s) each; agent chunks of"
                f" {agent.config.uplink.chunk_bytes} bytes through Mosquitto on port {broker.port}"
            )
            (work / "http").mkdir()
            with http_sink(work / "http") as url:
                for number in range(1, runs + 1):
                    job_id, clip_id, sha256 = await asyncio.to_thread(agent.prepare, source)
                    seconds = await agent.upload(clip_id)
                    await asyncio.to_thread(check_stored, stack, job_id, sha256)
                    mqtt_times.append(seconds)
                    http_seconds = await asyncio.to_thread(http_upload, url, source)
                    http_times.append(http_seconds)
                    say(
                        f"run {number}: MQTT {mb_per_s(size, seconds):7.1f} MB/s ({seconds:.3f} s,"
                        f" stored and verified)  HTTP {mb_per_s(size, http_seconds):7.1f} MB/s"
                        f" ({http_seconds:.3f} s); chunks of {agent.last_chunk_size // 1024} KiB"
                    )
            # The hub's own account of each completion (how it hashed and probed, how long).
            for line in stack.hub.log_tail(200_000).splitlines():
                if "checked in" in line:
                    say("hub: " + line.split(": ", 1)[-1])
        finally:
            if agent is not None:
                await agent.uplink.stop()
                agent.outbox.close()
            stack.close()
            broker.stop()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    mqtt = mb_per_s(size, statistics.median(mqtt_times))
    http = mb_per_s(size, statistics.median(http_times))
    ratio = mqtt / http
    verdict = "meets" if ratio >= TARGET_RATIO else "misses"
    say(f"median MQTT (offer -> verified and stored): {mqtt:.1f} MB/s")
    say(f"median HTTP (streaming POST -> on disk):    {http:.1f} MB/s")
    say(f"ratio MQTT / HTTP: {ratio:.2f} ({verdict} the target of >= {TARGET_RATIO})")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="runs of each (medians are printed)")
    parser.add_argument("--mib", type=int, default=100, help="file size in MiB")
    parser.add_argument(
        "--chunk-kib", type=int, default=None, help="the agent's [uplink] chunk_bytes, in KiB"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    chunk_bytes = None if args.chunk_kib is None else args.chunk_kib * 1024
    return asyncio.run(run(args.runs, args.mib, chunk_bytes))


if __name__ == "__main__":
    sys.exit(main())
