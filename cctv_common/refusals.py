"""Counting refused inbound messages, with a log line that a flood cannot multiply.

Malformed, unsigned or forged MQTT messages are refused without a custody row and without a
traceback: each is counted by kind, and the log gets at most one line per kind per ``interval``
seconds, which says how many more of that kind were refused since the last line. A junk flood
therefore costs a counter increment each, not a disk write.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable
from typing import Final

LOG_INTERVAL_SECONDS: Final = 60.0


class Refusals:
    """Per-kind counts of refused messages, and rate-limited warnings about them."""

    def __init__(
        self,
        logger: logging.Logger,
        *,
        interval: float = LOG_INTERVAL_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._log = logger
        self._interval = interval
        self._clock = clock
        self.counts: Counter[str] = Counter()
        self._last_logged: dict[str, float] = {}
        self._unlogged: Counter[str] = Counter()

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def refuse(self, kind: str, message: str, *args: object) -> bool:
        """Count one refusal of ``kind``; log ``message % args`` unless one was logged lately.

        ``kind`` must come from a small fixed set chosen by the caller (never from the message),
        so that the tables stay small. Returns whether a line was logged.
        """
        self.counts[kind] += 1
        now = self._clock()
        last = self._last_logged.get(kind)
        if last is not None and now - last < self._interval:
            self._unlogged[kind] += 1
            return False
        self._last_logged[kind] = now
        unlogged = self._unlogged.pop(kind, 0)
        if unlogged:
            self._log.warning(
                message + " (%d more refused as %s since the last line)", *args, unlogged, kind
            )
        else:
            self._log.warning(message, *args)
        return True
