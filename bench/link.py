"""Benchmark: a clip from a site to the hub through shaped site links, MQTT path vs plain HTTP.

Run as root from the repository root: ``python3 bench/link.py [--profiles fibre,4g]
[--seconds 20] [--compare-cc] [--no-mqtt | --no-http]``. For each link profile
(``devkit/netlink``: fibre, 20 Mbit/s with 1% loss, 4G, the 20 Mbit/s line cut for 30 s half-way
through each upload) a ``ShapedLink`` joins a site namespace to a hub namespace, and in the same
run:

* **HTTP**: an ``httpx`` streaming POST of the clip from the site namespace to a uvicorn sink in
  the hub namespace (the same sink as ``bench/transfer.py``: written to disk and fsynced).
* **MQTT**: the real Mosquitto and the real hub (its own process) in the hub namespace; in the
  site namespace, on its own thread and event loop, the agent's real upload path (``Uplink`` +
  ``JobRunner`` + ``Outbox``, as ``bench/transfer.py`` drives it, the upload code unchanged).
  Timed from the runner's start (it offers at once) to the outbox saying ``stored``: the hub
  has checked every chunk, the whole SHA-256 and the signature, and stored the clip.

The clip is ``--seconds`` of the profile's up rate (a real H.264 MP4 padded with random bytes,
cached under ``bench/.cache/``). It prints goodput as a fraction of the link rate (tc counts
Ethernet frames: full TCP segments carry at most 0.956 of it), the ratio MQTT/HTTP, and time to
stored against ``1.1 x size/rate + 3 s`` (plus the outage, where there is one). Targets (issue
15): >= 0.9 of the link rate on the clean profiles, >= 1.0x HTTP on every profile, the
time-to-stored bound on 20 Mbit/s.
``--compare-cc`` also uploads by HTTP with CUBIC and with BBR on each link (``TCP_CONGESTION`` on
the sending socket). This is a measurement, not a test.
"""

from __future__ import annotations

import argparse
import functools
import logging
import secrets
import shutil
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final, TypeVar

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from transfer import AgentSide, cached_file, check_stored, http_sink, http_upload

from devkit.local_broker import HUB_USER, MosquittoBroker
from devkit.netlink import PROFILES, LinkProfile, ShapedLink, unavailable_reason
from devkit.netlink import measure as m
from devkit.netlink.namespaces import LoopThread, call_in, inside
from devkit.netlink.profiles import TCP_GOODPUT_FRACTION
from devkit.site_stack import SiteStack

T = TypeVar("T")

SITE_ID: Final = "bench-site"
CAMERA_ID: Final = "cam-1"
CLEAN_TARGET: Final = 0.9
RATIO_TARGET: Final = 1.0
STORED_FACTOR: Final = 1.1
STORED_SLACK_SECONDS: Final = 3.0
# Safety limit on one upload or on waiting for the hub; the bench never judges by it.
WAIT_SECONDS: Final = 900.0


def say(message: str) -> None:
    print(f"link: {message}", flush=True)


@dataclass
class ProfileResult:
    profile: LinkProfile
    size: int
    rtt_ms: float
    congestion_control: str
    http_seconds: list[float] = field(default_factory=list)
    mqtt_seconds: list[float] = field(default_factory=list)
    cc_seconds: dict[str, float] = field(default_factory=dict)

    def fraction(self, seconds: float) -> float:
        return self.size / seconds / self.profile.up_bytes_per_second

    @property
    def stored_bound(self) -> float:
        """1.1 x size/rate + 3 s (the issue's bound), plus the outage where the link has one."""
        return (
            STORED_FACTOR * self.profile.transfer_seconds(self.size)
            + STORED_SLACK_SECONDS
            + self.profile.outage_seconds
        )


def clip_mib(profile: LinkProfile, seconds: float) -> int:
    return max(1, round(profile.up_bytes_per_second * seconds / 2**20))


def with_outage(link: ShapedLink, seconds: float, upload: Callable[[], T]) -> T:
    """Run ``upload``; if the profile has an outage, cut the link half-way through it."""
    outage = link.profile.outage_seconds
    if not outage:
        return upload()
    timer = threading.Timer(seconds / 2, link.drop_for, (outage,))
    timer.daemon = True
    timer.start()
    try:
        return upload()
    finally:
        timer.cancel()
        link.outage_end()


