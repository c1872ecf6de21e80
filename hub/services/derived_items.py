"""Derived items made and kept at the hub (issue 12): a court H.264 copy, a copy with the time
burnt in, or a redacted copy of a master, never replacing it.

``order`` records the item as ``working`` and returns at once; the copy is made in a worker
thread (``hub.exhibits.derive``: PyAV and OpenCV, seconds to minutes), one at a time so that
two cores are not swamped, from the master read out of the evidence store. When it is whole its
video enters the evidence store under its own SHA-256, and the item becomes ``ready`` with its
hub-signed manifest together with its custody row (``derive`` or ``redact`` on the master) in one
unit of work. A failure leaves the item ``failed`` with the reason, a log line and a custody row,
and nothing in the store; an item left ``working`` by a stopped hub is marked failed at start.
"""

from __future__ import annotations

import asyncio
import logging
import re
import shutil
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Final

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from cctv_common.evidence.manifest import InvalidManifest, Manifest
from hub.domain.derived_items import (
    DerivedItem,
    DerivedState,
    DeriveOrder,
    check_order,
    custody_action,
    new_derived_id,
)
from hub.domain.records import EvidenceItem
from hub.exhibits.derive.operations import DerivedResult, DeriveJob, derive
from hub.exhibits.derive.redaction import (
    FixedBox,
    FollowingBox,
    RedactionError,
    RedactionPlan,
)
from hub.exhibits.derive.video_pass import DeriveError
from hub.settings_database import WORKER_PATTERN
from hub.storage.evidence.store import EvidenceStore, StoreError
from hub.storage.ports import HubStorage, UnitOfWork

log = logging.getLogger(__name__)

WORK_FOLDER: Final = "derived-work"
PROGRESS_STEP: Final = 5  # percent; and at most one progress write a second


@dataclass
class Progress:
    percent: int
    at: float  # time.monotonic() of the last write


_EXPECTED: Final = (DeriveError, RedactionError, StoreError, InvalidManifest, OSError, ValueError)


@dataclass(frozen=True)
class DeriveSettings:
    data_dir: Path  # the work folder is data_dir/derived-work
    hub_id: str
    hub_key: Ed25519PrivateKey
    # With several hub workers on one data_dir: this worker's id. Its work folder is then
    # data_dir/derived-work/<worker>, and at start it fails only the items it was making.
    worker: str | None = None


def redaction_plan(order: DeriveOrder) -> RedactionPlan:
    fixed, following = [], []
    for box in order.boxes:
        rect = (box.x, box.y, box.w, box.h)
        if box.follow:
            at = box.at_s if box.at_s is not None else (box.from_s or 0.0)
            following.append(FollowingBox(rect, at))
        else:
            fixed.append(FixedBox(rect, box.from_s or 0.0, box.to_s))
    return RedactionPlan(faces=order.faces, fixed=tuple(fixed), following=tuple(following))


def _expected_frames(item: EvidenceItem) -> int | None:
    """About how many frames the master holds (for progress), from its signed manifest."""
    try:
        manifest = Manifest.parse(item.manifest.encode("utf-8"))
    except (InvalidManifest, ValueError):
        return None
    if manifest.frames:
        return manifest.frames
    seconds = (item.delivered_end - item.delivered_start).total_seconds()
    return int(seconds * manifest.fps) if manifest.fps and seconds > 0 else None


