"""Waiting on a condition, the one way the tests, the benches and the demo do it.

A wait polls until the condition holds and fails with what it was waiting for once a generous
deadline passes; nothing ever asserts on how long it took. ``check`` runs before each poll (e.g.
"the agent process is still alive"), so a dead process fails the wait at once with its own reason.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Final

# A safety limit, far above what anything normally takes, so a loaded machine never fails a test.
WAIT_SECONDS: Final = 60.0


class WaitTimedOut(AssertionError):
    """The condition did not hold before the deadline; the message says what was awaited."""


def wait_until(
    condition: Callable[[], object],
    what: str,
    timeout: float = WAIT_SECONDS,
    *,
    poll: float = 0.05,
    check: Callable[[], None] | None = None,
) -> None:
    """Block until ``condition()`` is truthy, or raise ``WaitTimedOut``."""
    deadline = time.monotonic() + timeout
    while True:
        if check is not None:
            check()
        if condition():
            return
        if time.monotonic() > deadline:
            raise WaitTimedOut(f"timed out waiting for {what}")
        time.sleep(poll)


async def until(
    condition: Callable[[], object],
    what: str,
    within: float = WAIT_SECONDS,
    *,
    poll: float = 0.05,
) -> None:
    """``wait_until`` for a coroutine: sleeps on the event loop between polls."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not condition():
        if loop.time() > deadline:
            raise WaitTimedOut(f"timed out waiting for {what}")
        await asyncio.sleep(poll)
