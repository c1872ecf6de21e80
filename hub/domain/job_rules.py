"""The rules of a clip job, without I/O: which windows may be requested, what a progress report
changes (moves only as ``cctv_common.wire.job_state.JobState``'s table allows), and the ``Job``
message an agent receives."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from cctv_common.clock import iso_utc, parse_iso
from cctv_common.wire.job_state import JobState, can_move
from cctv_common.wire.payloads import MAX_JOB_WINDOW, FootageSource, Job, JobProgress
from hub.domain.records import CameraRecord, ClipJob

# A request may reach this far past the hub's clock (clocks differ a little); no further.
CLOCK_SLACK: Final = timedelta(seconds=60)
DEFAULT_PRIORITY: Final = 5


class JobRequestError(Exception):
    """A job request that cannot be accepted; ``status`` is the HTTP status to answer with."""

    status = 422

    def __init__(self, message: str) -> None:
        self.message = message
        super().__init__(message)


class UnknownSite(JobRequestError):
    status = 404


class CameraNotOnSite(JobRequestError):
    status = 422


class BadWindow(JobRequestError):
    status = 422


def nvr_spans(camera: CameraRecord) -> list[tuple[str, datetime, datetime]]:
    """(NVR label, start, end) of every span an NVR holds of the camera, from its last status:
    retrievable footage besides the agent's own buffer (the agent replays it from the NVR)."""
    out: list[tuple[str, datetime, datetime]] = []
    channels = camera.status.get("nvr") or ()
    for channel in channels if isinstance(channels, list) else ():
        if not isinstance(channel, dict):
            continue
        label = f"NVR {channel.get('nvr_name') or channel.get('nvr_id') or '?'}"
        for span in channel.get("spans") or ():
            try:
                start, end = parse_iso(span["start"]), parse_iso(span["end"])
            except (KeyError, TypeError, ValueError):
                continue
            out.append((label, start, end))
    return out


def check_window(
    start: datetime,
    end: datetime,
    now: datetime,
    camera: CameraRecord | None = None,
    source: FootageSource = "auto",
) -> None:
    """Refuse windows no agent could cut from ``source``; each message says what is wrong and
    what to do."""
    for name, moment in (("start", start), ("end", end)):
        if moment.tzinfo is None or moment.utcoffset() is None:
            raise BadWindow(f"{name} has no time zone: give UTC, e.g. 2024-03-01T12:00:00Z")
    if end <= start:
        raise BadWindow(f"end {iso_utc(end)} is not after start {iso_utc(start)}")
    if end - start > MAX_JOB_WINDOW:
        hours = (end - start).total_seconds() / 3600
        raise BadWindow(f"the window is {hours:g} h, over the 24 h limit: split the request")
    if start > now + CLOCK_SLACK:
        raise BadWindow(f"start {iso_utc(start)} is in the future (hub time {iso_utc(now)})")
    if end > now + CLOCK_SLACK:
        raise BadWindow(
            f"end {iso_utc(end)} is in the future (hub time {iso_utc(now)}): footage that has not"
            " been recorded yet cannot be requested"
        )
    if camera is None:
        return
    if source == "nvr" and not camera.status.get("nvr"):
        raise BadWindow(
            f"camera {camera.camera_id} at site {camera.site_id} is recorded by no NVR the site"
            " reported: ask for source auto or buffer"
        )
    if source == "buffer" and camera.state == "nvr_only":
        raise BadWindow(
            f"camera {camera.camera_id} at site {camera.site_id} is recorded only by an NVR, the"
            " agent keeps no buffer of it: ask for source auto or nvr"
        )
    if (
        source != "nvr"
        and camera.buffer_start is not None
        and end <= camera.buffer_start
        and (source == "buffer" or not nvr_spans(camera))
    ):
        raise BadWindow(
            f"camera {camera.camera_id} at site {camera.site_id} holds footage from"
            f" {iso_utc(camera.buffer_start)} only: the window ends before that"
            + (" (source buffer leaves out its NVR)" if nvr_spans(camera) else "")
        )


@dataclass(frozen=True)
class JobUpdate:
    state: JobState
    percent: int
    error: str | None
    clip_id: str | None


def progress_update(job: ClipJob, progress: JobProgress) -> JobUpdate | None:
    """What an agent's progress report changes, or None to ignore it.

    A job that has ended stays ended, and a job moves only as ``JobState``'s table allows (an
    upload never goes back to cutting). "stored" is the hub's own decision (after it verified and
    stored the clip), so an agent's "stored" is never taken on its word.
    """
    if job.is_terminal or progress.state is JobState.STORED:
        return None
    if not can_move(job.state, progress.state):
        return None
    failed = progress.state is JobState.FAILED
    if failed:
        percent = 100
    elif progress.state is JobState.UPLOADING:
        # The hub counts the chunks it holds (hub.services.ingest); an agent's percent is not
        # taken.
        percent = job.percent if job.state is JobState.UPLOADING else 0
    else:
        percent = progress.percent
    update = JobUpdate(
        state=progress.state,
        percent=percent,
        error=progress.error if failed else None,
        clip_id=progress.clip_id or job.clip_id,
    )
    if (update.state, update.percent, update.error, update.clip_id) == (
        job.state,
        job.percent,
        job.error,
        job.clip_id,
    ):
        return None
    return update


def job_message(job: ClipJob) -> Job:
    return Job(
        job_id=job.id,
        camera_id=job.camera_id,
        start=job.start,
        end=job.end,
        priority=job.priority,
        reason=job.reason,
        requested_by=job.requested_by,
        # Absent for "auto", its meaning when absent: an agent that predates the field (its
        # payloads refuse unknown fields) still takes every job that leaves the choice to it.
        source=None if job.source == "auto" else job.source,
    )


def new_job_id() -> str:
    return f"job-{uuid.uuid4().hex}"
