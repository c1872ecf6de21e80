"""Scale benchmark (issue 16): many simulated sites on one Mosquitto, two hub workers on one
PostgreSQL sharing the ingest by MQTT 5 shared subscriptions.

Run from the repository root: ``python3 bench/scale.py [--sites 1000] [--jobs 1000] [--rate 20]
[--minutes 10]``. It needs Mosquitto and PostgreSQL (``scripts/setup-test-postgres.sh``; a schema
of its own is made and dropped on the test database, or ``--postgres-url``).

Every site (``bench/scale_sites.py``, all in one thread) logs in as itself, publishes its status,
and answers each job with a small signed clip (two 64 KiB chunks). The benchmark dispatches
``--jobs`` clip jobs to random sites through the two workers' HTTP APIs in turn, ``--rate`` a
second, and reports:

- dispatch -> agent latency (the API call until the site has the signed job), p50 and p99,
  against the floor measured in the same run (a hub-side client publishing to the same sites'
  job topics: the broker and the site fleet's own loop), idle before the load and under it (a
  ping beside each job): the ratio to the floor under load is what the hub adds;
- ingest throughput: clips stored per second and MB/s, from the first stored ack to the last;
- each worker's resident memory every 10 s for ``--minutes`` (the first and last tenth's mean,
  the peak, the slope over the second half, the whole curve), and the load average meanwhile;
- with ``--timing``: each step of the dispatch path inside the workers (``scale_timing.py``).

The target of issue 16: p99 <= 100 ms, memory flat over 10 minutes.
"""

from __future__ import annotations

import argparse
import itertools
import os
import random
import resource
import secrets
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import paho.mqtt.client as mqtt
import psycopg
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from paho.mqtt.enums import CallbackAPIVersion

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from scale_sites import SiteFleet
from scale_timing import breakdown

from cctv_common.evidence.signing import public_key_pem
from devkit.configs import BrokerAccount, hub_toml, write_toml
from devkit.local_broker import HUB_USER, MosquittoBroker
from devkit.site_stack import ManagedProcess
from devkit.waiting import wait_until
from hub.services.passwords import hash_password
from tests.support.hub_kit import CAMERA, user_settings, video_bytes
from tests.support.smtp_server import free_port

TEST_DATABASE = "postgresql://cctv_test@127.0.0.1:5432/cctv_test"
SECOND_HUB = "hubw2"
PROBE_USER = "hubprobe"
DISPATCHER = ("supervisor", "pw-supervisor")
DISPATCHED: dict[str, float] = {}  # job id -> when its API call was sent (time.monotonic())


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def start_workers(
    root: Path,
    broker: MosquittoBroker,
    url: str,
    keys: dict[str, Ed25519PrivateKey],
    timing: bool,
    arena_max: int | None,
) -> list[tuple[ManagedProcess, str]]:
    sites = [
        {"site_id": site, "name": site, "public_key_pem": public_key_pem(key)}
        for site, key in keys.items()
    ]
    # The dispatching user's hash at the production scrypt cost (the test kit's are cheap), so
    # that HTTP Basic costs here what it costs an operator's API client.
    dispatchers = [
        u.model_dump(mode="json")
        | ({"password_hash": hash_password(DISPATCHER[1])} if u.username == DISPATCHER[0] else {})
        for u in user_settings()
    ]
    workers = []
    for worker_id, user in (("w1", HUB_USER), ("w2", SECOND_HUB)):
        port = free_port()
        data = hub_toml(
            hub_id="scale",
            data_dir=root / "hub-data",
            sites=sites,
            users=dispatchers,
            http_port=port,
            broker=BrokerAccount(broker.host, broker.port, user, broker.password(user)),
            database={"url": url, "pool_size": 8},
            ingest={"min_free_bytes": 0},
            evidence={"scrub": False},
            login={"free_failures": 100},
        )
        data["broker"].update(shared_group="hub", worker_id=worker_id)
        config = write_toml(root / f"{worker_id}.toml", data)
        # --timing: the worker runs with its dispatch path timed (bench/dispatch_timing.py).
        program = [str(Path(__file__).with_name("dispatch_timing.py"))] if timing else ["-m"]
        os.environ["CCTV_DISPATCH_TIMING"] = str(root / f"{worker_id}-timing.jsonl")
        process = ManagedProcess(
            worker_id,
            [
                sys.executable,
                *program,
                *([] if timing else ["hub.cli"]),
                "run",
                "--config",
                str(config),
                "--log-level",
                "warning",
            ],
            root / f"{worker_id}.log",
        )
        # --arena-max: glibc's MALLOC_ARENA_MAX for w2 only, w1 left as it is: the control.
        arenas = arena_max if worker_id == "w2" else None
        if arenas is not None:
            os.environ["MALLOC_ARENA_MAX"] = str(arenas)
        process.start()
        os.environ.pop("MALLOC_ARENA_MAX", None)
        workers.append((process, f"http://127.0.0.1:{port}"))
    for process, base in workers:

        def healthy(base: str = base) -> bool:
            try:
                return bool(
                    httpx.get(f"{base}/api/health", timeout=2).json()["mqtt"] == "connected"
                )
            except (httpx.HTTPError, ValueError, KeyError):
                return False

        wait_until(healthy, f"hub worker {process.name}", 180)
    return workers


