"""The site checks as pure rules: figures in, one verdict and one line out. No I/O.

``cctv-provision check`` feeds them what its probes measure (a camera's stream, its ONVIF clock,
a login to the broker, the disk, the box's time sync); the agent feeds them what it already knows
(its recorders, its index, its uplink) every ``[health] interval_seconds`` and sends the results
in its status. Either way the same rule gives the same verdict for the same figures.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Final, Literal

# The buffer every site must hold: a month of footage (the police's usual request horizon).
BUFFER_TARGET_DAYS: Final = 31.0
# Frame rates a recording camera may send; outside them the stream is misconfigured.
MIN_FPS: Final = 5.0
MAX_FPS: Final = 60.0
# Codecs the recorder copies and the hub can verify.
RECORDABLE_CODECS: Final = frozenset({"h264", "h265", "hevc"})
SECONDS_PER_DAY: Final = 86400.0


class Verdict(StrEnum):
    OK = "OK"
    WARN = "WARN"
    FAIL = "FAIL"


@dataclass(frozen=True)
class CheckResult:
    """One line of the report: ``FAIL camera cam-1: credentials refused (401)``."""

    check: str  # camera, clock, stream, broker, disk, time-sync
    subject: str  # the camera id, "box" or "broker"
    verdict: Verdict
    figure: str

    def line(self) -> str:
        return f"{self.verdict.value:<4} {self.check} {self.subject}: {self.figure}"


def worst(results: list[CheckResult]) -> Verdict:
    """FAIL if any failed, else WARN if any warned, else OK (OK for no results)."""
    verdicts = {result.verdict for result in results}
    for verdict in (Verdict.FAIL, Verdict.WARN):
        if verdict in verdicts:
            return verdict
    return Verdict.OK


def camera_reached(camera: str, error: str | None, how: str) -> CheckResult:
    """``how``: "ONVIF and RTSP" or "RTSP"; ``error`` is the probe's message, without secrets."""
    if error is None:
        return CheckResult("camera", camera, Verdict.OK, f"reachable with its credentials ({how})")
    return CheckResult("camera", camera, Verdict.FAIL, error)


def camera_clock(camera: str, offset_seconds: float | None, bound_seconds: float) -> CheckResult:
    """A camera's clock against the box's. Footage is timed by the box, so an offset only
    warns; it goes into every manifest."""
    if offset_seconds is None:
        return CheckResult(
            "clock", camera, Verdict.OK, "not measured (plain RTSP camera: the box times footage)"
        )
    figure = f"{offset_seconds:+.1f} s against the box"
    if abs(offset_seconds) > bound_seconds:
        return CheckResult("clock", camera, Verdict.WARN, f"{figure} (over {bound_seconds:g} s)")
    return CheckResult("clock", camera, Verdict.OK, figure)


@dataclass(frozen=True)
class StreamFigures:
    codec: str | None
    fps: float | None
    bitrate_bps: float | None = None
    width: int | None = None
    height: int | None = None

    def text(self) -> str:
        parts = [self.codec or "no video"]
        if self.width and self.height:
            parts.append(f"{self.width}x{self.height}")
        parts.append(f"{self.fps:.1f} fps" if self.fps else "fps unknown")
        if self.bitrate_bps:
            parts.append(f"{self.bitrate_bps / 1e6:.2f} Mbit/s")
        return " ".join(parts)


def camera_stream(camera: str, figures: StreamFigures) -> CheckResult:
    text = figures.text()
    codec = (figures.codec or "").lower()
    if codec not in RECORDABLE_CODECS:
        return CheckResult("stream", camera, Verdict.FAIL, f"{text} (records H.264 or H.265 only)")
    if figures.fps is None:
        return CheckResult("stream", camera, Verdict.WARN, text)
    if not MIN_FPS <= figures.fps <= MAX_FPS:
        return CheckResult(
            "stream", camera, Verdict.WARN, f"{text} (expected {MIN_FPS:g}-{MAX_FPS:g} fps)"
        )
    return CheckResult("stream", camera, Verdict.OK, text)


BrokerOutcome = Literal["authorised", "refused", "unreachable"]


def broker_login(address: str, outcome: BrokerOutcome, detail: str) -> CheckResult:
    if outcome == "authorised":
        return CheckResult("broker", address, Verdict.OK, detail)
    return CheckResult("broker", address, Verdict.FAIL, f"{outcome}: {detail}")


def buffer_days(
    *,
    free_bytes: int,
    used_bytes: int,
    bytes_per_day: float | None,
    min_free_bytes: int,
    max_disk_bytes: int,
    max_days: float,
) -> float | None:
    """Days of footage the ring buffer will hold at ``bytes_per_day``: the bytes it may use (the
    footage already kept plus the free space above the floor, capped by ``max_disk_bytes``)
    over the daily rate, capped by ``max_days``. None when the rate is unknown."""
    if not bytes_per_day or bytes_per_day <= 0:
        return None
    usable = min(max_disk_bytes, used_bytes + max(0, free_bytes - min_free_bytes))
    return min(max_days, usable / bytes_per_day)


def disk_buffer(
    *, free_bytes: int, days: float | None, max_days: float, bitrate_bps: float | None
) -> CheckResult:
    free = f"{free_bytes / 1e9:.1f} GB free"
    target = min(BUFFER_TARGET_DAYS, max_days)
    if days is None:
        return CheckResult(
            "disk", "box", Verdict.WARN, f"{free}; days of buffer unknown (no bitrate measured)"
        )
    rate = f" at {bitrate_bps / 1e6:.2f} Mbit/s" if bitrate_bps else ""
    figure = f"{free}; holds {days:.1f} days{rate} (target {target:g})"
    if max_days < BUFFER_TARGET_DAYS:
        figure += (
            f"; retention.max_days is {max_days:g}, under the {BUFFER_TARGET_DAYS:g}-day target"
        )
    if days + 1e-9 < target:
        return CheckResult("disk", "box", Verdict.FAIL, figure)
    if max_days < BUFFER_TARGET_DAYS:
        return CheckResult("disk", "box", Verdict.WARN, figure)
    return CheckResult("disk", "box", Verdict.OK, figure)


TimeSyncState = Literal["synchronised", "unsynchronised", "unknown"]


@dataclass(frozen=True)
class TimeSync:
    state: TimeSyncState
    source: str  # "timedatectl", "chronyc", "adjtimex" or "" when unknown
    detail: str = ""


def box_time_sync(sync: TimeSync) -> CheckResult:
    via = f" ({sync.source}{': ' + sync.detail if sync.detail else ''})" if sync.source else ""
    if sync.state == "synchronised":
        return CheckResult("time-sync", "box", Verdict.OK, f"synchronised{via}")
    if sync.state == "unsynchronised":
        return CheckResult(
            "time-sync", "box", Verdict.FAIL, f"not synchronised{via}: footage times drift"
        )
    reason = sync.detail or "no timedatectl, chronyc or adjtimex answer"
    return CheckResult("time-sync", "box", Verdict.WARN, f"unknown ({reason})")
