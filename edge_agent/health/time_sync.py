"""Is the box's clock synchronised? Asked of ``timedatectl``, then ``chronyc``, then the kernel
(``adjtimex``, read only); "unknown" when none of them answers. Blocking: call from a thread."""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import shutil
import subprocess
from typing import Final

from edge_agent.health.checks import TimeSync

log = logging.getLogger(__name__)

COMMAND_TIMEOUT_SECONDS: Final = 5.0
# adjtimex(2): the clock state TIME_ERROR and the status bit STA_UNSYNC mean "not synchronised".
TIME_ERROR: Final = 5
STA_UNSYNC: Final = 0x0040


class _Timeval(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_usec", ctypes.c_long)]


class _Timex(ctypes.Structure):
    """``struct timex`` of <sys/timex.h> (Linux, glibc), with its reserved tail."""

    _fields_ = [
        ("modes", ctypes.c_uint),
        ("offset", ctypes.c_long),
        ("freq", ctypes.c_long),
        ("maxerror", ctypes.c_long),
        ("esterror", ctypes.c_long),
        ("status", ctypes.c_int),
        ("constant", ctypes.c_long),
        ("precision", ctypes.c_long),
        ("tolerance", ctypes.c_long),
        ("time", _Timeval),
        ("tick", ctypes.c_long),
        ("ppsfreq", ctypes.c_long),
        ("jitter", ctypes.c_long),
        ("shift", ctypes.c_int),
        ("stabil", ctypes.c_long),
        ("jitcnt", ctypes.c_long),
        ("calcnt", ctypes.c_long),
        ("errcnt", ctypes.c_long),
        ("stbcnt", ctypes.c_long),
        ("tai", ctypes.c_int),
        ("reserved", ctypes.c_int * 11),
    ]


def _run(*command: str) -> str | None:
    if shutil.which(command[0]) is None:
        return None
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=COMMAND_TIMEOUT_SECONDS, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        log.debug("%s: %s", command[0], exc)
        return None
    return done.stdout if done.returncode == 0 else None


def from_timedatectl() -> TimeSync | None:
    out = _run("timedatectl", "show", "--property=NTPSynchronized", "--value")
    value = (out or "").strip()
    if value not in ("yes", "no"):
        return None
    if value == "yes":
        return TimeSync("synchronised", "timedatectl", "NTPSynchronized=yes")
    return TimeSync("unsynchronised", "timedatectl", "NTPSynchronized=no")


def from_chronyc() -> TimeSync | None:
    out = _run("chronyc", "-c", "tracking")
    fields = (out or "").strip().split(",")
    if len(fields) < 14:
        return None
    # -c tracking: ..., field 4 is the system time offset (s), the last is the leap status.
    leap = fields[-1].strip()
    detail = f"leap status {leap}"
    try:
        detail += f", offset {float(fields[4]):+.3f} s"
    except ValueError:
        pass
    if leap.lower().startswith("not"):
        return TimeSync("unsynchronised", "chronyc", detail)
    return TimeSync("synchronised", "chronyc", detail)


def from_adjtimex() -> TimeSync | None:
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        libc = ctypes.CDLL(name, use_errno=True)
        timex = _Timex()  # modes 0: read only
        state = libc.adjtimex(ctypes.byref(timex))
    except (OSError, AttributeError) as exc:
        log.debug("adjtimex: %s", exc)
        return None
    if state < 0:
        return None
    if state == TIME_ERROR or timex.status & STA_UNSYNC:
        return TimeSync("unsynchronised", "adjtimex", "the kernel clock is not disciplined")
    return TimeSync("synchronised", "adjtimex", f"max error {timex.maxerror / 1000:.0f} ms")


def box_time_sync() -> TimeSync:
    for source in (from_timedatectl, from_chronyc, from_adjtimex):
        found = source()
        if found is not None:
            return found
    return TimeSync("unknown", "", "no timedatectl, chronyc or adjtimex answer")
