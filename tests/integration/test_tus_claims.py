"""One PATCH at a time on a tus upload across hub workers: the upload is claimed in the database
at its offset, and the offset moves by compare-and-set under the claim. The claims on two
storages (both engines), and the live hub answering 423 while another worker holds an upload,
then taking over a claim its worker left (it died)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from hub.domain.uploads.records import TusState, TusUpload
from hub.services.outside.tus_server import PATCH_CLAIM_STALE
from hub.settings_uploads import UploadSettings
from hub.storage.engine import storage_for
from hub.storage.ports import UnitOfWork
from tests.support.hub_kit import make_h264_mp4
from tests.support.request_pages import LiveHub, live_hub
from tests.support.upload_kit import create, file_request, head, make_link, patch, token_of
from tests.support.worker_storages import TwoStorages, two_storages

NOW = datetime(2026, 12, 7, 23, 0, tzinfo=UTC)
STALE = NOW - PATCH_CLAIM_STALE


@pytest.fixture(params=["sqlite", "postgresql"])
def storages(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[TwoStorages]:
    yield from two_storages(request.param, tmp_path)


def an_upload(storages: TwoStorages) -> str:
    from hub.domain.uploads.links import UploadLink

    link = UploadLink(
        id="link-1",
        request="R-2026-0001",
        token_hash="00" * 32,
        recipient_name="A. Witness",
        recipient_organisation="",
        recipient_email="",
        purpose="phone video",
        created_by="supervisor",
        created_at=NOW,
        expires_at=NOW + timedelta(days=1),
        max_bytes=10**9,
        max_files=3,
    )
    upload = TusUpload(
        id="ab" * 16,
        link_id=link.id,
        request=link.request,
        filename="door.mp4",
        declared_type="video/mp4",
        statement={},
        length=1000,
        offset=0,
        state=TusState.RECEIVING,
        created_at=NOW,
        updated_at=NOW,
        uploader_ip="127.0.0.1",
    )

    def add(uow: UnitOfWork) -> None:
        from tests.support.request_kit import footage_request

        uow.requests.add(link.request, footage_request())
        uow.upload_links.add(link)
        uow.tus_uploads.add(upload)

    storages.first.write(add)
    return upload.id


def test_one_worker_writes_an_upload_at_a_time(storages: TwoStorages) -> None:
    upload_id = an_upload(storages)
    one, two = storages.first, storages.second
    assert one.write(lambda uow: uow.tus_uploads.claim_patch(upload_id, "w1", 0, NOW, STALE))
    assert not two.write(lambda uow: uow.tus_uploads.claim_patch(upload_id, "w2", 0, NOW, STALE))
    # w1 renews before a block and moves the offset after it; w2 can do neither.
    assert one.write(lambda uow: uow.tus_uploads.advance_patch(upload_id, "w1", 0, 0, NOW))
    assert not two.write(lambda uow: uow.tus_uploads.advance_patch(upload_id, "w2", 0, 400, NOW))
    assert one.write(lambda uow: uow.tus_uploads.advance_patch(upload_id, "w1", 0, 400, NOW))
    # A claim at an offset that has moved is refused, whoever asks.
    later = NOW + timedelta(hours=1)
    stale = later - PATCH_CLAIM_STALE
    assert not two.write(lambda uow: uow.tus_uploads.claim_patch(upload_id, "w2", 0, later, stale))
    # w1 dies holding it: once its claim is stale w2 takes the upload over at the offset, and
    # w1's late block cannot move the offset any more.
    assert two.write(lambda uow: uow.tus_uploads.claim_patch(upload_id, "w2", 400, later, stale))
    assert not one.write(lambda uow: uow.tus_uploads.advance_patch(upload_id, "w1", 400, 900, NOW))
    assert two.write(lambda uow: uow.tus_uploads.advance_patch(upload_id, "w2", 400, 1000, later))
    two.write(lambda uow: uow.tus_uploads.release_patch(upload_id, "w2"))
    found = one.read(lambda uow: uow.tus_uploads.get(upload_id))
    assert found is not None and found.offset == 1000


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveHub]:
    with live_hub(
        tmp_path_factory.mktemp("tus-claims"),
        UploadSettings(sweep_seconds=30, requests_per_minute=100_000),
    ) as served:
        yield served


def test_a_patch_while_another_worker_writes_is_locked_then_takes_over_a_dead_claim(
    hub: LiveHub, tmp_path: Path
) -> None:
    video = make_h264_mp4(tmp_path / "door.mp4", seconds=2)
    token = token_of(make_link(hub, file_request(hub)))
    client = hub.client
    location = create(client, token, len(video)).headers["location"]
    upload_id = location.rsplit("/", 1)[1]
    first = len(video) // 3
    assert patch(client, location, token, 0, video[:first]).status_code == 204

    # Another hub worker (its own claimant, through the database) is writing this upload.
    other = storage_for(hub.database)
    now = datetime.now(UTC)
    assert other.write(
        lambda uow: uow.tus_uploads.claim_patch(
            upload_id, "worker-2", first, now, now - PATCH_CLAIM_STALE
        )
    )
    locked = patch(client, location, token, first, video[first:])
    assert locked.status_code == 423 and "ask for its offset" in locked.json()["detail"]
    assert int(head(client, location, token).headers["upload-offset"]) == first

    # worker-2 dies: its claim stops being renewed, and once stale this worker takes over.
    dead = now - PATCH_CLAIM_STALE - timedelta(seconds=1)
    assert other.write(
        lambda uow: uow.tus_uploads.claim_patch(upload_id, "worker-2", first, dead, dead)
    )
    rest = patch(client, location, token, first, video[first:])
    assert rest.status_code == 204 and int(rest.headers["upload-offset"]) == len(video)
    # worker-2's late block cannot move the offset back or on.
    assert not other.write(
        lambda uow: uow.tus_uploads.advance_patch(upload_id, "worker-2", first, len(video), now)
    )
    receipt = client.get(location + "/receipt", headers={"Upload-Token": token}).json()
    assert receipt["sha256"] == hashlib.sha256(video).hexdigest()
