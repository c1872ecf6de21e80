"""The hub on an S3 evidence store, set up as an operator would: ``[evidence_store]`` in the
settings file, credentials in a private file, a real S3 server (SeaweedFS). The clip API serves
from the bucket with ranges, ``cctv-hub verify-store`` checks the bucket, and the secret never
shows up in a log line, a repr or an error.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from hub.cli import main
from hub.settings import SettingsError
from hub.storage.engine import open_database
from hub.storage.evidence.backends import open_evidence_store
from hub.storage.evidence.s3_objects import object_key
from hub.storage.evidence.s3_store import S3EvidenceStore
from hub.storage.evidence.settings import CredentialsError, read_credentials, write_credentials
from tests.support.hub_config import HubFiles, RunningHub, running_hub, write_hub_config
from tests.support.hub_kit import auth
from tests.support.seaweedfs import PLAIN_BUCKET, SeaweedS3

pytestmark = pytest.mark.usefixtures("hub_engine")  # SQLite, then PostgreSQL


def s3_section(seaweed: SeaweedS3, prefix: str, **extra: Any) -> dict[str, Any]:
    section: dict[str, Any] = {
        "backend": "s3",
        "endpoint_url": seaweed.endpoint,
        "bucket": PLAIN_BUCKET,
        "prefix": prefix,
        "credentials_file": str(seaweed.credentials_file),
    }
    section.update(extra)
    return section


@pytest.fixture
def files(seaweed: SeaweedS3, tmp_path: Path) -> HubFiles:
    prefix = f"hub-{uuid.uuid4().hex[:12]}/"
    return write_hub_config(tmp_path, evidence_store=s3_section(seaweed, prefix))


@pytest.fixture
def hub(files: HubFiles) -> Iterator[RunningHub]:
    with running_hub(files) as running:
        yield running


def tamper(seaweed: SeaweedS3, files: HubFiles, sha: str, data: bytes) -> None:
    store = files.settings.evidence_store
    assert store.backend == "s3"
    seaweed.client().put_object(Bucket=store.bucket, Key=object_key(store.prefix, sha), Body=data)


def test_the_hub_serves_a_clip_from_s3_with_ranges(hub: RunningHub, seaweed: SeaweedS3) -> None:
    assert isinstance(hub.context.store, S3EvidenceStore)
    item, data = hub.evidence("pc-one", size=300_000)
    store = hub.files.settings.evidence_store
    assert store.backend == "s3"
    head = seaweed.client().head_object(
        Bucket=store.bucket, Key=object_key(store.prefix, item.store_key)
    )
    assert head["ContentLength"] == len(data)
    assert not hub.files.settings.evidence_dir.exists() or not any(
        hub.files.settings.evidence_dir.rglob("*.mp4")
    )
    url = f"/api/clips/{item.clip_id}/video"
    whole = hub.client.get(url, auth=auth("pc-one"))
    assert whole.status_code == 200 and whole.content == data
    for header, start, end in [
        ("bytes=0-99", 0, 99),
        ("bytes=1000-", 1000, len(data) - 1),
        ("bytes=-500", len(data) - 500, len(data) - 1),
    ]:
        part = hub.client.get(url, headers={"Range": header}, auth=auth("pc-one"))
        assert part.status_code == 206, header
        assert part.headers["content-range"] == f"bytes {start}-{end}/{len(data)}"
        assert part.content == data[start : end + 1]
    refused = hub.client.get(url, headers={"Range": "bytes=300000-"}, auth=auth("pc-one"))
    assert refused.status_code == 416
    download = hub.client.get(url, params={"download": 1}, auth=auth("pc-one"))
    assert download.status_code == 200 and download.content == data


def test_an_object_changed_in_the_bucket_is_refused_not_served(
    hub: RunningHub, seaweed: SeaweedS3
) -> None:
    item, data = hub.evidence("pc-one", size=200_000)
    forged = bytearray(data)
    forged[100] ^= 0xFF
    tamper(seaweed, hub.files, item.store_key, bytes(forged))
    url = f"/api/clips/{item.clip_id}/video"
    response = hub.client.get(url, headers={"Range": "bytes=0-99"}, auth=auth("pc-one"))
    assert response.status_code == 409
    assert "not served" in response.json()["detail"]
    detail = hub.client.get(f"/api/clips/{item.clip_id}", auth=auth("pc-one")).json()
    assert detail["integrity"] == "damaged"


def test_verify_store_checks_the_bucket(
    files: HubFiles, seaweed: SeaweedS3, capsys: pytest.CaptureFixture[str]
) -> None:
    with running_hub(files) as hub:
        good, _ = hub.evidence("pc-one")
        bad, data = hub.evidence("pc-two")
    config = str(files.config)
    assert main(["verify-store", "--config", config]) == 0
    assert "OK: 2 stored item file(s) match" in capsys.readouterr().out
    tamper(seaweed, files, bad.store_key, data[:-1] + b"\x00")
    assert main(["verify-store", "--config", config]) == 1
    err = capsys.readouterr().err
    assert f"DAMAGED  {bad.clip_id}" in err and "not its key" in err
    assert good.clip_id not in err


def test_settings_the_bucket_cannot_honour_stop_the_hub(
    seaweed: SeaweedS3, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    files = write_hub_config(
        tmp_path,
        evidence_store=s3_section(seaweed, "x/", object_lock_mode="compliance", object_lock_days=7),
    )
    with pytest.raises(SettingsError, match="has Object Lock not enabled"):
        open_evidence_store(files.settings)
    files.settings.data_dir.mkdir()
    open_database(files.settings).close()
    assert main(["verify-store", "--config", str(files.config)]) == 2
    assert "Object Lock not enabled" in capsys.readouterr().err


def test_the_secret_never_reaches_logs_reprs_or_errors(
    seaweed: SeaweedS3, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)  # botocore's debug log shows every request's headers
    secret = seaweed.secret_key
    files = write_hub_config(tmp_path, evidence_store=s3_section(seaweed, "secret-test/"))
    with running_hub(files) as hub:
        item, data = hub.evidence("pc-one", size=10_000)
        url = f"/api/clips/{item.clip_id}/video"
        assert hub.client.get(url, auth=auth("pc-one")).content == data
        shown = [repr(hub.context.store), repr(files.settings), str(files.settings)]
    credentials = read_credentials(seaweed.credentials_file, "default")
    shown += [repr(credentials), str(credentials), files.settings.model_dump_json()]
    # Wrong secrets and unreadable files: the errors name the file, never what is in it.
    bad = tmp_path / "bad-credentials"
    bad.write_text(f"[default\naws_secret_access_key = {secret}\n", encoding="utf-8")
    bad.chmod(0o600)
    with pytest.raises(CredentialsError) as unreadable:
        read_credentials(bad, "default")
    shown.append(str(unreadable.value))
    open_to_all = tmp_path / "open-credentials"
    write_credentials(open_to_all, seaweed.access_key, secret)
    open_to_all.chmod(0o644)
    with pytest.raises(CredentialsError, match="any user") as world_readable:
        read_credentials(open_to_all, "default")
    shown.append(str(world_readable.value))
    for text in shown:
        assert secret not in text
    assert secret not in caplog.text
    assert "x-amz-" in caplog.text.lower()  # the debug log did show the requests
    assert repr(data[:64])[2:-1] not in caplog.text  # and not the evidence itself


@contextmanager
def seaweed_frozen(seaweed: SeaweedS3) -> Iterator[None]:
    """The S3 server stops answering (SIGSTOP: connections hang, as in a real outage)."""
    process = seaweed.process
    assert process is not None
    process.send_signal(signal.SIGSTOP)
    try:
        yield
    finally:
        process.send_signal(signal.SIGCONT)


def test_an_s3_outage_is_a_503_to_retry_never_damaged_evidence(
    seaweed: SeaweedS3, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    prefix = f"hub-{uuid.uuid4().hex[:12]}/"
    quick = {"connect_timeout_seconds": 1.0, "read_timeout_seconds": 1.0, "max_attempts": 1}
    files = write_hub_config(tmp_path, evidence_store=s3_section(seaweed, prefix, **quick))
    with running_hub(files) as hub:
        item, data = hub.evidence("pc-one", size=100_000)
        url = f"/api/clips/{item.clip_id}/video"
        with seaweed_frozen(seaweed):
            response = hub.client.get(url, headers={"Range": "bytes=0-99"}, auth=auth("pc-one"))
            assert response.status_code == 503, response.text
            assert response.headers["Retry-After"] == "30"
            report = asyncio.run(hub.context.service.integrity.scrub_once())
            assert report.damaged == [] and report.checked == 0
            assert main(["verify-store", "--config", str(files.config)]) == 1
            assert "INCOMPLETE: 1 stored item file(s) could not be read" in capsys.readouterr().err
        detail = hub.client.get(f"/api/clips/{item.clip_id}", auth=auth("pc-one")).json()
        assert detail["integrity"] != "damaged"
        actions = [row["action"] for row in detail["custody"]]
        assert "integrity_failed" not in actions
        whole = hub.client.get(url, auth=auth("pc-one"))
        assert whole.status_code == 200 and whole.content == data
