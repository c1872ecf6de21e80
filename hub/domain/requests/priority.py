"""The order clip jobs and uploads are served in: threat to life first, then priority, then
routine; within an urgency the oldest request first; then the request reference and the camera,
so the order is the same on every run."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Protocol, TypeVar

from hub.domain.requests.request import CameraChoice, Urgency


class Queued(Protocol):
    """Anything waiting for its turn: a clip job spec, an upload."""

    @property
    def urgency(self) -> Urgency: ...

    @property
    def requested_at(self) -> datetime: ...

    @property
    def request(self) -> str: ...

    @property
    def camera(self) -> CameraChoice: ...


_Q = TypeVar("_Q", bound=Queued)


def _request_number(reference: str) -> tuple[int, str]:
    digits = reference.rpartition("-")[2]
    return (int(digits), reference) if digits.isdigit() else (0, reference)


def priority_key(item: Queued) -> tuple[int, datetime, tuple[int, str], str]:
    """Sort key: smaller is served first."""
    return (
        item.urgency.rank,
        item.requested_at,
        _request_number(item.request),
        item.camera.label,
    )


def by_priority(items: Iterable[_Q]) -> list[_Q]:
    """``items`` in the order they are to be served."""
    return sorted(items, key=priority_key)
