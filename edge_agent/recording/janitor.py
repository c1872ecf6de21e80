"""The retention janitor: carries out ``plan_retention`` on the disk and the index.

Every ``check_interval_seconds`` (or at once after ``wake()``, which the recorders call when the
disk is full) it asks the pure planner which segments to drop, bounded by age, by the bytes the
segments take and by the free space the disk must keep, and never touching a pinned segment (open
job, legal hold). It deletes each file first and then the index rows: a crash in between leaves
rows whose files are gone, which the next run deletes again (a missing file is fine), never a
file the index has forgotten.

At start, before the recorders run, ``recover_leftovers()`` deals with what a crash or power cut
left behind. A ``.ts.part`` file is a segment that was being written; an orphan ``.ts`` file is one
that was finished but never indexed. Because MPEG-TS stays readable when cut short, each is kept
when it demuxes and starts on a keyframe: renamed to ``.ts`` and indexed with the start its name
records. Anything that cannot be read that way is deleted.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import shutil
import sqlite3
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from cctv_common.clock import utc_now
from cctv_common.evidence.manifest import GapCause
from edge_agent.config import RetentionConfig
from edge_agent.recording.recording_session import parse_segment_start
from edge_agent.recording.segment_probe import SegmentProbeFailed, segment_from_file
from edge_agent.recording.segment_writer import PART_SUFFIX, SEGMENT_SUFFIX
from edge_agent.recording.segments import Gap, Segment
from edge_agent.store.holds import HOLD_PIN_PREFIX
from edge_agent.store.retention import RetentionDecision, plan_retention, pressure_note
from edge_agent.store.segment_index import IndexWriteFailed, SegmentIndex

log = logging.getLogger(__name__)

LEFTOVER_SUFFIXES = (SEGMENT_SUFFIX, SEGMENT_SUFFIX + PART_SUFFIX)
# While pinned footage keeps retention from its bound, the warning is repeated this often.
PRESSURE_LOG_SECONDS = 600.0


@dataclass(frozen=True)
class Recovery:
    """What ``recover_leftovers`` did: paths relative to the segments folder."""

    salvaged: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()


@dataclass(frozen=True)
class RetentionRun:
    deleted: int = 0
    bytes_freed: int = 0
    pinned_bytes_kept: int = 0
    bound_met: bool = True


def disk_free_bytes(path: Path) -> int:
    while not path.exists() and path != path.parent:
        path = path.parent
    return shutil.disk_usage(path).free


class Janitor:
    def __init__(
        self,
        index: SegmentIndex,
        segments_dir: Path,
        retention: RetentionConfig,
        *,
        site_id: str = "",
        disk_free: Callable[[Path], int] = disk_free_bytes,
        now: Callable[[], datetime] = utc_now,
    ) -> None:
        self._index = index
        self._segments_dir = segments_dir
        self._retention = retention
        self._site = site_id or "-"
        self._disk_free = disk_free
        self._now = now
        self._stop_event = threading.Event()
        self._wake_event = threading.Event()
        self._thread: threading.Thread | None = None
        # Why the last run could not meet its bound (pinned footage), for the site's status.
        self.pressure: str | None = None
        self._pressure_logged: tuple[str, datetime] | None = None

    # Crash leftovers

    def recover_leftovers(self, camera_id: str | None = None) -> Recovery:
        """Salvage or delete ``.ts.part`` and unindexed ``.ts`` files; call before recording.

        With ``camera_id``, only that camera's files: what its recorder process left when it
        crashed, while the other cameras go on writing theirs.
        """
        known = self._index.known_paths()
        salvaged: list[str] = []
        removed: list[str] = []
        for path in self._segment_files(camera_id):
            relative = path.relative_to(self._segments_dir).as_posix()
            if relative in known:
                continue
            if self._salvage(path, relative):
                salvaged.append(relative.removesuffix(PART_SUFFIX))
            else:
                removed.append(relative)
        return Recovery(salvaged=tuple(salvaged), removed=tuple(removed))

    def _segment_files(self, camera_id: str | None) -> Iterator[Path]:
        if not self._segments_dir.is_dir():
            return
        pattern = "*/*/*" if camera_id is None else f"{camera_id}/*/*"
        for path in sorted(self._segments_dir.glob(pattern)):
            if path.is_file() and path.name.endswith(
                (SEGMENT_SUFFIX, SEGMENT_SUFFIX + PART_SUFFIX)
            ):
                yield path

    def _salvage(self, path: Path, relative: str) -> bool:
        camera_id = relative.split("/", 1)[0]
        start = parse_segment_start(relative)
        final_relative = relative.removesuffix(PART_SUFFIX)
        final = self._segments_dir / final_relative
        why = ""
        segment: Segment | None = None
        if start is None:
            why = "its name is not a segment start"
        elif path != final and final.exists():
            why = f"{final.name} exists"
        else:
            try:
                segment = segment_from_file(camera_id, self._segments_dir, path, start)
            except SegmentProbeFailed as exc:
                why = str(exc)
        if segment is not None and self._index.segments_overlapping(
            camera_id, segment.start, segment.end
        ):
            why, segment = "it overlaps indexed footage", None
        if segment is None:
            log.warning(
                "site %s camera %s: removing leftover %s: %s", self._site, camera_id, relative, why
            )
            try:
                path.unlink(missing_ok=True)
            except OSError as exc:
                log.error(
                    "site %s camera %s: cannot remove %s: %s", self._site, camera_id, relative, exc
                )
            return False
        try:
            if path != final:
                os.replace(path, final)
            self._index.add_segment(dataclasses.replace(segment, path=final_relative))
            # A gap left open before this footage (the camera was down, then the recorder was
            # killed while recording again) ends where the footage starts.
            moment = Gap(segment.start, segment.start, "", GapCause.AGENT_STOPPED)
            self._index.close_gap(camera_id, moment, tolerance=0.0)
        except (OSError, IndexWriteFailed) as exc:
            log.error(
                "site %s camera %s: cannot salvage %s, left for the next start: %s",
                self._site,
                camera_id,
                relative,
                exc,
            )
            return False
        log.warning(
            "site %s camera %s: salvaged %s after an unclean stop (%.1f s, %d bytes)",
            self._site,
            camera_id,
            final_relative,
            segment.duration.total_seconds(),
            segment.bytes,
        )
        return True

    # Retention

    def run_once(self, now: datetime | None = None) -> RetentionRun:
        """Delete what retention says to delete; safe to call from any thread."""
        now = self._now() if now is None else now
        settings = self._retention
        max_age = timedelta(days=settings.max_days)
        free = self._disk_free(self._segments_dir)
        to_free = max(0, settings.min_free_bytes - free)
        oldest = self._index.oldest_segments(1)
        if not oldest or (
            to_free == 0
            and oldest[0].end >= now - max_age
            and self._index.total_bytes() <= settings.max_disk_bytes
        ):
            self._set_pressure(None, now)
            return RetentionRun()  # within every bound: no need to read the whole index
        decision = plan_retention(
            self._index.all_segments(),
            self._index.pins_in_force(),
            now,
            max_age,
            settings.max_disk_bytes,
            bytes_to_free=to_free,
        )
        gone: list[Segment] = []
        for segment in decision.delete:
            try:
                (self._segments_dir / segment.path).unlink(missing_ok=True)
            except OSError as exc:
                log.error(
                    "site %s camera %s: cannot delete %s: %s",
                    self._site,
                    segment.camera_id,
                    segment.path,
                    exc,
                )
                continue
            gone.append(segment)
        if gone:
            try:
                self._index.delete_segments(gone)
            except IndexWriteFailed as exc:
                log.error("site %s: retention cannot update the index: %s", self._site, exc)
        self._log_run(gone)
        self._set_pressure(decision, now)
        self._prune_empty_folders(now)
        return RetentionRun(
            deleted=len(gone),
            bytes_freed=sum(segment.bytes for segment in gone),
            pinned_bytes_kept=decision.pinned_bytes_kept,
            bound_met=decision.bound_met and len(gone) == len(decision.delete),
        )

    def _log_run(self, gone: list[Segment]) -> None:
        counts = Counter(segment.camera_id for segment in gone)
        sizes = Counter[str]()
        for segment in gone:
            sizes[segment.camera_id] += segment.bytes
        for camera_id, count in sorted(counts.items()):
            log.info(
                "site %s camera %s: retention deleted %d segments (%d bytes)",
                self._site,
                camera_id,
                count,
                sizes[camera_id],
            )

    def _set_pressure(self, decision: RetentionDecision | None, now: datetime) -> None:
        """Keep (and log, when it changes and every ``PRESSURE_LOG_SECONDS``) why retention
        cannot meet its bound; the site's status reports it with the cameras it stops."""
        note = None if decision is None else pressure_note(decision, HOLD_PIN_PREFIX)
        previous = self.pressure
        self.pressure = note
        if note is None:
            if previous is not None:
                log.info("site %s: retention is within its bounds again", self._site)
            self._pressure_logged = None
            return
        logged = self._pressure_logged
        if (
            logged is None
            or logged[0] != note
            or (now - logged[1]).total_seconds() >= PRESSURE_LOG_SECONDS
        ):
            log.warning("site %s: %s", self._site, note)
            self._pressure_logged = (note, now)

    def _prune_empty_folders(self, now: datetime) -> None:
        # Only day folders older than yesterday: a recorder may be about to write into today's.
        newest_prunable = (now - timedelta(days=2)).strftime("%Y%m%d")
        for day in self._segments_dir.glob("*/*"):
            if (
                day.is_dir()
                and len(day.name) == 8
                and day.name.isdigit()
                and day.name <= newest_prunable
            ):
                try:
                    day.rmdir()
                except OSError:
                    pass  # not empty

    # Background thread

    def start(self) -> None:
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self._loop, name="retention-janitor", daemon=True)
        self._thread.start()

    def wake(self) -> None:
        """Run retention now (e.g. the disk is full); returns at once."""
        self._wake_event.set()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop_event.set()
        self._wake_event.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _loop(self) -> None:
        while not self._stop_event.is_set():
            try:
                self.run_once()
            except (OSError, sqlite3.Error) as exc:
                log.error("site %s: retention run failed: %s", self._site, exc)
            self._wake_event.wait(self._retention.check_interval_seconds)
            self._wake_event.clear()
