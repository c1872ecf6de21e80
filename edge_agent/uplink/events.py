"""Stored camera events to the hub: each motion and tamper event once, in order, on
``sites/{site}/events`` (QoS 1), resuming after a restart or an outage.

The index (``SegmentIndex.events_after``) is the queue; a small cursor file
(``data_dir/events_sent.json``: the last row sent and that event's id) says how far the hub has
it. The loop reads up to ``MAX_EVENTS_PER_MESSAGE`` events after the cursor, publishes them as
one ``CameraEvents`` message (split further so none passes the payload limit), waits for the
broker's PUBACK, and only then moves the cursor on (written atomically). The broker keeps the
hub's persistent session, so a hub that is away gets them when it is back; an agent that is
offline keeps them in its index and sends them when the uplink reconnects. A crash between a
PUBACK and the cursor write sends that batch again: each event's id is a digest of its content,
and the hub stores an id once, so the repeat changes nothing.

If the cursor's row no longer holds the event it names (a new index after a disk replacement),
every event in the index is offered again and the hub keeps the ones it lacks.

Pure parts (``event_id``, ``to_item``, ``batches``) are separate from the loop.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import re
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Final

from pydantic import ValidationError

from cctv_common.clock import utc_now
from cctv_common.files import atomic_write
from cctv_common.mqtt.bridge import BridgeError
from cctv_common.wire.payloads import (
    EVENT_KEY_PATTERN,
    MAX_EVENT_DATA_ITEMS,
    MAX_EVENT_KEY_CHARS,
    MAX_EVENT_VALUE_CHARS,
    MAX_EVENTS_PER_MESSAGE,
    MAX_PAYLOAD_BYTES,
    CameraEventItem,
    CameraEvents,
)
from cctv_common.wire.topics import events_topic
from edge_agent.store.database import to_us
from edge_agent.store.segment_index import CameraEvent, SegmentIndex
from edge_agent.uplink.port import UplinkPort

log = logging.getLogger(__name__)

SENT_KINDS: Final = frozenset({"motion", "tamper"})
STATE_FILE: Final = "events_sent.json"
# How often the index is looked at for new events: an operator sees an event on the timeline
# about this long after the camera sent it. One indexed query a second costs nothing.
POLL_SECONDS: Final = 1.0
RETRY_INITIAL_SECONDS: Final = 2.0
RETRY_MAX_SECONDS: Final = 60.0
_KEY = re.compile(EVENT_KEY_PATTERN)


# Pure parts.


def event_id(event: CameraEvent) -> str:
    """A digest of the event's content: the same event always has the same id."""
    content = [
        event.camera_id,
        to_us(event.at),
        event.kind,
        event.active,
        event.topic,
        sorted(event.data.items()),
    ]
    text = json.dumps(content, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


def to_item(event: CameraEvent) -> CameraEventItem | None:
    """The event as the payload carries it (data cut to the payload's limits); None for a kind
    the hub does not show."""
    if event.kind not in SENT_KINDS:
        return None
    data = {
        key: str(value)[:MAX_EVENT_VALUE_CHARS]
        for key, value in sorted(event.data.items())
        if len(key) <= MAX_EVENT_KEY_CHARS and _KEY.match(key)
    }
    return CameraEventItem.model_validate(
        {
            "event_id": event_id(event),
            "camera_id": event.camera_id,
            "at": event.at,
            "kind": event.kind,
            "active": event.active,
            "topic": event.topic[:200] or "unknown",
            "data": dict(list(data.items())[:MAX_EVENT_DATA_ITEMS]),
        }
    )


def batches(
    items: Sequence[CameraEventItem], sent_at: datetime, max_bytes: int = MAX_PAYLOAD_BYTES
) -> list[tuple[int, bytes]]:
    """``items`` as payloads of at most ``MAX_EVENTS_PER_MESSAGE`` events and ``max_bytes``
    bytes: (how many items each holds, its bytes), in order."""
    out: list[tuple[int, bytes]] = []
    start = 0
    while start < len(items):
        count = min(MAX_EVENTS_PER_MESSAGE, len(items) - start)
        while True:
            chunk = tuple(items[start : start + count])
            data = CameraEvents(events=chunk, sent_at=sent_at).to_bytes()
            if len(data) <= max_bytes or count == 1:
                break
            count = max(1, count // 2)
        out.append((count, data))
        start += count
    return out


@dataclass(frozen=True)
class Cursor:
    """The last index row the hub has (0: none), and that event's id (to notice a new index)."""

    row: int = 0
    event_id: str = ""


# The cursor file.


def load_cursor(path: Path) -> Cursor:
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        return Cursor(int(raw["row"]), str(raw["event_id"]))
    except FileNotFoundError:
        return Cursor()
    except (OSError, ValueError, KeyError, TypeError) as exc:
        log.warning("%s is unreadable (%s): offering every stored event again", path, exc)
        return Cursor()


def save_cursor(path: Path, cursor: Cursor) -> None:
    """Write the cursor atomically: a crash leaves the old one or the new one."""
    atomic_write(path, json.dumps({"row": cursor.row, "event_id": cursor.event_id}))


class EventUplink:
    """Sends a site's stored camera events to the hub; ``run()`` until cancelled."""

    def __init__(
        self,
        site_id: str,
        index: SegmentIndex,
        publisher: UplinkPort,
        state_path: Path,
        *,
        poll_seconds: float = POLL_SECONDS,
        now: Callable[[], datetime] = utc_now,
    ) -> None:
        self.site_id = site_id
        self._index = index
        self._publisher = publisher
        self._state_path = state_path
        self._poll = poll_seconds
        self._now = now
        self._topic = events_topic(site_id)
        self.sent = 0  # events the broker took in this run, for tests and logs

    async def _checked_cursor(self) -> Cursor:
        cursor = await asyncio.to_thread(load_cursor, self._state_path)
        if cursor.row == 0:
            return cursor
        rows = await asyncio.to_thread(self._index.events_after, cursor.row - 1, 1)
        if rows and rows[0][0] == cursor.row and event_id(rows[0][1]) == cursor.event_id:
            return cursor
        log.warning(
            "site %s: the event index is not the one last sent from; offering every stored"
            " event to the hub again (it keeps each once)",
            self.site_id,
        )
        return Cursor()

    async def run(self) -> None:
        cursor = await self._checked_cursor()
        retry = RETRY_INITIAL_SECONDS
        while True:
            try:
                rows = await asyncio.to_thread(
                    self._index.events_after, cursor.row, MAX_EVENTS_PER_MESSAGE
                )
                if not rows:
                    await asyncio.sleep(self._poll)
                    continue
                cursor = await self._send(rows, cursor)
            except (BridgeError, OSError, sqlite3.Error) as exc:
                # Refused by the broker, or the cursor file or the index failed: try again.
                log.warning(
                    "site %s: camera events not sent yet: %s; again in %g s",
                    self.site_id,
                    exc,
                    retry,
                )
                await asyncio.sleep(retry)
                retry = min(retry * 2, RETRY_MAX_SECONDS)
                continue
            retry = RETRY_INITIAL_SECONDS

    async def _send(self, rows: Sequence[tuple[int, CameraEvent]], cursor: Cursor) -> Cursor:
        sendable = [(row, event, item) for row, event in rows if (item := self._item(event))]
        items = [item for _, _, item in sendable]
        done = 0
        for count, payload in batches(items, self._now()):
            await self._publisher.publish(self._topic, payload)
            done += count
            self.sent += count
            # The broker has everything up to this batch's last event: a later failure resends
            # only what follows.
            row, event, _ = sendable[done - 1]
            cursor = Cursor(row, event_id(event))
            await asyncio.to_thread(save_cursor, self._state_path, cursor)
        last_row, last_event = rows[-1]
        if cursor.row != last_row:  # rows after the last sent one hold nothing to send
            cursor = Cursor(last_row, event_id(last_event))
            await asyncio.to_thread(save_cursor, self._state_path, cursor)
        if done:
            log.info(
                "site %s: %d camera event(s) sent to the hub (up to index row %d)",
                self.site_id,
                done,
                last_row,
            )
        return cursor

    def _item(self, event: CameraEvent) -> CameraEventItem | None:
        try:
            return to_item(event)
        except ValidationError as exc:  # cannot happen for events the agent stored; never block
            log.error(
                "site %s camera %s: a stored %s event cannot be sent: %s",
                self.site_id,
                event.camera_id,
                event.kind,
                exc.errors()[0]["msg"],
            )
            return None


async def stop_task(task: asyncio.Task[None] | None) -> None:
    """Cancel the uplink's task and wait for it (a batch in flight is sent again next time)."""
    if task is None:
        return
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        pass
    except Exception:
        # A bug must not stop the agent's shutdown; it is in the log.
        log.exception("the camera event uplink had stopped with an error")
