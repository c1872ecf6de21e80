"""NVR coverage in the status and the choice of a clip job's source: pure rules and the wire."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from cctv_common.wire.payloads import (
    MAX_NVR_SPANS,
    CameraStatus,
    InvalidPayload,
    Job,
    NvrChannelCoverage,
    SiteStatus,
)
from edge_agent.jobs.source_plan import choose_source, plan_parts
from edge_agent.nvr.coverage import bound_spans
from edge_agent.nvr.coverage_rules import channel_coverage, merge_spans

T0 = datetime(2026, 1, 10, 10, 0, 0, tzinfo=UTC)


def s(a: float, b: float) -> tuple[datetime, datetime]:
    return (T0 + timedelta(seconds=a), T0 + timedelta(seconds=b))


def test_parts_take_the_buffer_first_then_the_nvr_then_say_nothing_holds_the_rest() -> None:
    parts = plan_parts(T0, T0 + timedelta(seconds=100), [s(50, 80)], [s(0, 60), s(90, 200)])
    assert [(p.source, p.start, p.end) for p in parts] == [
        ("nvr", *s(0, 50)),
        ("buffer", *s(50, 80)),
        ("none", *s(80, 90)),
        ("nvr", *s(90, 100)),
    ]


@pytest.mark.parametrize(
    ("buffer", "nvr", "requested", "expected"),
    [
        ([s(0, 100)], [s(0, 100)], None, "buffer"),  # the buffer covers: it goes first
        ([s(60, 100)], [s(0, 100)], None, "nvr"),  # before the buffer: the NVR holds more
        ([], [s(0, 100)], "auto", "nvr"),  # only the NVR holds it
        ([s(0, 90)], [s(80, 100)], None, "buffer"),  # the buffer holds more
        ([s(0, 100)], [s(0, 100)], "nvr", "nvr"),  # named explicitly
        ([], [s(0, 100)], "buffer", "buffer"),
        ([s(0, 40), s(60, 100)], [s(0, 100)], None, "nvr"),  # a buffer gap the NVR covers
        ([s(0, 100)], [], None, "buffer"),
    ],
)
def test_the_job_source(
    buffer: list[tuple[datetime, datetime]],
    nvr: list[tuple[datetime, datetime]],
    requested: str | None,
    expected: str,
) -> None:
    choice = choose_source(T0, T0 + timedelta(seconds=100), buffer, nvr, requested)
    assert choice.source == expected and choice.why


def test_spans_merge_touching_keep_holes_and_cap_the_newest() -> None:
    assert merge_spans([s(10, 20), s(0, 9), s(21, 30), s(40, 50)]) == [s(0, 30), s(40, 50)]
    many = [s(i * 10, i * 10 + 5) for i in range(MAX_NVR_SPANS + 5)]
    item = channel_coverage(
        nvr_id="nvr-1", nvr_name="NVR", channel=1, method="onvif-replay", spans=many,
        searched_at=T0,
    )  # fmt: skip
    assert item.truncated and len(item.spans) == MAX_NVR_SPANS
    assert item.spans[-1].start == many[-1][0]  # the newest kept
    bounded = bound_spans({"cam-1": (item,), "cam-2": (item,)}, 10)
    assert all(len(x.spans) == 5 and x.truncated for xs in bounded.values() for x in xs)


def test_status_with_nvr_spans_round_trips_and_older_statuses_still_parse() -> None:
    coverage = channel_coverage(
        nvr_id="nvr-1", nvr_name="Control room", channel=3, method="onvif-replay",
        spans=[s(0, 60)], searched_at=T0,
    )  # fmt: skip
    status = SiteStatus(
        state="online",
        cameras=(
            CameraStatus(camera_id="cam-1", state="recording", nvr=(coverage,)),
            CameraStatus(camera_id="cam-9", state="nvr_only", nvr=(coverage,)),
        ),
    )
    again = SiteStatus.parse(status.to_bytes())
    assert again == status and again.cameras[1].nvr is not None
    assert again.cameras[1].nvr[0].spans[0].end == T0 + timedelta(minutes=1)
    old = b'{"v":1,"state":"online","cameras":[{"camera_id":"cam-1","state":"recording"}]}'
    assert SiteStatus.parse(old).cameras[0].nvr is None
    assert b"nvr" not in SiteStatus.parse(old).to_bytes()
    backwards = status.to_bytes().replace(
        b'"start":"2026-01-10T10:00:00', b'"start":"2026-01-11T10:00:00'
    )
    with pytest.raises(InvalidPayload):
        SiteStatus.parse(backwards)


def test_a_job_names_its_source_only_when_asked() -> None:
    job = Job(job_id="j1", camera_id="cam-1", start=T0, end=T0 + timedelta(seconds=5), reason="r")
    assert b"source" not in job.to_bytes()  # agents that predate it still read the job
    named = job.model_copy(update={"source": "nvr"})
    assert Job.parse(named.to_bytes()).source == "nvr"
    with pytest.raises(InvalidPayload):
        Job.parse(named.to_bytes().replace(b'"nvr"', b'"tape"'))
    assert NvrChannelCoverage.model_fields["spans"].default == ()
