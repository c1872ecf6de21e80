"""Clip jobs are served threat to life first, then priority, then routine, then by age."""

from __future__ import annotations

from datetime import timedelta

from hub.domain.requests.decision import ClipJobSpec
from hub.domain.requests.priority import by_priority
from hub.domain.requests.request import CameraChoice, IncidentWindow, Urgency
from tests.support.request_kit import CAM1, CAM2, NOW

WINDOW = IncidentWindow(NOW - timedelta(hours=1), NOW)


def job(
    reference: str, urgency: Urgency, age_minutes: int, camera: CameraChoice = CAM1
) -> ClipJobSpec:
    return ClipJobSpec(
        reference,
        camera,
        WINDOW,
        urgency,
        NOW - timedelta(minutes=age_minutes),
        "dc-smith",
    )


def test_urgency_then_age() -> None:
    jobs = [
        job("R-1", Urgency.ROUTINE, 300),
        job("R-2", Urgency.PRIORITY, 10),
        job("R-3", Urgency.THREAT_TO_LIFE, 1),
        job("R-4", Urgency.PRIORITY, 60),
        job("R-5", Urgency.ROUTINE, 5),
        job("R-6", Urgency.THREAT_TO_LIFE, 30),
    ]
    assert [j.request for j in by_priority(jobs)] == ["R-6", "R-3", "R-4", "R-2", "R-1", "R-5"]


def test_ties_are_broken_by_request_number_then_camera() -> None:
    jobs = [
        job("R-10", Urgency.ROUTINE, 5, CAM2),
        job("R-10", Urgency.ROUTINE, 5, CAM1),
        job("R-9", Urgency.ROUTINE, 5, CAM2),
        job("odd", Urgency.ROUTINE, 5, CAM1),
    ]
    ordered = [(j.request, j.camera) for j in by_priority(jobs)]
    assert ordered == [("odd", CAM1), ("R-9", CAM2), ("R-10", CAM1), ("R-10", CAM2)]


def test_empty() -> None:
    assert by_priority([]) == []
