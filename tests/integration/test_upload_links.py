"""Upload links and the tus server through the real hub (uvicorn on loopback, SQLite, the
filesystem evidence store) and a plain HTTP client: a link made and withdrawn, a file created,
sent in part, cut off, resumed from the hub's offset, checked, stored with a signed receipt and
listed as "not from a site agent"; a file over the link's limit refused before a byte is
written; bytes past the length refused; a file that is not video refused and deleted; expired,
withdrawn and unknown links refused."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from cctv_common.evidence.signing import load_public_key, verify
from devkit.waiting import wait_until
from hub.settings_uploads import UploadSettings
from tests.support.hub_kit import make_h264_mp4
from tests.support.request_pages import LiveHub, live_hub
from tests.support.upload_kit import (
    STATEMENT,
    TUS,
    create,
    cut_patch,
    file_request,
    head,
    make_link,
    patch,
    token_of,
)


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory, hub_engine_per_module: str) -> Iterator[LiveHub]:
    with live_hub(
        tmp_path_factory.mktemp("uploads"),
        UploadSettings(sweep_seconds=0.5, requests_per_minute=100_000),
    ) as served:
        yield served


@pytest.fixture(scope="module")
def reference(hub: LiveHub) -> str:
    return file_request(hub)


@pytest.fixture(scope="module")
def video(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    return make_h264_mp4(tmp_path_factory.mktemp("video") / "door.mp4", seconds=2)


def _staging(hub: LiveHub) -> list[Path]:
    folder = hub.settings.upload_staging_dir
    return list(folder.glob("*.part")) if folder.is_dir() else []


def test_a_cut_upload_resumes_and_becomes_an_outside_item(
    hub: LiveHub, reference: str, video: bytes
) -> None:
    link = make_link(hub, reference)
    token = token_of(link)
    assert link["url"].endswith(link["path"]) and len(token) == 43
    listed = hub.call("supervisor", "GET", f"/api/requests/{reference}/upload-links")["links"]
    assert [found["id"] for found in listed] == [link["id"]]
    assert token not in json.dumps(listed)  # shown once, never again

    client = hub.client
    made = create(client, token, len(video))
    assert made.status_code == 201, made.text
    location = made.headers["location"]
    assert made.headers["upload-expires"] and made.headers["tus-resumable"] == "1.0.0"

    first = len(video) // 3
    sent = patch(client, location, token, 0, video[:first])
    assert sent.status_code == 204 and int(sent.headers["upload-offset"]) == first

    # The connection drops part-way through the next PATCH. The hub keeps what it read before
    # the cut (uvicorn drops a body it had not handed over yet), and the client carries on
    # from the hub's offset, as a tus client does: HEAD, then PATCH there (409 if the cut
    # PATCH was still being finished: ask again).
    cut_patch(hub.url, location, token, first, video[first:], sent=5000)
    offsets: list[int] = []

    def resumed() -> bool:
        offsets.append(int(head(client, location, token).headers["upload-offset"]))
        answer = patch(client, location, token, offsets[-1], video[offsets[-1] :])
        assert answer.status_code in (204, 409), answer.text
        return answer.status_code == 204

    wait_until(resumed, "the upload resumed from the hub's offset", poll=0.2)
    assert first <= offsets[-1] <= first + 5000, offsets
    stale = patch(client, location, token, first, video[first:])
    assert stale.status_code == 409  # whole now: nothing more at any offset

    receipt = client.get(location + "/receipt", headers={"Upload-Token": token}).json()
    sha256 = hashlib.sha256(video).hexdigest()
    assert receipt["sha256"] == sha256 and receipt["size"] == len(video)
    assert receipt["media_type"] == "video/mp4" and receipt["source"] == "not from a site agent"
    public = load_public_key(receipt["hub_public_key_pem"])
    verify(public, receipt["receipt"].encode(), receipt["receipt_signature"])
    assert json.loads(receipt["receipt"])["statement"]["name"] == STATEMENT["name"]

    items = hub.call("supervisor", "GET", f"/api/requests/{reference}/outside-items")["items"]
    item = next(found for found in items if found["id"] == receipt["id"])
    assert item["sha256"] == sha256 and item["statement"]["obtained"] == STATEMENT["obtained"]
    got = client.get(item["content_url"], auth=("supervisor", "pw-supervisor"))
    assert got.status_code == 200 and got.content == video
    ranged = client.get(
        item["content_url"], auth=("supervisor", "pw-supervisor"), headers={"Range": "bytes=0-9"}
    )
    assert ranged.status_code == 206 and ranged.content == video[:10]
    rows = hub.call("auditor", "GET", f"/api/custody?subject=outside:{item['id']}")
    actions = [row["action"] for row in rows.get("rows", rows.get("events", []))]
    assert "upload" in actions and "view" in actions, rows
    # The police officer sees it only once the request is released.
    hub.call("dc-smith", "GET", f"/api/requests/{reference}/outside-items", 404)
    assert not _staging(hub)


def test_over_the_limit_is_refused_before_a_byte_is_written(
    hub: LiveHub, reference: str, video: bytes
) -> None:
    token = token_of(make_link(hub, reference, max_bytes=len(video) - 1))
    refused = create(hub.client, token, len(video))
    assert refused.status_code == 413 and "this link takes" in refused.json()["detail"]
    assert not _staging(hub)
    # Within the limit, a body that runs past the upload's length is refused too.
    made = create(hub.client, token, 100)
    assert made.status_code == 201
    over = patch(hub.client, made.headers["location"], token, 0, video[:200])
    assert over.status_code == 413
    ended = hub.client.delete(made.headers["location"], headers=TUS | {"Upload-Token": token})
    assert ended.status_code == 204  # the uploader cancels it: its staging file goes


def test_a_file_that_is_not_video_or_picture_is_refused_and_deleted(
    hub: LiveHub, reference: str
) -> None:
    token = token_of(make_link(hub, reference))
    text = b"%PDF-1.7 this is not footage\n" * 400
    made = create(hub.client, token, len(text), filename="statement.mp4")
    location = made.headers["location"]
    refused = patch(hub.client, location, token, 0, text)
    assert refused.status_code == 415
    assert "not a video or picture" in refused.json()["detail"]
    assert head(hub.client, location, token).status_code == 410
    assert not _staging(hub)
    items = hub.call("supervisor", "GET", f"/api/requests/{reference}/outside-items")["items"]
    assert all(item["filename"] != "statement.mp4" for item in items)


def test_expired_withdrawn_and_unknown_links_are_refused(
    hub: LiveHub, reference: str, video: bytes
) -> None:
    short = make_link(hub, reference, valid_days=1.5 / 86400)
    token = token_of(short)
    made = create(hub.client, token, len(video))
    assert made.status_code == 201
    half = patch(hub.client, made.headers["location"], token, 0, video[:1000])
    assert half.status_code == 204
    wait_until(lambda: create(hub.client, token, 10).status_code == 410, "the link expired")
    assert "expired" in create(hub.client, token, 10).json()["detail"]
    page = hub.client.get(short["path"])
    assert page.status_code == 410 and "expired" in page.text
    # The unfinished upload is discarded once its link has ended: nothing is left.
    wait_until(lambda: not _staging(hub), "the unfinished upload was discarded")

    other = make_link(hub, reference)
    hub.call("supervisor", "POST", f"/api/requests/{reference}/upload-links/{other['id']}/revoke")
    withdrawn = create(hub.client, token_of(other), 10)
    assert withdrawn.status_code == 410 and "withdrawn" in withdrawn.json()["detail"]

    unknown = "A" * 43
    assert create(hub.client, unknown, 10).status_code == 404
    assert hub.client.get(f"/upload/{unknown}").status_code == 404
    assert hub.client.get("/upload/..%2F..%2Fetc").status_code == 404
    assert hub.client.post("/api/tus/", headers=TUS).status_code == 404


def test_an_upload_answers_only_to_its_own_link(hub: LiveHub, reference: str, video: bytes) -> None:
    mine, theirs = token_of(make_link(hub, reference)), token_of(make_link(hub, reference))
    made = create(hub.client, mine, len(video))
    location = made.headers["location"]
    assert head(hub.client, location, theirs).status_code == 404
    assert patch(hub.client, location, theirs, 0, video[:10]).status_code == 404
    gone = hub.client.delete(location, headers=TUS | {"Upload-Token": mine})
    assert gone.status_code == 204
    assert head(hub.client, location, mine).status_code == 410
    options = hub.client.options("/api/tus/")
    assert options.headers["tus-extension"] == "creation,termination,expiration"


def test_only_a_supervisor_makes_links(hub: LiveHub, reference: str) -> None:
    body = {"recipient_name": "x", "purpose": "y"}
    for user in ("operator", "dc-smith"):
        hub.call(user, "POST", f"/api/requests/{reference}/upload-links", 403, json=body)
