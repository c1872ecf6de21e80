"""Job rules (window checks, progress reports) and the job messages sent on (re)connect."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from cctv_common.evidence.signing import load_private_key
from cctv_common.mqtt.events import Connected, inbound
from cctv_common.wire.hub_signing import HubVerifier
from cctv_common.wire.job_state import JobState
from cctv_common.wire.payloads import Job, JobProgress
from cctv_common.wire.topics import job_topic, progress_topic
from hub.domain.job_rules import BadWindow, check_window, progress_update
from hub.domain.records import CameraRecord, ClipJob
from hub.service import HubService
from hub.storage.engine import open_database
from hub.storage.evidence.store import FilesystemEvidenceStore
from hub.storage.sqlite import repository as repo
from tests.support.hub_kit import SITE, RecordingLink, insert_job, make_settings

NOW = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)


def camera(buffer_start: datetime | None) -> CameraRecord:
    return CameraRecord(SITE, "cam-1", "recording", {}, buffer_start, NOW, "h264", 1, 1, NOW)


@pytest.mark.parametrize(
    ("start", "end", "says"),
    [
        (NOW, NOW - timedelta(seconds=1), "is not after start"),
        (NOW - timedelta(hours=25), NOW - timedelta(minutes=1), "over the 24 h limit"),
        (
            NOW + timedelta(minutes=5),
            NOW + timedelta(minutes=6),
            "start 2024-03-01T12:05:00Z is in",
        ),
        (NOW - timedelta(minutes=1), NOW + timedelta(minutes=5), "has not been recorded yet"),
        (NOW - timedelta(days=2), NOW - timedelta(days=2) + timedelta(minutes=1), "holds footage"),
        (datetime(2024, 3, 1, 11, 0), NOW, "no time zone"),
    ],
)
def test_windows_no_agent_could_cut_are_refused(start: datetime, end: datetime, says: str) -> None:
    with pytest.raises(BadWindow, match=says):
        check_window(start, end, NOW, camera(NOW - timedelta(days=1)))


def test_a_window_within_the_buffer_and_clock_slack_is_fine() -> None:
    check_window(NOW - timedelta(seconds=20), NOW + timedelta(seconds=30), NOW, camera(None))


def test_a_named_source_must_be_one_the_site_has() -> None:
    """``buffer`` before the buffer or for a camera only an NVR records, and ``nvr`` for a camera
    no NVR records, are refused at the hub with what to ask instead; ``auto`` takes either."""
    before = (NOW - timedelta(days=2), NOW - timedelta(days=2) + timedelta(minutes=1))
    span = {"start": "2024-02-27T00:00:00Z", "end": "2024-03-01T00:00:00Z"}
    on_nvr = CameraRecord(
        SITE,
        "cam-1",
        "recording",
        {"nvr": [{"nvr_id": "nvr-1", "spans": [span]}]},
        NOW - timedelta(days=1),
        NOW,
        "h264",
        1,
        1,
        NOW,
    )
    check_window(*before, NOW, on_nvr)
    check_window(*before, NOW, on_nvr, "nvr")
    with pytest.raises(BadWindow, match="source buffer leaves out its NVR"):
        check_window(*before, NOW, on_nvr, "buffer")
    with pytest.raises(BadWindow, match=r"recorded by no NVR .*: ask for source auto or buffer"):
        check_window(NOW - timedelta(minutes=1), NOW, NOW, camera(NOW - timedelta(days=1)), "nvr")
    nvr_only = CameraRecord(
        SITE, "cam-2", "nvr_only", on_nvr.status, None, None, None, None, None, NOW
    )
    with pytest.raises(BadWindow, match=r"recorded only by an NVR.*ask for source auto or nvr"):
        check_window(*before, NOW, nvr_only, "buffer")


def job(state: str, percent: int = 0, error: str | None = None) -> ClipJob:
    return ClipJob(
        "job-1",
        SITE,
        "cam-1",
        NOW,
        NOW,
        "r",
        5,
        "op",
        JobState(state),
        percent,
        error,
        None,
        NOW,
        NOW,
    )


def progress(state: str, percent: int = 0, error: str | None = None) -> JobProgress:
    clip_id = "clip-1" if state == "uploading" else None
    return JobProgress.model_validate(
        {
            "job_id": "job-1",
            "state": state,
            "percent": percent,
            "error": error,
            "clip_id": clip_id,
            "sent_at": NOW,
        }
    )


def test_progress_moves_an_open_job_along() -> None:
    update = progress_update(job("dispatched"), progress("cutting", 40))
    assert update is not None and (update.state, update.percent) == ("cutting", 40)
    update = progress_update(job("cutting", 40), progress("uploading", 10))
    assert update is not None and update.clip_id == "clip-1"
    update = progress_update(job("uploading"), progress("failed", 0, "window outside buffer"))
    assert update is not None and (update.state, update.error) == (
        "failed",
        "window outside buffer",
    )


def test_ended_jobs_stay_ended_and_stored_is_the_hubs_word() -> None:
    for state in ("stored", "failed"):
        assert progress_update(job(state), progress("uploading", 50)) is None
    assert progress_update(job("uploading"), progress("stored", 100)) is None
    assert progress_update(job("cutting", 40), progress("cutting", 40)) is None  # no change


def test_progress_moves_only_as_the_job_state_table_allows() -> None:
    # A clip on its way up does not go back to cutting, whatever a late report says.
    assert progress_update(job("uploading", 30), progress("cutting", 90)) is None
    assert progress_update(job("uploading", 30), progress("queued")) is None
    # An interrupted cut is cut again from the start: cutting -> queued is real.
    update = progress_update(job("cutting", 40), progress("queued"))
    assert update is not None and (update.state, update.percent) == ("queued", 0)


@pytest.mark.usefixtures("hub_engine")  # SQLite, then PostgreSQL
def test_on_connect_open_jobs_are_published_and_ended_ones_cleared(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, site_key=Ed25519PrivateKey.generate())
    database = open_database(settings)
    link = RecordingLink()
    store = FilesystemEvidenceStore(settings.evidence_dir)
    jobs: list[ClipJob] = []
    on_connect: list[tuple[str, bytes, bool]] = []

    async def scenario() -> None:
        service = HubService(settings, database, store, link)
        await service.start()  # registers the config's site
        for state in ("dispatched", "stored"):
            jobs.append(
                await asyncio.to_thread(insert_job, database, requested_by="op", state=state)
            )
        open_job = jobs[0]
        try:
            await service.handle(Connected(session_present=False))
            on_connect.extend(link.published)
            report = JobProgress(
                job_id=open_job.id,
                state=JobState.FAILED,
                error="camera gone",
                sent_at=datetime.now(UTC),
            )
            await service.handle(inbound(progress_topic(SITE, open_job.id), report.to_bytes()))
        finally:
            await service.stop()

    asyncio.run(scenario())
    open_job, ended = jobs
    published = {(topic, retain): payload for topic, payload, retain in on_connect}
    # Signed with the hub's own key (data_dir/hub_key.pem) for that job's topic.
    hub = HubVerifier(load_private_key(settings.hub_key_path).public_key())
    topic = job_topic(SITE, open_job.id)
    assert hub.open(topic, published[(topic, True)], Job).job_id == open_job.id
    assert published[(job_topic(SITE, ended.id), True)] == b""
    # The agent's failure ended the open job: it was cleared too.
    assert link.published[-1] == (job_topic(SITE, open_job.id), b"", True)
    failed = database.read(lambda db: repo.get_job(db, open_job.id))
    assert failed is not None and (failed.state, failed.error) == ("failed", "camera gone")
    database.close()