class FloorProbe:
    """A hub-side MQTT client publishing straight to the sites' job topics: the latency of the
    broker and of the site fleet's own loop, without the hub. Measured idle (before the load)
    and under the load (one ping beside each dispatch), so the ratio is what the hub adds."""

    def __init__(self, broker: MosquittoBroker, fleet: SiteFleet) -> None:
        self._fleet = fleet
        self._client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=PROBE_USER, protocol=mqtt.MQTTv5
        )
        self._client.username_pw_set(PROBE_USER, broker.password(PROBE_USER))
        self._client.connect(broker.host, broker.port)
        self._client.loop_start()
        self.sent: dict[str, float] = {}

    def ping(self, site: str) -> str:
        ping = f"ping-{len(self.sent)}"
        self.sent[ping] = time.monotonic()
        self._client.publish(f"cctv/v1/sites/{site}/jobs/{ping}", b"x", qos=1)
        return ping

    def idle(self, sites: list[str], count: int) -> list[float]:
        pings = []
        for _ in range(count):
            pings.append(self.ping(random.choice(sites)))
            time.sleep(0.02)
        return self.latencies(pings)

    def latencies(self, pings: list[str]) -> list[float]:
        arrived = self._fleet.log.ping_arrived
        wait_until(lambda: all(p in arrived for p in pings), "probes", 30)
        return [(arrived[p] - self.sent[p]) * 1000 for p in pings]

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sites", type=int, default=1000)
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=20.0, help="jobs dispatched per second")
    parser.add_argument("--minutes", type=float, default=2.0, help="how long memory is watched")
    parser.add_argument("--postgres-url", default=None)
    parser.add_argument(
        "--arena-max",
        type=int,
        default=None,
        help="MALLOC_ARENA_MAX for worker w2 only (w1 is the control)",
    )
    parser.add_argument(
        "--timing", action="store_true", help="time each step of the dispatch path in the workers"
    )
    parser.add_argument(
        "--no-commit-flush",
        action="store_true",
        help="diagnostic only: synchronous_commit=off for the workers, to show what the WAL"
        " flush at each COMMIT costs (a commit is then not durable when the job is published:"
        " never in production)",
    )
    args = parser.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(soft, 4 * args.sites + 256)), hard))

    root = Path(tempfile.mkdtemp(prefix="cctv-scale-"))
    keys = {f"site-{n:04d}": Ed25519PrivateKey.generate() for n in range(args.sites)}
    users = {site: secrets.token_urlsafe(12) for site in keys}
    users |= {u: secrets.token_urlsafe(18) for u in (HUB_USER, SECOND_HUB, PROBE_USER)}
    broker = MosquittoBroker(root / "broker", users, hub_users=(HUB_USER, SECOND_HUB, PROBE_USER))
    schema = None
    url = args.postgres_url
    if url is None:
        schema = f"scale_{secrets.token_hex(4)}"
        with psycopg.connect(TEST_DATABASE, autocommit=True) as conn:
            conn.execute(f"CREATE SCHEMA {schema}")
        flush = "%20-csynchronous_commit%3Doff" if args.no_commit_flush else ""
        url = f"{TEST_DATABASE}?options=-csearch_path%3D{schema}{flush}"
        if args.no_commit_flush:
            print("DIAGNOSTIC: synchronous_commit=off, commits not durable (not a production run)")
    base_clip = video_bytes(100_000)
    fleet: SiteFleet | None = None
    workers: list[tuple[ManagedProcess, str]] = []
    try:
        broker.start()
        print(f"{args.sites} sites, 2 hub workers on PostgreSQL, Mosquitto; files in {root}")
        workers = start_workers(root, broker, url, keys, args.timing, args.arena_max)
        fleet = SiteFleet(
            broker.host,
            broker.port,
            {site: (users[site], key) for site, key in keys.items()},
            lambda: base_clip[:-16] + secrets.token_bytes(16),
        )
        started = time.monotonic()
        fleet.start()
        print(f"sites connected in {time.monotonic() - started:.1f} s")
        clients = [httpx.Client(base_url=base, auth=DISPATCHER, timeout=30) for _, base in workers]

        def cameras_known() -> bool:
            listed = clients[0].get("/api/sites").json()
            return sum(1 for s in listed if s["cameras"]) >= args.sites

        wait_until(cameras_known, "every site's status", 300)
        probe = FloorProbe(broker, fleet)
        code = run_load(args, fleet, workers, clients, list(keys), probe)
        probe.close()
        if args.timing:
            time.sleep(4)  # the workers write their timings every second, 2 s late
            paths = [root / f"w{n}-timing.jsonl" for n in (1, 2)]
            print("\n".join(breakdown(paths, DISPATCHED, fleet.log.job_arrived)))
        return code
    finally:
        if fleet is not None:
            fleet.stop()
        for process, _ in workers:
            process.stop()
        broker.stop()
        if schema is not None:
            with psycopg.connect(TEST_DATABASE, autocommit=True) as conn:
                conn.execute(f"DROP SCHEMA {schema} CASCADE")