def http_in_site(link: ShapedLink, url: str, source: Path, cc: str | None) -> float:
    """The HTTP upload, its socket made in the site namespace."""
    return call_in(link.site_ns, lambda: http_upload(url, source, cc))


class MqttSide:
    """Broker and hub in the hub namespace; the agent's upload path in the site namespace."""

    def __init__(self, link: ShapedLink, work: Path) -> None:
        self.link = link
        self.broker = MosquittoBroker(
            work / "broker",
            {HUB_USER: secrets.token_urlsafe(18), SITE_ID: secrets.token_urlsafe(18)},
        )
        # The hub connects over the hub namespace's loopback (plain MQTT is allowed only there);
        # the agent reaches the broker across the link, at the hub's address.
        self.broker.also_listen = [link.hub_address]
        self.broker.start()
        self.stack = SiteStack(
            work / "site", self.broker, "rtsp://127.0.0.1:9/none", site_id=SITE_ID, hub_id="bench"
        )
        self.loop = LoopThread(link.site_ns).start()
        self.agent: AgentSide | None = None
        self.stack.start_hub()
        self.agent = AgentSide(self.stack, broker_host=link.hub_address)
        self.loop.run(self.agent.uplink.start(), WAIT_SECONDS)
        deadline = time.monotonic() + WAIT_SECONDS
        while self.stack.api.camera(SITE_ID, CAMERA_ID) is None:
            if time.monotonic() > deadline:
                raise RuntimeError(f"the hub never saw the site; see {self.stack.hub.log_path}")
            time.sleep(0.2)

    def upload(self, source: Path) -> float:
        assert self.agent is not None
        job_id, clip_id, sha256 = self.agent.prepare(source)
        seconds = self.loop.run(self.agent.upload(clip_id), WAIT_SECONDS)
        check_stored(self.stack, job_id, sha256)
        return seconds

    @property
    def chunk_kib(self) -> int:
        return 0 if self.agent is None else self.agent.last_chunk_size // 1024

    def close(self) -> None:
        try:
            if self.agent is not None:
                self.loop.run(self.agent.uplink.stop(), 60)
                self.agent.outbox.close()
            self.loop.stop()
        finally:
            try:
                self.stack.close()
            finally:
                self.broker.stop()


def run_profile(profile: LinkProfile, args: argparse.Namespace, work: Path) -> ProfileResult:
    source = cached_file(args.mib or clip_mib(profile, args.seconds))
    size = source.stat().st_size
    nominal = profile.transfer_seconds(size)
    with ShapedLink(profile, seed=15, congestion_control=args.default_cc) as link:
        trips = m.round_trips(link.site_ns, link.hub_ns, link.hub_address, count=40)
        result = ProfileResult(profile, size, trips.median_ms, link.default_congestion_control())
        say(
            f"{profile.name}: {profile.description}; measured RTT {trips.median_ms:.1f} ms;"
            f" clip {size / 1e6:.1f} MB ({nominal:.1f} s at the up rate);"
            f" TCP {result.congestion_control} (the namespaces' default)"
        )
        folder = work / profile.name
        (folder / "http").mkdir(parents=True)
        # Everything started on this thread from here on (broker, hub, uvicorn) and every call
        # to the hub's API lives in the hub namespace.
        with inside(link.hub_ns):
            mqtt = None if args.no_mqtt else MqttSide(link, folder)
            try:
                with http_sink(folder / "http", host=link.hub_address) as url:
                    for number in range(1, args.runs + 1):
                        line = f"{profile.name} run {number}:"
                        if mqtt is not None:
                            seconds = with_outage(link, nominal, lambda: mqtt.upload(source))
                            result.mqtt_seconds.append(seconds)
                            line += (
                                f" MQTT {result.fraction(seconds):.2f} of link rate"
                                f" ({seconds:.1f} s to stored, verified;"
                                f" chunks of {mqtt.chunk_kib} KiB)"
                            )
                        if not args.no_http:
                            seconds = with_outage(
                                link,
                                nominal,
                                functools.partial(http_in_site, link, url, source, None),
                            )
                            result.http_seconds.append(seconds)
                            line += f"  HTTP {result.fraction(seconds):.2f} ({seconds:.1f} s)"
                        say(line)
                    if args.compare_cc:
                        for cc in ("cubic", "bbr"):
                            seconds = with_outage(
                                link,
                                nominal,
                                functools.partial(http_in_site, link, url, source, cc),
                            )
                            result.cc_seconds[cc] = seconds
                            say(
                                f"{profile.name}: HTTP with {cc}:"
                                f" {result.fraction(seconds):.2f} of link rate ({seconds:.1f} s)"
                            )
            finally:
                if mqtt is not None:
                    mqtt.close()
    return result


