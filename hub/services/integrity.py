"""Evidence integrity: every stored item re-checked against its SHA-256, and damage made loud.

Three things check an object: the background scrub (every ``scrub_interval_hours``, at most
``scrub_mb_per_second``), ``cctv-hub verify-store``, and reads that serve evidence (a whole
download hashes what it serves; a range read needs a passed check at most ``reverify_hours`` old
and makes one first if there is none). Every result goes through ``record_check_in``: a failure
marks the object damaged (nothing serves it again until a later check passes), is logged at
ERROR and writes an ``integrity_failed`` custody row for each item with those bytes; a pass
after a failure writes ``integrity_restored``.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from typing import Final

from hub.domain.records import EvidenceCheck, EvidenceItem, StoredObject
from hub.services.custody import CustodyAction
from hub.settings import EvidenceSettings
from hub.storage.evidence.store import EvidenceStore, StoreUnavailable
from hub.storage.evidence.verify import MB, ObjectCheck, RateLimiter, ScrubCancelled, check_object
from hub.storage.ports import HubStorage, UnitOfWork

log = logging.getLogger(__name__)

# Wait this long after start before the first scrub pass, so starting up stays quick.
SCRUB_START_DELAY: Final = timedelta(seconds=30)
# Look for items that have become due at least this often.
SCRUB_POLL: Final = timedelta(minutes=10)


def record_check_in(
    uow: UnitOfWork, store_key: str, result: ObjectCheck, by: str, actor: str, now: datetime
) -> EvidenceCheck:
    """Store a check's result and its custody rows (inside the caller's write transaction)."""
    check = EvidenceCheck(store_key, now, result.ok, result.problem, by)
    previous = uow.checks.put(check)
    if not result.ok:
        for subject, named in holders_of(uow, store_key):
            uow.custody.append(
                actor,
                CustodyAction.INTEGRITY_FAILED,
                subject,
                {"store_key": store_key, "problem": result.problem, "found_by": by, **named},
                at=now,
            )
    elif previous is not None and not previous.ok:
        for subject, named in holders_of(uow, store_key):
            uow.custody.append(
                actor,
                CustodyAction.INTEGRITY_RESTORED,
                subject,
                {
                    "store_key": store_key,
                    "previous_problem": previous.problem,
                    "found_by": by,
                    **named,
                },
                at=now,
            )
    return check


def holders_of(uow: UnitOfWork, store_key: str) -> list[tuple[str, dict[str, str]]]:
    """The custody subjects of every live item kept under ``store_key``: clips, derived items
    (a row on their master naming the copy) and footage from elsewhere."""
    found: list[tuple[str, dict[str, str]]] = [
        (f"clip:{clip_id}", {}) for clip_id in uow.evidence.live_clips_with_key(store_key)
    ]
    found += [
        (f"clip:{d.clip_id}", {"derived_id": d.id}) for d in uow.derived.live_with_key(store_key)
    ]
    found += [(f"outside:{o.id}", {}) for o in uow.outside_items.live_with_key(store_key)]
    return found


def log_result(result: ObjectCheck, clips: tuple[str, ...] | list[str], by: str) -> None:
    if not result.ok:
        log.error(
            "EVIDENCE DAMAGED: clip(s) %s (store key %s): %s (found by %s); it is no longer"
            " served as evidence",
            ", ".join(clips) or "(none)",
            result.store_key,
            result.problem,
            by,
        )


def _record(
    uow: UnitOfWork, *, result: ObjectCheck, by: str, actor: str, now: datetime
) -> EvidenceCheck:
    return record_check_in(uow, result.store_key, result, by, actor, now)


@dataclass(frozen=True)
class ScrubReport:
    checked: int
    damaged: list[tuple[StoredObject, ObjectCheck]]
    bytes_read: int
    # Objects the store could not be asked about (an outage): not checked, not damaged.
    unavailable: list[tuple[StoredObject, str]] = field(default_factory=list)


def verify_store_sync(
    storage: HubStorage,
    store: EvidenceStore,
    *,
    actor: str,
    by: str,
    limiter: RateLimiter | None = None,
    now: Callable[[], datetime],
    progress: Callable[[StoredObject, ObjectCheck], None] | None = None,
) -> ScrubReport:
    """Check every live object once (blocking; for ``cctv-hub verify-store``)."""
    damaged = []
    unavailable = []
    read = 0
    objects = storage.read(lambda uow: uow.checks.objects_to_check())
    for obj in objects:
        try:
            result = check_object(store, obj.store_key, obj.sha256, obj.bytes, limiter=limiter)
        except StoreUnavailable as exc:
            log.warning("verify-store: cannot check %s now: %s", obj.store_key, exc)
            unavailable.append((obj, str(exc)))
            continue
        read += result.bytes_read
        storage.write(partial(_record, result=result, by=by, actor=actor, now=now()))
        log_result(result, obj.clip_ids, by)
        if not result.ok:
            damaged.append((obj, result))
        if progress is not None:
            progress(obj, result)
    return ScrubReport(len(objects) - len(unavailable), damaged, read, unavailable)


class IntegrityService:
    """The hub's checks: on demand for reads, and the background scrub."""

    def __init__(
        self,
        settings: EvidenceSettings,
        storage: HubStorage,
        store: EvidenceStore,
        *,
        actor: str,
        now: Callable[[], datetime],
    ) -> None:
        self.settings = settings
        self._storage = storage
        self._store = store
        self._actor = actor
        self._now = now
        self._in_flight: dict[str, asyncio.Future[EvidenceCheck]] = {}
        self._stop = threading.Event()
        self.passes = 0  # scrub passes finished, for tests and health

    # Reads.

    async def last_check(self, store_key: str) -> EvidenceCheck | None:
        return await self._storage.aread(lambda uow: uow.checks.get(store_key))

    async def fresh_check(self, item: EvidenceItem) -> EvidenceCheck:
        """A check of the item's bytes that may be served on (see ``fresh_check_of``)."""
        return await self.fresh_check_of(item.store_key, item.sha256, item.bytes, [item.clip_id])

    async def fresh_check_of(
        self, store_key: str, sha256: str, size: int, names: list[str]
    ) -> EvidenceCheck:
        """A check of stored bytes (a clip, a derived item, an outside item) that may be served
        on: the last one if recent enough, else a new one (one at a time per object, however
        many range requests wait for it)."""
        last = await self.last_check(store_key)
        if last is not None and (
            not last.ok or last.fresh(self._now(), self.settings.reverify_hours * 3600)
        ):
            return last
        running = self._in_flight.get(store_key)
        if running is None:
            running = asyncio.ensure_future(
                self.check(store_key, sha256, size, by="read", clips=names)
            )
            self._in_flight[store_key] = running
            running.add_done_callback(lambda _: self._in_flight.pop(store_key, None))
        return await asyncio.shield(running)

    async def check(
        self,
        store_key: str,
        sha256: str,
        size: int,
        *,
        by: str,
        clips: list[str] | tuple[str, ...],
        limiter: RateLimiter | None = None,
    ) -> EvidenceCheck:
        result = await asyncio.to_thread(
            check_object, self._store, store_key, sha256, size, limiter=limiter, stop=self._stop
        )
        return await self.record(result, by=by, clips=clips)

    async def record(
        self, result: ObjectCheck, *, by: str, clips: list[str] | tuple[str, ...]
    ) -> EvidenceCheck:
        now = self._now()
        check = await self._storage.awrite(
            lambda uow: record_check_in(uow, result.store_key, result, by, self._actor, now)
        )
        log_result(result, clips, by)
        return check

    # The scrub.

    async def scrub_once(self) -> ScrubReport:
        """Check every object not checked within the interval, oldest first, rate-limited."""
        due_before = self._now() - timedelta(hours=self.settings.scrub_interval_hours)
        objects = await self._storage.aread(
            lambda uow: uow.checks.objects_to_check(checked_before=due_before)
        )
        limiter = RateLimiter(self.settings.scrub_mb_per_second * MB)
        damaged = []
        read = 0
        checked = 0
        for obj in objects:
            try:
                check = await self.check(
                    obj.store_key,
                    obj.sha256,
                    obj.bytes,
                    by="scrub",
                    clips=obj.clip_ids,
                    limiter=limiter,
                )
            except StoreUnavailable as exc:
                # An outage is not damage: stop this pass, the next one tries again.
                log.warning("scrub: the evidence store is unavailable; trying later: %s", exc)
                break
            checked += 1
            read += obj.bytes
            if not check.ok:
                damaged.append((obj, ObjectCheck(obj.store_key, False, check.problem, obj.bytes)))
        self.passes += 1
        if checked:
            log.info("scrub: %s item file(s) re-hashed, %s damaged", checked, len(damaged))
        return ScrubReport(checked, damaged, read)

    async def run_scrub(self) -> None:
        """Scrub forever (a task of the hub service), with a pause between passes."""
        interval = timedelta(hours=self.settings.scrub_interval_hours)
        await asyncio.sleep(min(SCRUB_START_DELAY, interval).total_seconds())
        while True:
            try:
                await self.scrub_once()
            except ScrubCancelled:
                return
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("scrub pass failed; trying again later")
            await asyncio.sleep(min(SCRUB_POLL, interval).total_seconds())

    def stop(self) -> None:
        """Make a check that is running in a thread stop at its next block."""
        self._stop.set()
