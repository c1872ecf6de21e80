"""How much of the asked-for window a stored clip really holds: pure rules, no I/O.

A clip's manifest gives the requested window, the delivered window (keyframe-aligned, so it may
start before the request and end after it) and the gaps inside it, each with its cause from
``GapCause`` (older manifests give only a ``reason`` in words). ``assess`` turns that into a
``Delivery``: requested seconds, covered seconds, whether the request is complete, and the gaps
to show, each clipped to the requested window with its length and its cause in words.

Arithmetic:

- Only the requested window counts. Footage the keyframe alignment added before the start or
  after the end is not "extra coverage", and a gap lying wholly outside the request is not shown.
- Missing time is the union of the gaps (clipped to the request), so gaps that overlap are not
  counted twice, plus any part of the request outside the delivered window that no gap explains.
  Such an edge is shown as a gap of its own when it is longer than ``edge_tolerance`` (the last
  frame's duration and a keyframe's rounding are not footage anyone lost).
- A ``camera_clock_jump`` gap is a note, not missing footage (no frame was lost); it is listed and
  does not make the delivery incomplete.
- A gap of zero length loses nothing and is not listed.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

from cctv_common.evidence.manifest import GapCause

SITE_BUFFER_WORDS: Final = "site buffer"
METHOD_WORDS: Final = {
    "onvif-replay": "ONVIF replay",
    "hikvision-playback": "Hikvision playback URL",
    "dahua-playback": "Dahua playback URL",
}

# Shorter shortfalls at the window's edges are frame timing, not missing footage (a frame lasts
# 40 ms at 25 fps; 0.25 s covers a slow 4 fps camera's frame as well).
EDGE_TOLERANCE: Final = timedelta(seconds=0.25)

CAUSE_WORDS: Final[dict[GapCause, str]] = {
    GapCause.CAMERA_UNREACHABLE: "camera unreachable",
    GapCause.STREAM_STALLED: "camera stream stalled",
    GapCause.CAMERA_CLOCK_JUMP: "camera clock jumped (no frames lost)",
    GapCause.DISK_FULL: "site disk full",
    GapCause.AGENT_STOPPED: "recording agent stopped",
    GapCause.BEFORE_BUFFER: "before the oldest footage the site held",
    GapCause.RETENTION: "footage already deleted by retention",
    GapCause.NVR_NOT_RECORDED: "the NVR holds no recording of this time",
    GapCause.NVR_REPLAY_LOST: "lost in replay from the NVR",
}
BEFORE_CLIP_WORDS: Final = "no footage before the clip's first frame"
AFTER_CLIP_WORDS: Final = "no footage after the clip's last frame"


@dataclass(frozen=True)
class GapFact:
    """A gap as a manifest states it."""

    start: datetime
    end: datetime
    reason: str = ""
    cause: GapCause | None = None


@dataclass(frozen=True)
class DeliveryGap:
    """A gap as shown to a user: within the requested window, with its cause in words."""

    start: datetime
    end: datetime
    cause: GapCause | None
    words: str
    missing: bool  # False for a note (a clock jump in which no frame was lost)

    @property
    def seconds(self) -> float:
        return (self.end - self.start).total_seconds()


@dataclass(frozen=True)
class Delivery:
    requested_start: datetime
    requested_end: datetime
    delivered_start: datetime
    delivered_end: datetime
    requested_seconds: float
    covered_seconds: float
    complete: bool
    gaps: tuple[DeliveryGap, ...]
    frames: int | None
    source: str = SITE_BUFFER_WORDS  # where the clip came from, from the signed manifest

    @property
    def missing_gaps(self) -> int:
        return sum(1 for gap in self.gaps if gap.missing)

    @property
    def summary(self) -> str:
        """'all 15 min', or '12 min 40 s of 15 min; 2 gaps'."""
        if self.complete:
            return f"all {duration_text(self.requested_seconds)}"
        count = self.missing_gaps
        gaps = f"{count} gap" if count == 1 else f"{count} gaps"
        covered = duration_text(self.covered_seconds, round_down=True)
        return f"{covered} of {duration_text(self.requested_seconds)}; {gaps}"


def source_words(nvr: Any) -> str:
    """Where a clip came from, from its manifest's ``nvr`` part (absent: the site's own ring
    buffer): 'NVR nvr-1, Acme NVR-8, channel 3 (ONVIF replay)'."""
    if not isinstance(nvr, Mapping):
        return SITE_BUFFER_WORDS
    method = str(nvr.get("method") or "")
    words = [f"NVR {str(nvr.get('nvr_id') or '?')[:64]}"]
    maker = " ".join(
        str(nvr.get(key) or "")[:60] for key in ("manufacturer", "model") if nvr.get(key)
    )
    if maker:
        words.append(maker)
    channel = nvr.get("channel")
    if isinstance(channel, int) and not isinstance(channel, bool):
        words.append(f"channel {channel}")
    return f"{', '.join(words)} ({METHOD_WORDS.get(method, method[:40] or 'replay')})"


def cause_words(cause: GapCause | None, reason: str) -> str:
    """A gap's cause for a reader: the closed list's words, else the manifest's own reason."""
    if cause is not None:
        return CAUSE_WORDS[cause]
    return reason.strip() or "no footage"


