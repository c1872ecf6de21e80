"""What an NVR channel holds, as the status reports it: spans from the recording search, merged
and capped. Pure: ``edge_agent.nvr.coverage`` runs the searches.

A recording's span is its video track's DataFrom..DataTo (else the recording's
EarliestRecording..LatestRecording). Spans that touch or overlap within ``tolerance`` are merged
(holes longer than that stay holes: a hole is footage the NVR does not have); more than ``cap``
spans keep the newest ``cap`` and say ``truncated``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Final

from cctv_common.wire.payloads import MAX_NVR_SPANS, NvrChannelCoverage, NvrSpan
from cctv_onvif import RecordingInfo

MERGE_TOLERANCE: Final = timedelta(seconds=2)

Span = tuple[datetime, datetime]


def recording_spans(recording: RecordingInfo) -> list[Span]:
    """The spans a search result says a recording holds (none when it gives no times)."""
    spans = [
        (track.data_from, track.data_to)
        for track in recording.video_tracks
        if track.data_from is not None and track.data_to is not None
    ]
    if not spans and recording.earliest is not None and recording.latest is not None:
        spans = [(recording.earliest, recording.latest)]
    return [(start, end) for start, end in spans if end >= start]


def merge_spans(spans: Sequence[Span], tolerance: timedelta = MERGE_TOLERANCE) -> list[Span]:
    merged: list[Span] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1] + tolerance:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def cap_spans(spans: Sequence[Span], cap: int = MAX_NVR_SPANS) -> tuple[list[Span], bool]:
    """The newest ``cap`` spans (of spans in time order) and whether any were left out."""
    if len(spans) <= cap:
        return list(spans), False
    return list(spans[-cap:]), True


def channel_coverage(
    *,
    nvr_id: str,
    nvr_name: str,
    channel: int,
    method: str,
    spans: Sequence[Span],
    searched_at: datetime | None,
    error: str | None = None,
) -> NvrChannelCoverage:
    kept, truncated = cap_spans(merge_spans(spans))
    return NvrChannelCoverage.model_validate(
        {
            "nvr_id": nvr_id,
            "nvr_name": nvr_name,
            "channel": channel,
            "method": method,
            "spans": tuple(NvrSpan(start=start, end=end) for start, end in kept),
            "truncated": truncated,
            "searched_at": searched_at,
            "error": error[:300] if error else None,
        }
    )
