"""Which source a clip job takes its footage from: the ring buffer or an NVR. Pure.

The window is cut into parts by who holds them: the ring buffer first wherever it covers, an
NVR where the buffer does not and the NVR does, nothing elsewhere (``plan_parts``). A clip is
one bitstream with one manifest, so a job takes its whole window from one source
(``choose_source``): the buffer unless an NVR holds part of the window the buffer does not and
holds at least as much of the window as the buffer does (then the NVR clip is the fuller
record); a job that names its source (``buffer`` or ``nvr``) gets that source.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final, Literal

Span = tuple[datetime, datetime]
Source = Literal["buffer", "nvr", "none"]

# Holes shorter than this (segment joins, a frame interval) do not make a part of their own.
PART_TOLERANCE: Final = timedelta(seconds=2)


@dataclass(frozen=True)
class SourcePart:
    source: Source
    start: datetime
    end: datetime


@dataclass(frozen=True)
class SourceChoice:
    source: Literal["buffer", "nvr"]
    parts: tuple[SourcePart, ...]
    why: str


def _clip(spans: Sequence[Span], start: datetime, end: datetime) -> list[Span]:
    out: list[Span] = []
    for a, b in sorted(spans):
        a, b = max(a, start), min(b, end)
        if b <= a:
            continue
        if out and a <= out[-1][1] + PART_TOLERANCE:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return out


def _covered(spans: Sequence[Span]) -> timedelta:
    return sum((b - a for a, b in spans), timedelta())


def _holes(spans: Sequence[Span], start: datetime, end: datetime) -> list[Span]:
    holes: list[Span] = []
    cursor = start
    for a, b in spans:
        if a > cursor:
            holes.append((cursor, a))
        cursor = max(cursor, b)
    if cursor < end:
        holes.append((cursor, end))
    return holes


def plan_parts(
    start: datetime, end: datetime, buffer: Sequence[Span], nvr: Sequence[Span]
) -> tuple[SourcePart, ...]:
    """The window in time order, each part marked with who holds it (buffer first)."""
    held = _clip(buffer, start, end)
    parts = [SourcePart("buffer", a, b) for a, b in held]
    for a, b in _holes(held, start, end):
        from_nvr = _clip(nvr, a, b)
        parts.extend(SourcePart("nvr", x, y) for x, y in from_nvr)
        parts.extend(SourcePart("none", x, y) for x, y in _holes(from_nvr, a, b))
    return tuple(sorted(parts, key=lambda part: part.start))


def choose_source(
    start: datetime,
    end: datetime,
    buffer: Sequence[Span],
    nvr: Sequence[Span],
    requested: str | None = None,
) -> SourceChoice:
    parts = plan_parts(start, end, buffer, nvr)
    if requested == "buffer":
        return SourceChoice("buffer", parts, "the job asks for the ring buffer")
    if requested == "nvr":
        return SourceChoice("nvr", parts, "the job asks for the NVR")
    from_nvr = [p for p in parts if p.source == "nvr"]
    if not from_nvr:
        return SourceChoice("buffer", parts, "no NVR holds footage the ring buffer lacks")
    buffer_has = _covered(_clip(buffer, start, end))
    nvr_has = _covered(_clip(nvr, start, end))
    if nvr_has >= buffer_has:
        return SourceChoice(
            "nvr",
            parts,
            f"the ring buffer holds {buffer_has.total_seconds():.0f} s of the window, the NVR"
            f" {nvr_has.total_seconds():.0f} s",
        )
    return SourceChoice(
        "buffer",
        parts,
        f"the ring buffer holds more of the window ({buffer_has.total_seconds():.0f} s) than"
        f" the NVR ({nvr_has.total_seconds():.0f} s)",
    )