class DerivedItemService:
    def __init__(
        self,
        storage: HubStorage,
        store: EvidenceStore,
        settings: DeriveSettings,
        *,
        now: Callable[[], datetime],
    ) -> None:
        self._storage = storage
        self._store = store
        self._settings = settings
        self._now = now
        self._work = settings.data_dir / WORK_FOLDER
        if settings.worker:
            self._work /= settings.worker
        self._tasks: set[asyncio.Task[None]] = set()
        self._turn: asyncio.Lock | None = None

    async def start(self) -> int:
        """Mark items a stopped hub left half made as failed; clear the work folder."""
        # Each item this worker was making left its mark in its work folder (from its order to
        # its end); another worker's items are that worker's to finish.
        mine = None
        if self._settings.worker:
            mine = set(await asyncio.to_thread(_ordered, self._work))
        return await self._fail_left(self._work, mine, "the hub stopped while it was being made")

    async def fail_orphans(self, alive: Callable[[], Awaitable[set[str]]]) -> int:
        """Fail the items that hub workers no longer running (killed, not started again) were
        making, and clear their work folders. Several workers only (each its own folder)."""
        if not self._settings.worker:
            return 0
        running = await alive()
        failed = 0
        for folder in await asyncio.to_thread(_worker_folders, self._work.parent):
            if folder.name not in running:
                marked = set(await asyncio.to_thread(_ordered, folder))
                why = f"hub worker {folder.name} stopped while it was being made"
                failed += await self._fail_left(folder, marked, why)
        return failed

    async def _fail_left(self, work: Path, marked: set[str] | None, why: str) -> int:
        """Fail the items still working that are ``marked`` (None: every one); remove
        ``work``."""
        now = self._now()

        def fail(uow: UnitOfWork) -> int:
            stale = [
                item
                for item in uow.derived.in_state(DerivedState.WORKING)
                if marked is None or item.id in marked
            ]
            for item in stale:
                uow.derived.fail(item.id, why, now)
            return len(stale)

        failed = await self._storage.awrite(fail)
        if failed:
            log.warning("%d derived item(s) left half made marked failed: %s", failed, why)
        await asyncio.to_thread(shutil.rmtree, work, True)
        return failed

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            try:
                await task
            except asyncio.CancelledError:
                pass

    async def order(self, item: EvidenceItem, order: DeriveOrder, by: str) -> DerivedItem:
        """Record a new item as ``working`` and start making it; ``DeriveRefused`` if the order
        cannot be carried out on this master."""
        checked = check_order(order, width=item.width, height=item.height)
        record = DerivedItem(
            id=new_derived_id(),
            clip_id=item.clip_id,
            source_sha256=item.sha256,
            operation=checked.operation,
            state=DerivedState.WORKING,
            created_by=by,
            created_at=self._now(),
            reason=checked.reason,
            plan=checked.plan(),
        )
        await self._storage.awrite(lambda uow: uow.derived.add(record))
        await asyncio.to_thread(_mark, self._work, record.id)
        task = asyncio.get_running_loop().create_task(
            self._make(record, item, checked), name=f"derive-{record.id}"
        )
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        log.info("clip %s: %s ordered a %s copy %s", item.clip_id, by, record.operation, record.id)
        return record

    async def get(self, derived_id: str) -> DerivedItem | None:
        return await self._storage.aread(lambda uow: uow.derived.get(derived_id))

    async def of_clip(self, clip_id: str) -> list[DerivedItem]:
        return await self._storage.aread(lambda uow: uow.derived.of_clips([clip_id]))

    async def idle(self) -> None:
        """Wait until every item ordered in this process is made or failed (for tests, stop)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def _make(self, record: DerivedItem, item: EvidenceItem, order: DeriveOrder) -> None:
        try:
            await self._make_once(record, item, order)
        finally:
            await asyncio.to_thread(_unmark, self._work, record.id)

    async def _make_once(self, record: DerivedItem, item: EvidenceItem, order: DeriveOrder) -> None:
        if self._turn is None:
            self._turn = asyncio.Lock()
        try:
            async with self._turn:
                result, size = await asyncio.to_thread(self._make_blocking, record, item, order)
        except _EXPECTED as exc:
            await self._failed(record, str(exc))
            return
        except asyncio.CancelledError:
            await asyncio.shield(self._failed(record, "the hub stopped while it was being made"))
            raise
        except Exception as exc:  # a bug must not leave the item "working" for ever
            log.exception("derived item %s of clip %s failed", record.id, record.clip_id)
            await self._failed(record, f"internal error: {type(exc).__name__}")
            return
        await self._ready(record, result, size)

    def _make_blocking(
        self, record: DerivedItem, item: EvidenceItem, order: DeriveOrder
    ) -> tuple[DerivedResult, int]:
        out_dir = self._work / record.id
        self._work.mkdir(parents=True, exist_ok=True, mode=0o700)
        shutil.rmtree(out_dir, ignore_errors=True)
        expected = _expected_frames(item)

        kept = Progress(0, time.monotonic())

        def on_frame(frames: int) -> None:
            percent = min(99, frames * 100 // expected) if expected else 0
            if percent - kept.percent >= PROGRESS_STEP and time.monotonic() - kept.at >= 1.0:
                kept.percent, kept.at = percent, time.monotonic()
                self._storage.write(lambda uow: uow.derived.set_progress(record.id, percent))

        try:
            with self._store.open(item.store_key) as source:
                result = derive(
                    DeriveJob(
                        operation=record.operation,
                        source=source,
                        source_manifest_bytes=item.manifest.encode("utf-8"),
                        out_dir=out_dir,
                        hub_id=self._settings.hub_id,
                        hub_key=self._settings.hub_key,
                        created_by=record.created_by,
                        created_at=record.created_at,
                        redaction=redaction_plan(order),
                        item_id=record.id,
                        on_frame=on_frame,
                    )
                )
            self._store.put_file(out_dir / "derived.mp4", result.sha256)
        finally:
            shutil.rmtree(out_dir, ignore_errors=True)
        return result, self._store.size(result.sha256)

    def _detail(self, record: DerivedItem) -> dict[str, Any]:
        detail: dict[str, Any] = {
            "derived_id": record.id,
            "operation": record.operation,
            "source_sha256": record.source_sha256,
        }
        if record.reason:
            detail["reason"] = record.reason
        return detail

    async def _ready(self, record: DerivedItem, result: DerivedResult, size: int) -> None:
        now = self._now()
        manifest = result.signed.manifest_bytes
        detail = {**self._detail(record), "sha256": result.sha256, "bytes": size, **result.stats}

        def work(uow: UnitOfWork) -> DerivedItem:
            done = uow.derived.finish(
                record.id,
                sha256=result.sha256,
                size=size,
                manifest=manifest,
                signature=result.signed.signature,
                now=now,
            )
            uow.custody.append(
                record.created_by,
                custody_action(record.operation),
                f"clip:{record.clip_id}",
                detail,
                at=now,
            )
            return done

        await self._storage.awrite(work)
        log.info(
            "clip %s: derived item %s (%s) ready: SHA-256 %s, %d frames",
            record.clip_id,
            record.id,
            record.operation,
            result.sha256,
            result.frames,
        )

    async def _failed(self, record: DerivedItem, error: str) -> None:
        now = self._now()
        log.warning(
            "clip %s: derived item %s (%s) failed: %s",
            record.clip_id,
            record.id,
            record.operation,
            error,
        )

        def work(uow: UnitOfWork) -> None:
            uow.derived.fail(record.id, error, now)
            uow.custody.append(
                record.created_by,
                custody_action(record.operation),
                f"clip:{record.clip_id}",
                {**self._detail(record), "state": "failed", "error": error[:500]},
                at=now,
            )

        await self._storage.awrite(work)


_ORDERED: Final = ".ordered"


def _mark(work: Path, derived_id: str) -> None:
    """Mark ``derived_id`` as being made by this worker (until it is ready or failed)."""
    work.mkdir(parents=True, exist_ok=True, mode=0o700)
    (work / f"{derived_id}{_ORDERED}").touch()


def _unmark(work: Path, derived_id: str) -> None:
    (work / f"{derived_id}{_ORDERED}").unlink(missing_ok=True)


def _worker_folders(parent: Path) -> list[Path]:
    """The work folders of hub workers (named by their worker_id)."""
    if not parent.is_dir():
        return []
    return [p for p in parent.iterdir() if p.is_dir() and re.fullmatch(WORKER_PATTERN, p.name)]


def _ordered(work: Path) -> list[str]:
    """The items this worker was making, from their marks."""
    if not work.is_dir():
        return []
    return [p.name.removesuffix(_ORDERED) for p in work.iterdir() if p.name.endswith(_ORDERED)]