def verdict(ok: bool) -> str:
    return "meets" if ok else "misses"


def summarise(results: list[ProfileResult]) -> None:
    say(
        "summary (goodput as a fraction of the up rate;"
        f" full TCP segments: {TCP_GOODPUT_FRACTION:.3f})"
    )
    for r in results:
        p = r.profile
        http = r.fraction(statistics.median(r.http_seconds)) if r.http_seconds else None
        clean = not p.loss_percent and not p.outage_seconds
        parts = [f"{p.name:>9}: HTTP " + ("-" if http is None else f"{http:.2f}")]
        if r.mqtt_seconds:
            stored = statistics.median(r.mqtt_seconds)
            mqtt = r.fraction(stored)
            parts.append(f"MQTT {mqtt:.2f}")
            if http is not None:
                ratio = mqtt / http
                parts.append(
                    f"MQTT/HTTP {ratio:.2f} ({verdict(ratio >= RATIO_TARGET)} >= {RATIO_TARGET})"
                )
            if clean:
                parts.append(f"MQTT {verdict(mqtt >= CLEAN_TARGET)} >= {CLEAN_TARGET} of rate")
            outage = f" + {p.outage_seconds:.0f} s outage" if p.outage_seconds else ""
            parts.append(
                f"stored in {stored:.1f} s vs 1.1 x size/rate + 3 s{outage} ="
                f" {r.stored_bound:.1f} s ({verdict(stored <= r.stored_bound)})"
            )
        if r.cc_seconds:
            parts.append(
                "HTTP "
                + ", ".join(f"{cc} {r.fraction(s):.2f}" for cc, s in sorted(r.cc_seconds.items()))
            )
        say("; ".join(parts))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--profiles",
        default=",".join(PROFILES),
        help=f"comma-separated, from {', '.join(PROFILES)} (default: all)",
    )
    parser.add_argument("--runs", type=int, default=1, help="runs of each (medians are printed)")
    parser.add_argument(
        "--seconds", type=float, default=20.0, help="clip size as seconds at the up rate"
    )
    parser.add_argument("--mib", type=int, default=0, help="clip size in MiB (overrides --seconds)")
    parser.add_argument("--no-mqtt", action="store_true", help="the HTTP baseline only")
    parser.add_argument(
        "--no-http", action="store_true", help="the MQTT path only (no MQTT/HTTP ratio)"
    )
    parser.add_argument(
        "--default-cc",
        default=None,
        help="TCP congestion control both namespaces default to, for MQTT and HTTP alike"
        " (default: the host's; a namespace may only default to one listed in"
        " net.ipv4.tcp_allowed_congestion_control, e.g. reno or bbr)",
    )
    parser.add_argument(
        "--compare-cc", action="store_true", help="also HTTP with CUBIC and with BBR on each link"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    reason = unavailable_reason()
    if reason is not None:
        say(f"cannot shape a link here: {reason}")
        return 2
    names = [n.strip() for n in args.profiles.split(",") if n.strip()]
    unknown = [n for n in names if n not in PROFILES]
    if unknown:
        parser.error(f"unknown profiles {unknown}; known: {sorted(PROFILES)}")
    work = Path(tempfile.mkdtemp(prefix="cctv-link-"))
    results = []
    try:
        for name in names:
            results.append(run_profile(PROFILES[name], args, work))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    summarise(results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
