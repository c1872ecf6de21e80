"""The rig of the tests that run a whole site through real parts (``devkit.site_stack``: the hub
and the agent as processes, a real Mosquitto, a test camera): each part started and stopped one
way, for the request, delivery, ONVIF and e2e tests alike.

Each is a context manager, so a test module's fixture is ``with ... as part: yield part`` at the
scope it wants. Nothing here asserts on how long anything took: waits have a generous guard.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Final, TypeVar

from devkit.local_broker import HUB_USER, MosquittoBroker
from devkit.site_stack import SiteStack, StackError
from devkit.testcam import TestCamera

GUARD_SECONDS: Final = 90.0  # safety limit for waits; nothing asserts on durations
T = TypeVar("T")
Broker = TypeVar("Broker", bound=MosquittoBroker)


@contextmanager
def site_broker(
    kind: Callable[[Path, dict[str, str]], Broker], folder: Path, *site_ids: str
) -> Iterator[Broker]:
    """A started broker of ``kind`` (``MosquittoBroker``, ``DeployConfigBroker``) with the hub's
    user and one per site (or other user) named, random passwords; stopped at the end (killed if
    it does not stop), also when a test left it stopped."""
    users = {name: secrets.token_urlsafe(18) for name in (HUB_USER, *site_ids)}
    broker = kind(folder, users)
    broker.start()
    try:
        yield broker
    finally:
        try:
            broker.stop()
        finally:
            broker.kill()


@contextmanager
def running_camera(**settings: Any) -> Iterator[TestCamera]:
    """A started test camera (``TestCamera``'s settings), stopped at the end."""
    camera = TestCamera(**settings)
    camera.start()
    try:
        yield camera
    finally:
        camera.stop()


@contextmanager
def running_stack(stack: SiteStack) -> Iterator[SiteStack]:
    """``stack`` started (hub, then agent); closed at the end, also when its start failed."""
    try:
        stack.start()
        yield stack
    finally:
        stack.close()


def wait_on_stack(stack: SiteStack, check: Callable[[], T | None], what: str) -> T:
    """``check()``'s first truthy value, polled while both processes stay alive (a dead one fails
    at once with its own reason); StackError naming ``what`` after the guard."""
    deadline = time.monotonic() + GUARD_SECONDS
    while time.monotonic() < deadline:
        stack.check_alive()
        value = check()
        if value:
            return value
        time.sleep(0.2)
    raise StackError(f"timed out waiting for {what}; see {stack.agent.log_path}")
