"""The agent's side of legal holds (``sites/{site}/holds/{hold}``, retained, hub-signed).

When a data controller approves a footage request, the hub publishes a ``HoldOrder`` per camera;
when the request is closed it publishes the same order with ``lifted`` true. ``HoldKeeper``:

- opens each order with the hub's key for its topic (``HubVerifier.open``); an unsigned, forged,
  misrouted (another site's, or naming another hold than its topic) or malformed order is refused
  with a rate-limited log line (``HoldKeeper.refusals``) and changes nothing. An empty retained
  message (a clear) is not signed, so it never lifts anything;
- refuses a hold for a camera this site neither records nor has footage of (nothing to keep);
- places the hold in the index (``EdgeHolds.place``): from then on retention treats it as a pin,
  across restarts, until a signed lifted order arrives (``EdgeHolds.lift``). A lifted hold stays
  lifted: the old placed order replayed never pins again. Redelivery (every reconnect brings the
  retained orders again) changes nothing and logs nothing above debug;
- after any change asks the uplink for a status at once, whose ``holds`` list what is in force
  (``held_windows``), so the hub confirms the hold without waiting for the next heartbeat.

Orders are applied one at a time, in the order they arrived, in a worker thread (SQLite with
``synchronous=FULL`` must not block the loop).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, Final

from cctv_common.clock import iso_utc, utc_now
from cctv_common.refusals import Refusals
from cctv_common.wire.hub_signing import HubVerifier
from cctv_common.wire.payloads import MAX_HELD_WINDOWS, HeldWindow, HoldOrder, InvalidPayload
from cctv_common.wire.topics import HoldTopic
from edge_agent.config import AgentConfig
from edge_agent.store.holds import EdgeHold, HoldChange
from edge_agent.store.segment_index import IndexWriteFailed, SegmentIndex

log = logging.getLogger(__name__)

# What each change is worth a log line at (redelivery of what the agent knows is routine).
_LEVELS: Final = {
    HoldChange.PLACED: logging.INFO,
    HoldChange.CHANGED: logging.WARNING,
    HoldChange.KNOWN: logging.DEBUG,
    HoldChange.ALREADY_LIFTED: logging.INFO,
    HoldChange.LIFTED: logging.INFO,
    HoldChange.UNKNOWN_LIFTED: logging.INFO,
}


class HoldKeeper:
    """Takes the hub's hold orders for one site and keeps them in the segment index."""

    def __init__(
        self,
        *,
        config: AgentConfig,
        index: SegmentIndex,
        hub: HubVerifier,
        on_change: Callable[[], None] | None = None,
        now: Callable[[], datetime] = utc_now,
    ) -> None:
        self.site_id = config.site_id
        # Cameras this site records, and cameras only an NVR records (held for their NVR clip).
        self._cameras = frozenset(camera.id for camera in config.cameras) | frozenset(
            channel.camera for nvr in config.nvrs for channel in nvr.channels
        )
        self._index = index
        self._hub = hub
        self._on_change = on_change
        self._now = now
        # Unsigned, forged, misrouted and malformed orders: counted, logged at most once a minute.
        self.refusals = Refusals(log)
        self._lock = asyncio.Lock()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._stopping = False

    def handle(self, topic: HoldTopic, payload: bytes, retained: bool = False) -> None:
        """A message on ``sites/{site}/holds/{hold}`` (on the loop). Never raises."""
        if self._stopping:
            return
        if topic.site != self.site_id:
            self.refusals.refuse(
                "hold-site",
                "site %s: hold for site %s refused (%s)",
                self.site_id,
                topic.site,
                topic,
            )
            return
        if not payload:
            log.debug(
                "site %s hold %s: retained message cleared; a hold is lifted only by the hub's"
                " signed order",
                self.site_id,
                topic.hold,
            )
            return
        try:
            order = self._hub.open(str(topic), payload, HoldOrder)
        except InvalidPayload as exc:
            self.refusals.refuse(
                "hold",
                "site %s hold %s: order refused, not acted on: %s",
                self.site_id,
                topic.hold,
                exc,
            )
            return
        if order.hold_id != topic.hold:
            self.refusals.refuse(
                "hold-misrouted",
                "site %s hold %s: order refused: its payload names hold %s",
                self.site_id,
                topic.hold,
                order.hold_id,
            )
            return
        task = asyncio.ensure_future(self._apply(order))
        task.set_name(f"hold-{order.hold_id}")
        self._tasks.add(task)
        task.add_done_callback(self._done)

    async def wait_idle(self) -> None:
        """Until every order received so far is applied (tests, and a clean stop)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def stop(self) -> None:
        self._stopping = True
        await self.wait_idle()

    async def _apply(self, order: HoldOrder) -> None:
        async with self._lock:
            hold = EdgeHold(
                hold_id=order.hold_id,
                camera_id=order.camera_id,
                start=order.window_start,
                end=order.window_end,
                reason_ref=order.reason_ref,
                placed_at=order.placed_at,
                received_at=self._now(),
            )
            try:
                if order.lifted:
                    change = await asyncio.to_thread(self._index.holds.lift, hold, self._now())
                else:
                    if not await asyncio.to_thread(self._records, order.camera_id):
                        self.refusals.refuse(
                            "hold-camera",
                            "site %s hold %s: refused: camera %s is not recorded at this site",
                            self.site_id,
                            order.hold_id,
                            order.camera_id,
                        )
                        return
                    change = await asyncio.to_thread(self._index.holds.place, hold)
            except IndexWriteFailed as exc:
                log.error(
                    "site %s hold %s: not %s: %s; the hub's retained order comes again at the"
                    " next reconnect",
                    self.site_id,
                    order.hold_id,
                    "lifted" if order.lifted else "placed",
                    exc,
                )
                return
            await self._report(hold, change)

    def _records(self, camera_id: str) -> bool:
        """Whether this site records ``camera_id`` or still has footage of it (blocking)."""
        return camera_id in self._cameras or self._index.buffer_extent(camera_id) is not None

    async def _report(self, hold: EdgeHold, change: HoldChange) -> None:
        log.log(
            _LEVELS[change],
            "site %s hold %s: %s: camera %s, %s to %s (%s)",
            self.site_id,
            hold.hold_id,
            change.value,
            hold.camera_id,
            iso_utc(hold.start),
            iso_utc(hold.end),
            hold.reason_ref,
        )
        if change is HoldChange.PLACED:
            horizon = await asyncio.to_thread(self._index.retention_horizon, hold.camera_id)
            if horizon is not None and horizon > hold.start:
                log.warning(
                    "site %s hold %s: camera %s footage before %s was overwritten before the"
                    " hold arrived",
                    self.site_id,
                    hold.hold_id,
                    hold.camera_id,
                    iso_utc(min(horizon, hold.end)),
                )
        if change in (HoldChange.PLACED, HoldChange.CHANGED, HoldChange.LIFTED):
            if self._on_change is not None:
                self._on_change()

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("site %s: %s failed: %r", self.site_id, task.get_name(), task.exception())


def held_windows(holds: Sequence[EdgeHold], site_id: str = "-") -> tuple[HeldWindow, ...]:
    """The status's ``holds``: each hold in force, at most ``MAX_HELD_WINDOWS`` (oldest first)."""
    in_force = [hold for hold in holds if hold.in_force]
    if len(in_force) > MAX_HELD_WINDOWS:
        log.warning(
            "site %s: %d holds in force, the status reports the first %d",
            site_id,
            len(in_force),
            MAX_HELD_WINDOWS,
        )
    return tuple(
        HeldWindow(
            hold_id=hold.hold_id,
            camera_id=hold.camera_id,
            window_start=hold.start,
            window_end=hold.end,
        )
        for hold in in_force[:MAX_HELD_WINDOWS]
    )
