"""A shaped link between a site and the hub: three network namespaces, tc, nftables and a relay.

::

    [site ns]  site0 ==veth== mid-site  [mid ns: relay]  mid-hub ==veth== hub0  [hub ns]
    10.201.0.2                 tbf (down)   delay, jitter   tbf (up)             10.201.0.1
    nft: loss, outage                                                   nft: loss, outage

What runs in the site namespace (the agent, an HTTP client) reaches what runs in the hub
namespace (Mosquitto, the hub, uvicorn) at ``hub_address`` only through the middle namespace,
where the relay (``devkit.netlink.relay``) delays every frame and tbf limits the rate each way
with a queue of ``profile.queue_ms`` (what does not fit is dropped, as at a router). Random loss
and outages are nftables rules on the ingress hook of each end's interface, so a lost packet has
used the link like a real one. Offloads are off on the end interfaces, so every frame is one
packet of at most the MTU with its checksums filled in, exactly as on a wire.

``ShapedLink`` needs root, iproute2, nftables and ethtool; ``unavailable_reason()`` says what is
missing (tests skip with it).
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import json
import os
import re
import subprocess
import sys
import threading
from pathlib import Path
from types import TracebackType
from typing import IO, Final, Self

from devkit.netlink import namespaces
from devkit.netlink.namespaces import NamespaceError
from devkit.netlink.profiles import MTU, LinkProfile, tbf_burst_bytes, tbf_limit_bytes

SITE_ADDRESS: Final = "10.201.0.2"
HUB_ADDRESS: Final = "10.201.0.1"
PREFIX_LENGTH: Final = 24
SITE_IF: Final = "site0"
HUB_IF: Final = "hub0"
MID_SITE_IF: Final = "mid-site"
MID_HUB_IF: Final = "mid-hub"
NFT_TABLE: Final = "cctvlink"
NAME_PREFIX: Final = "cctvlink"
_STALE: Final = re.compile(rf"^{NAME_PREFIX}-(\d+)-\d+-(site|mid|hub)$")
# Safety limits: the relay prints "ready" in well under a second.
RELAY_START_SECONDS: Final = 30.0
RELAY_STOP_SECONDS: Final = 10.0
_counter = itertools.count(1)
_REPO_ROOT: Final = Path(__file__).resolve().parents[2]


class LinkError(RuntimeError):
    """The link could not be built, controlled or taken down (the message says what failed)."""


def _remove_stale() -> None:
    """Namespaces an earlier run left behind (its process is gone) are removed."""
    for name in namespaces.names():
        match = _STALE.match(name)
        if match and not Path(f"/proc/{match.group(1)}").exists():
            with contextlib.suppress(NamespaceError):
                namespaces.remove(name)


def nft_ruleset(interface: str, loss_percent: int) -> str:
    """The nftables table for one end: arrivals pass the outage chain, then random loss."""
    loss = f"    numgen random mod 100 < {loss_percent} counter drop\n" if loss_percent else ""
    return (
        f"table netdev {NFT_TABLE} {{\n"
        "  chain outage {\n  }\n"
        "  chain arrive {\n"
        f'    type filter hook ingress device "{interface}" priority 0; policy accept;\n'
        "    jump outage\n"
        f"{loss}"
        "  }\n"
        "}\n"
    )


def tbf_command(interface: str, rate_bytes_per_second: float, queue_ms: float) -> list[str]:
    return [
        "tc",
        "qdisc",
        "replace",
        "dev",
        interface,
        "root",
        "tbf",
        "rate",
        f"{round(rate_bytes_per_second * 8)}bit",
        "burst",
        str(tbf_burst_bytes(rate_bytes_per_second)),
        "limit",
        str(tbf_limit_bytes(rate_bytes_per_second, queue_ms)),
    ]


class ShapedLink:
    """Site and hub namespaces joined through a shaped middle; ``with`` builds and removes it."""

    def __init__(
        self,
        profile: LinkProfile,
        *,
        seed: int | None = None,
        congestion_control: str | None = None,
    ) -> None:
        """``congestion_control``: the TCP default at both ends (``None``: the namespace's own,
        which is the host's). Inside a namespace the kernel lets only the algorithms in
        ``net.ipv4.tcp_allowed_congestion_control`` be the default (``reno bbr`` on a host whose
        default is BBR); any other (``cubic``) is chosen per socket with ``TCP_CONGESTION``."""
        self.profile = profile
        self.seed = seed
        self.congestion_control = congestion_control
        base = f"{NAME_PREFIX}-{os.getpid()}-{next(_counter)}"
        self.site_ns, self.mid_ns, self.hub_ns = (f"{base}-{end}" for end in ("site", "mid", "hub"))
        self.site_address = SITE_ADDRESS
        self.hub_address = HUB_ADDRESS
        self._relay: subprocess.Popen[str] | None = None
        self._relay_lock = threading.Lock()
        self._outage_lock = threading.Lock()
        self._outage_timer: threading.Timer | None = None
        self.in_outage = False

    # Building and removing.

    def open(self) -> Self:
        reason = unavailable_reason()
        if reason is not None:
            raise LinkError(f"cannot build a shaped link here: {reason}")
        _remove_stale()
        try:
            self._build()
        except BaseException:
            self.close()
            raise
        return self

    def _build(self) -> None:
        run, run_in = namespaces.run, namespaces.run_in
        for name in (self.site_ns, self.mid_ns, self.hub_ns):
            namespaces.create(name)
            # No IPv6: its router and neighbour chatter would ride the link for nothing.
            run_in(
                name,
                [
                    "sysctl",
                    "-q",
                    "-w",
                    "net.ipv6.conf.all.disable_ipv6=1",
                    "net.ipv6.conf.default.disable_ipv6=1",
                ],
                f"disable IPv6 in {name}",
            )
            run_in(name, ["ip", "link", "set", "lo", "up"], f"loopback up in {name}")
        for end_ns, end_if, mid_if in (
            (self.site_ns, SITE_IF, MID_SITE_IF),
            (self.hub_ns, HUB_IF, MID_HUB_IF),
        ):
            run(
                [
                    *("ip", "link", "add", end_if, "netns", end_ns, "mtu", str(MTU)),
                    *("type", "veth", "peer", "name", mid_if, "netns", self.mid_ns),
                ],
                f"veth pair {end_if}/{mid_if}",
            )
            # One packet per frame, checksums filled in: what a wire carries.
            run_in(
                end_ns,
                ["ethtool", "-K", end_if, "tx", "off", "tso", "off", "gso", "off", "gro", "off"],
                f"offloads off on {end_if}",
            )
            run_in(self.mid_ns, ["ethtool", "-K", mid_if, "gro", "off"], f"GRO off on {mid_if}")
            run_in(self.mid_ns, ["ip", "link", "set", mid_if, "up"], f"{mid_if} up")
        for end_ns, end_if, address in (
            (self.site_ns, SITE_IF, self.site_address),
            (self.hub_ns, HUB_IF, self.hub_address),
        ):
            run_in(
                end_ns,
                ["ip", "addr", "add", f"{address}/{PREFIX_LENGTH}", "dev", end_if],
                f"address on {end_if}",
            )
            run_in(end_ns, ["ip", "link", "set", end_if, "up"], f"{end_if} up")
            if self.congestion_control is not None:
                self._set_congestion_control(end_ns, self.congestion_control)
        # Each end knows the other's MAC for good: no ARP rides the link, as over a routed WAN
        # hop, so an outage is silence (timeouts), never a local "no route to host".
        site_mac = _mac(self.site_ns, SITE_IF)
        hub_mac = _mac(self.hub_ns, HUB_IF)
        for end_ns, end_if, peer, mac in (
            (self.site_ns, SITE_IF, self.hub_address, hub_mac),
            (self.hub_ns, HUB_IF, self.site_address, site_mac),
        ):
            run_in(
                end_ns,
                ["ip", "neigh", "replace", peer, "lladdr", mac, "dev", end_if, "nud", "permanent"],
                f"static neighbour on {end_if}",
            )
        profile = self.profile
        run_in(
            self.mid_ns,
            tbf_command(MID_HUB_IF, profile.up_bytes_per_second, profile.queue_ms),
            "rate up",
        )
        run_in(
            self.mid_ns,
            tbf_command(MID_SITE_IF, profile.down_bytes_per_second, profile.queue_ms),
            "rate down",
        )
        for end_ns, end_if in ((self.site_ns, SITE_IF), (self.hub_ns, HUB_IF)):
            self._nft(end_ns, nft_ruleset(end_if, profile.loss_percent), "loss and outage rules")
        self._start_relay()

    def _start_relay(self) -> None:
        argv = [
            sys.executable,
            "-m",
            "devkit.netlink.relay",
            *("--left", MID_SITE_IF, "--right", MID_HUB_IF),
            *("--delay-ms", str(self.profile.one_way_ms)),
            *("--jitter-ms", str(self.profile.jitter_ms)),
            *("--mtu", str(MTU)),
        ]
        if self.seed is not None:
            argv += ["--seed", str(self.seed)]
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(_REPO_ROOT), env.get("PYTHONPATH", "")) if p
        )
        relay = subprocess.Popen(
            [*namespaces.exec_prefix(self.mid_ns), *argv],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        self._relay = relay
        line = _readline(relay.stdout, RELAY_START_SECONDS)
        if line.strip() != "ready":
            relay.kill()
            relay.wait()
            raise LinkError(f"the relay did not start (exit {relay.returncode}): {line!r}")

    def close(self) -> None:
        """Stop the relay and remove the namespaces (their interfaces and rules go with them)."""
        with self._outage_lock:
            if self._outage_timer is not None:
                self._outage_timer.cancel()
                self._outage_timer = None
        relay, self._relay = self._relay, None
        if relay is not None:
            if relay.stdin is not None:
                with contextlib.suppress(OSError):
                    relay.stdin.close()  # end of input: the relay stops
            try:
                relay.wait(RELAY_STOP_SECONDS)
            except subprocess.TimeoutExpired:
                relay.kill()
                relay.wait()
            if relay.stdout is not None:
                relay.stdout.close()
        errors = []
        for name in (self.site_ns, self.mid_ns, self.hub_ns):
            try:
                namespaces.remove(name)
            except NamespaceError as exc:
                errors.append(str(exc))
        if errors:
            raise LinkError("; ".join(errors))

    def __enter__(self) -> Self:
        return self.open()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # Controls.

    def _nft(self, name: str, script: str, what: str) -> None:
        result = subprocess.run(
            [*namespaces.exec_prefix(name), "nft", "-f", "-"],
            input=script,
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise LinkError(f"{what} in {name}: nft failed: {result.stderr.strip()}")

    def _set_congestion_control(self, name: str, algorithm: str) -> None:
        namespaces.run_in(
            name,
            ["sysctl", "-q", "-w", f"net.ipv4.tcp_congestion_control={algorithm}"],
            f"TCP congestion control {algorithm} in {name}",
        )

    def default_congestion_control(self) -> str:
        """The TCP congestion control new sockets at the site end get unless they choose."""
        out = namespaces.run_in(
            self.site_ns, ["sysctl", "-n", "net.ipv4.tcp_congestion_control"], "read sysctl"
        )
        return out.strip()

    def set_congestion_control(self, algorithm: str) -> None:
        """The TCP congestion control new connections use at both ends (see ``__init__``)."""
        for name in (self.site_ns, self.hub_ns):
            self._set_congestion_control(name, algorithm)
        self.congestion_control = algorithm

    def outage_start(self) -> None:
        """From now on every frame is dropped on arrival at either end."""
        with self._outage_lock:
            if self.in_outage:
                return
            for name in (self.site_ns, self.hub_ns):
                self._nft(name, f"add rule netdev {NFT_TABLE} outage counter drop\n", "outage")
            self.in_outage = True

    def outage_end(self) -> None:
        """Frames pass again (what the ends resend now gets through)."""
        with self._outage_lock:
            if self._outage_timer is not None:
                self._outage_timer.cancel()
                self._outage_timer = None
            if not self.in_outage:
                return
            for name in (self.site_ns, self.hub_ns):
                self._nft(name, f"flush chain netdev {NFT_TABLE} outage\n", "end of outage")
            self.in_outage = False

    def drop_for(self, seconds: float) -> None:
        """Cut the link now and bring it back after ``seconds`` (on a timer thread)."""
        self.outage_start()
        timer = threading.Timer(seconds, self.outage_end)
        timer.daemon = True
        with self._outage_lock:
            if self._outage_timer is not None:
                self._outage_timer.cancel()  # the later end wins
            self._outage_timer = timer
        timer.start()

    def relay_stats(self) -> dict[str, dict[str, float]]:
        """The relay's counters: ``left_to_right`` is up (site to hub), ``right_to_left`` down."""
        with self._relay_lock:
            relay = self._relay
            if relay is None or relay.stdin is None:
                raise LinkError("the link is not open")
            relay.stdin.write("stats\n")
            relay.stdin.flush()
            line = _readline(relay.stdout, RELAY_START_SECONDS)
        try:
            stats: dict[str, dict[str, float]] = json.loads(line)
        except json.JSONDecodeError as exc:
            raise LinkError(f"the relay answered {line!r}") from exc
        return {"up": stats["left_to_right"], "down": stats["right_to_left"]}


def _mac(name: str, interface: str) -> str:
    out = namespaces.run_in(name, ["ip", "-j", "link", "show", interface], f"MAC of {interface}")
    try:
        return str(json.loads(out)[0]["address"])
    except (ValueError, LookupError) as exc:
        raise LinkError(f"no MAC address for {interface} in {name}: {out!r}") from exc


def _readline(stream: IO[str] | None, timeout: float) -> str:
    """One line from a child's stdout, or ``LinkError`` after ``timeout`` seconds."""
    if stream is None:
        raise LinkError("no pipe from the relay")
    result: list[str] = []
    reader = threading.Thread(target=lambda: result.append(stream.readline()), daemon=True)
    reader.start()
    reader.join(timeout)
    if not result:
        raise LinkError(f"the relay said nothing for {timeout} s")
    return result[0]


@functools.cache
def unavailable_reason() -> str | None:
    """Why a shaped link cannot be built on this machine, or ``None`` if it can (tried once)."""
    missing = namespaces.tools_missing()
    if missing is not None:
        return missing
    probe = f"{NAME_PREFIX}-{os.getpid()}-0-probe"
    try:
        namespaces.create(probe)
        try:
            namespaces.run_in(
                probe,
                ["ip", "link", "add", "p0", "type", "veth", "peer", "name", "p1"],
                "a veth pair",
            )
            namespaces.run_in(probe, tbf_command("p0", 1e6, 50), "tc tbf")
            namespaces.run_in(probe, ["ethtool", "-K", "p0", "tso", "off"], "ethtool")
            result = subprocess.run(
                [*namespaces.exec_prefix(probe), "nft", "-f", "-"],
                input=nft_ruleset("p1", 1),
                capture_output=True,
                text=True,
                check=False,
            )
            if result.returncode != 0:
                return f"nftables cannot drop at random on ingress: {result.stderr.strip()}"
        finally:
            namespaces.remove(probe)
    except NamespaceError as exc:
        return str(exc)
    return None
