"""Refused messages are counted, and a flood of them makes one log line a minute per kind."""

from __future__ import annotations

import logging

import pytest

from cctv_common.refusals import Refusals


def test_a_flood_is_counted_and_logged_once_per_interval(caplog: pytest.LogCaptureFixture) -> None:
    now = [1000.0]
    refusals = Refusals(logging.getLogger("test.refusals"), interval=60.0, clock=lambda: now[0])
    with caplog.at_level(logging.WARNING, logger="test.refusals"):
        logged = [refusals.refuse("offer", "offer %d refused", n) for n in range(10_000)]
        assert refusals.refuse("ack", "an ack refused")  # another kind has its own line
        now[0] += 60.0
        assert refusals.refuse("offer", "offer %s refused", "late")
    assert logged.count(True) == 1
    assert refusals.counts == {"offer": 10_001, "ack": 1}
    assert refusals.total == 10_002
    lines = [record.getMessage() for record in caplog.records]
    assert lines == [
        "offer 0 refused",
        "an ack refused",
        "offer late refused (9999 more refused as offer since the last line)",
    ]