def assess(
    requested: tuple[datetime, datetime],
    delivered: tuple[datetime, datetime],
    gaps: Sequence[GapFact],
    frames: int | None = None,
    *,
    edge_tolerance: timedelta = EDGE_TOLERANCE,
    source: str = SITE_BUFFER_WORDS,
) -> Delivery:
    """The delivery of one clip: see the module docstring for the arithmetic."""
    start, end = requested
    shown: list[DeliveryGap] = []
    for gap in gaps:
        clipped = _clip(gap.start, gap.end, start, end)
        if clipped is None:
            continue
        missing = gap.cause is not GapCause.CAMERA_CLOCK_JUMP
        words = cause_words(gap.cause, gap.reason)
        shown.append(DeliveryGap(clipped[0], clipped[1], gap.cause, words, missing))
    explained = [(gap.start, gap.end) for gap in shown if gap.missing]
    edges = (
        (_clip(start, delivered[0], start, end), BEFORE_CLIP_WORDS),
        (_clip(delivered[1], end, start, end), AFTER_CLIP_WORDS),
    )
    for edge, words in edges:
        if edge is None:
            continue
        for part in _subtract(edge, explained):
            if part[1] - part[0] > edge_tolerance:
                shown.append(DeliveryGap(part[0], part[1], None, words, True))
    shown.sort(key=lambda gap: (gap.start, gap.end))
    requested_seconds = max(0.0, (end - start).total_seconds())
    lost = _union_seconds((gap.start, gap.end) for gap in shown if gap.missing)
    return Delivery(
        requested_start=start,
        requested_end=end,
        delivered_start=delivered[0],
        delivered_end=delivered[1],
        requested_seconds=requested_seconds,
        covered_seconds=max(0.0, requested_seconds - lost),
        complete=not any(gap.missing for gap in shown),
        gaps=tuple(shown),
        frames=frames,
        source=source,
    )


def duration_text(seconds: float, *, round_down: bool = False) -> str:
    """'0.4 s', '19.5 s', '12 min 40 s', '15 min', '1 h 2 min 5 s'.

    ``round_down`` for what was covered: a clip 0.3 s short of 15 min must not read '15 min'.
    Lengths of gaps round up (``gap_text``), so a gap never reads '0 s'.
    """
    seconds = max(0.0, seconds)
    if seconds < 60:
        tenths = math.floor(seconds * 10 + 1e-6) if round_down else round(seconds * 10)
        if tenths >= 600:
            return "1 min"
        return f"{tenths / 10:g} s"
    whole = math.floor(seconds + 1e-6) if round_down else round(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [f"{hours} h" if hours else "", f"{minutes} min" if minutes else "", f"{secs} s"]
    if secs == 0:
        parts[2] = ""
    return " ".join(part for part in parts if part)


def gap_text(seconds: float) -> str:
    """A gap's length, rounded up to a tenth of a second below a minute."""
    if seconds < 60:
        return f"{max(1, math.ceil(seconds * 10 - 1e-6)) / 10:g} s"
    return duration_text(math.ceil(seconds - 1e-6))


def _clip(
    start: datetime, end: datetime, lower: datetime, upper: datetime
) -> tuple[datetime, datetime] | None:
    """[start, end) within [lower, upper), or None when nothing of it is left."""
    clipped = (max(start, lower), min(end, upper))
    return clipped if clipped[1] > clipped[0] else None


def _merged(spans: Iterable[tuple[datetime, datetime]]) -> list[tuple[datetime, datetime]]:
    merged: list[tuple[datetime, datetime]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def _union_seconds(spans: Iterable[tuple[datetime, datetime]]) -> float:
    return sum((end - start).total_seconds() for start, end in _merged(spans))


def _subtract(
    span: tuple[datetime, datetime], holes: Iterable[tuple[datetime, datetime]]
) -> list[tuple[datetime, datetime]]:
    """The parts of ``span`` that none of ``holes`` covers."""
    parts: list[tuple[datetime, datetime]] = []
    cursor, end = span
    for hole_start, hole_end in _merged(holes):
        if hole_end <= cursor or hole_start >= end:
            continue
        if hole_start > cursor:
            parts.append((cursor, hole_start))
        cursor = max(cursor, hole_end)
    if cursor < end:
        parts.append((cursor, end))
    return parts
