"""The hub's upload queue rules: sending order, time left from the measured rate."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from hub.domain.upload_queue import QueuedClip, RateMeter, queue_rows

T0 = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)


def clip(
    job: str, priority: int, minutes: int, held: int = 0, total: int | None = 100
) -> QueuedClip:
    return QueuedClip(
        job_id=job,
        camera_id="cam-1",
        priority=priority,
        state="uploading",
        created_at=T0 + timedelta(minutes=minutes),
        bytes_held=held,
        bytes_total=total,
    )


def test_urgent_first_then_oldest_and_time_left_counts_what_is_ahead() -> None:
    rows = queue_rows(
        [clip("routine-old", 5, 0, held=50), clip("routine-new", 5, 1), clip("urgent", 9, 2)],
        rate=10.0,
    )
    assert [(r.clip.job_id, r.position, r.seconds_left) for r in rows] == [
        ("urgent", 1, 10.0),
        ("routine-old", 2, 15.0),
        ("routine-new", 3, 25.0),
    ]


def test_no_estimate_behind_an_uncut_clip_or_without_a_rate() -> None:
    rows = queue_rows([clip("uncut", 9, 0, total=None), clip("routine", 5, 1)], rate=10.0)
    assert [r.seconds_left for r in rows] == [None, None]
    assert [r.seconds_left for r in queue_rows([clip("a", 5, 0)], rate=0.0)] == [None]


def test_the_rate_is_over_the_last_window() -> None:
    meter = RateMeter(window=10.0)
    assert meter.rate(0.0) == 0.0
    for second in range(20):
        meter.add(1000, float(second))
    assert meter.rate(19.0) == pytest.approx(1000 * 11 / 10)
    assert meter.rate(100.0) == 0.0
