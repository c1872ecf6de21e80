"""The gaps of a clip replayed from an NVR, each with its cause. Pure.

From the requested window, the replayed frames (their NVR times and E/D flags), the frames lost
on the way and, when the NVR's search gave them, the recorded spans of the track:

- time before the first frame and after the last one that the request covers;
- a pause between two frames longer than the tolerance, or any pause where the NVR flagged the
  end of a recorded section (E) or a discontinuity (D);
- frames lost in transfer (a packet missing from the RTP sequence), as ``nvr_replay_lost``.

A stretch the NVR has no recording of is ``nvr_not_recorded``; its reason says what shows it
(the E/D flags, the search's recorded span, or only the missing frames).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from datetime import datetime

from cctv_common.evidence.manifest import GapCause, ManifestGap
from edge_agent.nvr.depacketize import LostUnit
from edge_agent.nvr.replay import SpooledUnit
from edge_agent.nvr.rtp import utc_from_ns


def _ns(moment: datetime) -> int:
    return round(moment.timestamp() * 1e9)


def replay_gaps(
    requested: tuple[datetime, datetime],
    units: Sequence[SpooledUnit],
    lost: Sequence[LostUnit],
    recorded: tuple[datetime, datetime] | None,
    frame_ns: int,
    tolerance_ns: int,
) -> list[ManifestGap]:
    start, end = (_ns(requested[0]), _ns(requested[1]))
    gaps: list[tuple[int, int, str, GapCause]] = []
    lost_times = sorted(unit.replay.unix_ns for unit in lost if unit.replay is not None)

    def span_words() -> str:
        if recorded is None:
            return ""
        return (
            f"; the NVR's search gives the recording as {_iso(recorded[0])} to {_iso(recorded[1])}"
        )

    if not units:
        return [
            _gap(
                start,
                end,
                "the NVR sent no frames for this window" + span_words(),
                GapCause.NVR_NOT_RECORDED,
            )
        ]
    first, last_end = units[0].time_ns, units[-1].time_ns + frame_ns
    if first - start > tolerance_ns:
        gaps.append(
            (
                start,
                first,
                "no recording on the NVR before its first frame" + span_words(),
                GapCause.NVR_NOT_RECORDED,
            )
        )
    if end - last_end > tolerance_ns:
        gaps.append(
            (
                last_end,
                end,
                "no recording on the NVR after its last frame" + span_words(),
                GapCause.NVR_NOT_RECORDED,
            )
        )
    for before, after in itertools.pairwise(units):
        pause = after.time_ns - before.time_ns
        flagged = before.end_of_section or after.discontinuity
        if pause <= tolerance_ns and not (flagged and pause > frame_ns * 3 // 2):
            continue
        hole_start, hole_end = before.time_ns + frame_ns, after.time_ns
        inside = [t for t in lost_times if hole_start - frame_ns <= t < hole_end]
        if inside:
            gaps.append(
                (
                    hole_start,
                    hole_end,
                    f"{len(inside)} frame(s) lost in transfer from the NVR",
                    GapCause.NVR_REPLAY_LOST,
                )
            )
        elif flagged:
            gaps.append(
                (
                    hole_start,
                    hole_end,
                    "the NVR marks the end of a recorded section"
                    " and a discontinuity here (replay E/D flags)",
                    GapCause.NVR_NOT_RECORDED,
                )
            )
        else:
            gaps.append(
                (
                    hole_start,
                    hole_end,
                    "no frames from the NVR for this time",
                    GapCause.NVR_NOT_RECORDED,
                )
            )
    covered = [(g[0], g[1]) for g in gaps]
    for time_ns in lost_times:
        if not any(a - frame_ns <= time_ns < b for a, b in covered):
            gaps.append(
                (
                    time_ns,
                    time_ns + frame_ns,
                    "frame lost in transfer from the NVR",
                    GapCause.NVR_REPLAY_LOST,
                )
            )
    unknown = sum(1 for unit in lost if unit.replay is None)
    if unknown:
        gaps.append(
            (
                first,
                first,
                f"{unknown} frame(s) lost in transfer at unknown times",
                GapCause.NVR_REPLAY_LOST,
            )
        )
    return [_gap(*gap) for gap in sorted(gaps)]


def _gap(start: int, end: int, reason: str, cause: GapCause) -> ManifestGap:
    return ManifestGap(
        start=utc_from_ns(start), end=utc_from_ns(end), reason=reason[:200], cause=cause
    )


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")
