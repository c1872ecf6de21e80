"""The site's bandwidth cap for evidence uploads: the cap windows and which cap is in force at a
local time. Pure rules (no I/O, no clock), shared by the agent (config and the hub's setting) and
the hub (which checks the setting before it signs it). The agent's token bucket that keeps to the
cap is ``edge_agent/uplink/cap_rules.py``.

A council network manager shares the site's uplink between evidence and everything else on it
(the office, the cameras' own remote viewing): ``[uplink] max_mbps`` caps the uploads at all
times, and ``[[uplink.cap]]`` windows lower it at given hours of given days, in the site's local
time, e.g. ``days = "mon-fri", from = "08:00", to = "18:00", mbps = 5``. Where several apply the
lowest wins; a window whose ``to`` is before its ``from`` runs past midnight (its days are the
days it starts on).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, time
from typing import Final

DAY_NAMES: Final = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_TIME = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


class InvalidCap(ValueError):
    """A cap window that cannot be read."""


def parse_days(text: str) -> frozenset[int]:
    """``"mon-fri"``, ``"sat,sun"``, ``"fri-mon"`` (wraps), ``"daily"`` -> weekdays (Mon 0)."""
    cleaned = text.strip().lower()
    if cleaned in ("daily", "all", "*"):
        return frozenset(range(7))
    days: set[int] = set()
    for part in cleaned.split(","):
        part = part.strip()
        first, _, last = part.partition("-")
        if first not in DAY_NAMES or (last and last not in DAY_NAMES):
            raise InvalidCap(f"days {text!r}: use mon..sun, ranges like mon-fri, or daily")
        start = DAY_NAMES.index(first)
        end = DAY_NAMES.index(last) if last else start
        day = start
        days.add(day)
        while day != end:
            day = (day + 1) % 7
            days.add(day)
    return frozenset(days)


def parse_time(text: str) -> time:
    match = _TIME.match(text.strip())
    if match is None:
        raise InvalidCap(f"time {text!r}: use HH:MM, 00:00 to 23:59")
    return time(int(match.group(1)), int(match.group(2)))


@dataclass(frozen=True)
class CapWindow:
    days: frozenset[int]
    start: time
    end: time
    mbps: float

    @classmethod
    def parse(cls, days: str, start: str, end: str, mbps: float) -> CapWindow:
        if not mbps > 0:
            raise InvalidCap(f"cap {mbps!r} Mbit/s must be positive")
        first, last = parse_time(start), parse_time(end)
        if first == last:
            raise InvalidCap(f"window {start}-{end} is empty")
        return cls(parse_days(days), first, last, float(mbps))

    def applies(self, local: datetime) -> bool:
        clock = local.time().replace(second=0, microsecond=0, tzinfo=None)
        weekday = local.weekday()
        if self.start < self.end:
            return weekday in self.days and self.start <= clock < self.end
        # Past midnight: from ``start`` on a listed day to ``end`` on the next.
        if clock >= self.start:
            return weekday in self.days
        return clock < self.end and (weekday - 1) % 7 in self.days


def cap_at(local: datetime, max_mbps: float | None, windows: Sequence[CapWindow]) -> float | None:
    """The cap in Mbit/s at ``local`` (the site's local time); None when uncapped."""
    caps = [window.mbps for window in windows if window.applies(local)]
    if max_mbps is not None:
        caps.append(max_mbps)
    return min(caps, default=None)