def run_load(
    args: argparse.Namespace,
    fleet: SiteFleet,
    workers: list[tuple[ManagedProcess, str]],
    clients: list[httpx.Client],
    sites: list[str],
    probe: FloorProbe,
) -> int:
    idle_floor = probe.idle(sites, 200)
    pings: list[str] = []
    dispatched = DISPATCHED
    memory: list[tuple[float, list[int]]] = []
    loads: list[float] = []
    start = time.monotonic()
    watch_until = start + args.minutes * 60
    next_sample = start
    client_cycle = itertools.cycle(clients)
    n = 0
    while n < args.jobs or time.monotonic() < watch_until:
        now = time.monotonic()
        if now >= next_sample:
            memory.append((now - start, [rss_kib(p.process.pid) for p, _ in workers if p.process]))
            loads.append(os.getloadavg()[0])
            next_sample += 10
        end = datetime.now(UTC) - timedelta(seconds=5)
        body: dict[str, Any] = {
            "site_id": random.choice(sites),
            "camera_id": CAMERA,
            "start": (end - timedelta(seconds=20)).isoformat(),
            "end": end.isoformat(),
            "reason": "scale benchmark",
        }
        pings.append(probe.ping(random.choice(sites)))
        sent = time.monotonic()
        response = next(client_cycle).post("/api/jobs", json=body)
        if response.status_code != 201:
            print(f"dispatch refused: {response.status_code} {response.text[:200]}")
        else:
            dispatched[response.json()["job_id"]] = sent
        n += 1
        time.sleep(max(0.0, start + n / args.rate - time.monotonic()))
    wait_until(lambda: len(fleet.log.stored) >= len(dispatched), "every clip stored", 300)
    floors = (idle_floor, probe.latencies(pings))
    return report(args, fleet, dispatched, memory, floors, loads)


def last_half_slope(memory: list[tuple[float, list[int]]], worker: int) -> float:
    """The least-squares slope of one worker's RSS over the second half of the run, MB/min."""
    half = [(t / 60, kib[worker] / 1024) for t, kib in memory[len(memory) // 2 :]]
    if len(half) < 2:
        return 0.0
    return statistics.linear_regression([t for t, _ in half], [m for _, m in half]).slope


def report(
    args: argparse.Namespace,
    fleet: SiteFleet,
    dispatched: dict[str, float],
    memory: list[tuple[float, list[int]]],
    floors: tuple[list[float], list[float]],
    loads: list[float],
) -> int:
    latency = [(fleet.log.job_arrived[j] - t) * 1000 for j, t in dispatched.items()]
    p50, p99 = statistics.median(latency), percentile(latency, 0.99)
    idle, loaded = floors
    f50, f99 = statistics.median(loaded), percentile(loaded, 0.99)
    stored = sorted(fleet.log.stored.values())
    seconds = max(stored[-1] - stored[0], 1e-6)
    print(f"jobs dispatched {len(dispatched)} at {args.rate:g}/s, clips stored {len(stored)}")
    print(f"dispatch -> agent  p50 {p50:6.1f} ms  p99 {p99:6.1f} ms  (target p99 <= 100 ms)")
    print(
        f"broker floor idle  p50 {statistics.median(idle):6.1f} ms"
        f"  p99 {percentile(idle, 0.99):6.1f} ms  (before the load)"
    )
    print(f"floor under load   p50 {f50:6.1f} ms  p99 {f99:6.1f} ms  (one ping beside each job)")
    print(f"ratio to floor     p50 {p50 / f50:6.1f}x    p99 {p99 / f99:6.1f}x")
    print(
        f"ingest             {len(stored) / seconds:6.1f} clips/s"
        f"  {fleet.log.stored_bytes / seconds / 1e6:6.2f} MB/s"
    )
    for worker in range(len(memory[0][1])):
        series = [kib[worker] / 1024 for _, kib in memory if len(kib) > worker]
        first, last = series[: max(1, len(series) // 10)], series[-max(1, len(series) // 10) :]
        print(
            f"worker w{worker + 1} RSS      first {statistics.mean(first):6.1f} MB"
            f"  last {statistics.mean(last):6.1f} MB  peak {max(series):6.1f} MB"
            f"  ({len(series)} samples over {memory[-1][0] / 60:.1f} min)"
            f"  slope, last half {last_half_slope(memory, worker):+.2f} MB/min"
        )
        print("  curve (MB, every 10 s): " + " ".join(f"{v:.0f}" for v in series))
    print(
        f"load average (1 min) during the run: min {min(loads):.2f}"
        f"  mean {statistics.mean(loads):.2f}  max {max(loads):.2f} on {os.cpu_count()} cores"
    )
    if fleet.log.rejected:
        print(f"rejected clips: {len(fleet.log.rejected)}; first: {fleet.log.rejected[0]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
