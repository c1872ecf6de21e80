"""Stored evidence is re-checked against its SHA-256 (issue 9, defect 4).

Through the real parts: the settings file the CLI reads, the app over TestClient (and uvicorn
for an aborted download), the filesystem store, the CLI's entry point. A flipped byte in a
stored file is found by ``cctv-hub verify-store``, by the background scrub and by a read, and
the item is then refused with the reason instead of served with its old SHA as ETag.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from devkit.waiting import wait_until
from hub.cli import main
from hub.storage.evidence.store import FilesystemEvidenceStore
from hub.storage.evidence.verify import RateLimiter, ScrubCancelled, check_object
from hub.storage.sqlite.check_rows import get_check
from tests.support.hub_config import HubFiles, RunningHub, running_hub, write_hub_config
from tests.support.hub_kit import auth


@pytest.fixture
def files(tmp_path: Path) -> HubFiles:
    return write_hub_config(tmp_path)


@pytest.fixture
def hub(files: HubFiles) -> Iterator[RunningHub]:
    with running_hub(files) as running:
        yield running


def flip_byte(path: Path, offset: int = 5000) -> None:
    """What a failing disk or a hand with write access does: one byte changed in place."""
    os.chmod(path, 0o640)
    with path.open("r+b") as handle:
        handle.seek(offset)
        byte = handle.read(1)
        handle.seek(offset)
        handle.write(bytes([byte[0] ^ 0xFF]))
    os.chmod(path, 0o440)


def custody(hub: RunningHub, action: str) -> list[dict[str, Any]]:
    rows = hub.client.get("/api/audit", auth=auth("auditor")).json()
    return [row for row in rows if row["action"] == action]


@pytest.mark.usefixtures("hub_engine")  # SQLite, then PostgreSQL
def test_a_flipped_byte_is_refused_not_served_with_the_old_etag(hub: RunningHub) -> None:
    item, _ = hub.evidence("pc-one")
    flip_byte(hub.files.stored_file(item))
    url = f"/api/clips/{item.clip_id}/video"
    for request in ({}, {"headers": {"Range": "bytes=0-"}}):
        response = hub.client.get(url, auth=auth("pc-one"), **request)
        assert response.status_code == 409, response.status_code
        said = response.json()["detail"]
        assert "its SHA-256 is" in said and item.sha256 in said and "not served" in said
        assert "etag" not in response.headers
    detail = hub.client.get(f"/api/clips/{item.clip_id}", auth=auth("pc-one")).json()
    assert detail["integrity"] == "damaged" and "SHA-256" in detail["integrity_problem"]
    [failed] = custody(hub, "integrity_failed")
    assert failed["subject"] == f"clip:{item.clip_id}" and failed["actor"] == "hub:test-hub"
    refused = custody(hub, "refused")
    assert [row["actor"] for row in refused] == ["pc-one"]  # one row per session, not per try
    # The manifest (metadata, in the database) is still there; the video is not.
    assert hub.client.get(
        f"/api/clips/{item.clip_id}/manifest.json", auth=auth("pc-one")
    ).is_success


@pytest.mark.usefixtures("hub_engine")  # SQLite, then PostgreSQL
def test_a_players_range_reads_share_one_verification(hub: RunningHub) -> None:
    item, data = hub.evidence("pc-one", size=300_000)
    url = f"/api/clips/{item.clip_id}/video"
    first = hub.client.get(url, headers={"Range": "bytes=0-99"}, auth=auth("pc-one"))
    assert first.status_code == 206 and first.content == data[:100]
    checked = hub.database.read(lambda db: get_check(db, item.store_key))
    assert checked is not None and checked.ok and checked.checked_by == "read"
    for start in range(1000, 300_000, 10_000):
        part = hub.client.get(url, headers={"Range": f"bytes={start}-"}, auth=auth("pc-one"))
        assert part.status_code == 206 and part.content == data[start:]
    again = hub.database.read(lambda db: get_check(db, item.store_key))
    assert again == checked  # no request after the first hashed the file again
    listed = hub.client.get("/api/clips", auth=auth("pc-one")).json()
    assert [clip["integrity"] for clip in listed] == ["verified"]


@pytest.mark.usefixtures("hub_engine")  # SQLite, then PostgreSQL
def test_verify_store_names_each_bad_item_and_exits_1(
    files: HubFiles, capsys: pytest.CaptureFixture[str]
) -> None:
    with running_hub(files) as hub:
        good, _ = hub.evidence("pc-one")
        bad, _ = hub.evidence("pc-two")
        gone, _ = hub.evidence("pc-two")
    config = str(files.config)
    assert main(["verify-store", "--config", config]) == 0
    assert "OK: 3 stored item file(s) match" in capsys.readouterr().out
    flip_byte(files.stored_file(bad), offset=99_999)
    files.stored_file(gone).unlink()
    assert main(["verify-store", "--config", config, "--mb-per-second", "50"]) == 1
    out = capsys.readouterr()
    assert f"DAMAGED  {bad.clip_id}: its SHA-256 is" in out.err
    assert f"DAMAGED  {gone.clip_id}: the stored file is missing" in out.err
    assert "BROKEN: 2 of 3 stored item file(s)" in out.err
    assert f"ok       {good.clip_id}" in out.out
    # The hub, started again, refuses both and serves the good one; the log says why.
    with running_hub(files) as hub:
        for item in (bad, gone):
            response = hub.client.get(f"/api/clips/{item.clip_id}/video", auth=auth("supervisor"))
            assert response.status_code == 409
        assert hub.client.get(f"/api/clips/{good.clip_id}/video", auth=auth("pc-one")).is_success
        failed = {row["subject"]: row for row in custody(hub, "integrity_failed")}
        assert set(failed) == {f"clip:{bad.clip_id}", f"clip:{gone.clip_id}"}
        assert failed[f"clip:{bad.clip_id}"]["actor"].startswith("cli:")
    assert main(["verify-audit", "--config", config]) == 0


@pytest.mark.usefixtures("hub_engine")  # SQLite, then PostgreSQL
def test_the_scheduled_scrub_finds_damage_and_raises_the_alarm(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # An interval of ~0.4 s: the scrub's first pass starts at once and repeats.
    files = write_hub_config(
        tmp_path, evidence={"scrub_interval_hours": 0.0001, "scrub_mb_per_second": 100}
    )
    caplog.set_level(logging.ERROR, logger="hub.services.integrity")
    with running_hub(files) as hub:
        item, _ = hub.evidence("pc-one")
        service = hub.context.service
        passes = service.integrity.passes
        wait_until(lambda: service.integrity.passes > passes + 1, "two scrub passes")
        assert (
            hub.client.get(f"/api/clips/{item.clip_id}", auth=auth("pc-one")).json()["integrity"]
            == "verified"
        )
        flip_byte(files.stored_file(item))
        wait_until(lambda: bool(custody(hub, "integrity_failed")), "the scrub to find the damage")
        [row] = custody(hub, "integrity_failed")
        assert row["detail"]["found_by"] == "scrub" and row["subject"] == f"clip:{item.clip_id}"
        assert any(
            "EVIDENCE DAMAGED" in r.message and item.clip_id in r.message for r in caplog.records
        )
        response = hub.client.get(f"/api/clips/{item.clip_id}/video", auth=auth("pc-one"))
        assert response.status_code == 409


def test_the_scrub_reads_no_faster_than_its_rate(tmp_path: Path) -> None:
    store = FilesystemEvidenceStore(tmp_path / "evidence")
    data = os.urandom(2_000_000)
    staging = tmp_path / "staging"
    staging.write_bytes(data)
    sha = hashlib.sha256(data).hexdigest()
    store.put_file(staging, sha)
    clock = [0.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        clock[0] += seconds

    limiter = RateLimiter(1_000_000, clock=lambda: clock[0], sleep=sleep)
    result = check_object(store, sha, sha, len(data), limiter=limiter)
    assert result.ok and result.bytes_read == len(data)
    assert sum(slept) == pytest.approx(2.0, rel=0.01)  # 2 MB at 1 MB/s, on the fake clock
    unlimited = check_object(store, sha, "0" * 64, len(data))
    assert not unlimited.ok and "the signed manifest says 0000" in str(unlimited.problem)


class _Server:
    """The app under a real uvicorn on a free loopback port, in a thread."""

    def __init__(self, app: Any) -> None:
        self.server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=0, log_level="critical", lifespan="off")
        )
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> str:
        self.thread.start()
        wait_until(lambda: self.server.started, "uvicorn to start")
        port = self.server.servers[0].sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=20)


@pytest.mark.usefixtures("hub_engine")  # SQLite, then PostgreSQL
def test_a_whole_download_is_hashed_as_sent_and_cut_short_if_damaged(hub: RunningHub) -> None:
    item, data = hub.evidence("pc-one", size=600_000)
    url = f"/api/clips/{item.clip_id}/video?download=1"
    with _Server(hub.client.app) as base, httpx.Client(base_url=base, timeout=30) as http:
        whole = http.get(url, auth=auth("pc-one"))
        assert whole.status_code == 200 and whole.content == data
        assert whole.headers["content-disposition"].startswith("attachment")
        # A whole download needs no earlier check: it proves itself, and leaves a stamp.
        stamp = hub.database.read(lambda db: get_check(db, item.store_key))
        assert stamp is not None and stamp.ok and stamp.checked_by == "download by pc-one"
        # Range reads rely on that stamp; then the file is damaged behind the stamp's back.
        assert http.get(url, headers={"Range": "bytes=0-9"}, auth=auth("pc-one")).status_code == 206
        flip_byte(hub.files.stored_file(item), offset=len(data) - 10)
        received = bytearray()
        with pytest.raises(httpx.RemoteProtocolError):
            with http.stream("GET", url, auth=auth("pc-one")) as response:
                assert response.status_code == 200
                for block in response.iter_bytes():
                    received.extend(block)
        assert len(received) < len(data)  # the last block, with the bad byte, never left
        after = http.get(url, auth=auth("pc-one"))
        assert after.status_code == 409 and "the bytes served hash to" in after.json()["detail"]
    [row] = custody(hub, "integrity_failed")
    assert row["detail"]["found_by"] == "download by pc-one"


def test_a_check_can_be_stopped_between_blocks(tmp_path: Path) -> None:
    """The scrub's thread stops at the next block when the hub stops."""
    store = FilesystemEvidenceStore(tmp_path / "evidence")
    staging = tmp_path / "s"
    staging.write_bytes(b"x" * 1_000_000)
    sha = hashlib.sha256(b"x" * 1_000_000).hexdigest()
    store.put_file(staging, sha)
    stop = threading.Event()
    stop.set()
    with pytest.raises(ScrubCancelled):
        check_object(store, sha, sha, 1_000_000, stop=stop)
