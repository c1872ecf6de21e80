"""The redaction dialog's reads of a stored master through the real API: the frame at a time and
the preview of a redaction plan (JPEGs decoded from the store), who may ask, the custody rows,
clear refusals; and that the preview is what the redacted copy shows on that frame."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi.testclient import TestClient

from hub.app import create_app
from hub.domain.records import EvidenceItem
from hub.exhibits.derive.frame_pipeline import LooksAhead
from hub.exhibits.derive.operations import DeriveJob, derive
from hub.exhibits.derive.redaction import FixedBox, FollowingBox, RedactionPlan, Redactor
from hub.exhibits.derive.video_pass import video_pass
from hub.services import redaction_frames
from hub.storage.engine import open_database
from tests.support.face_video import face_frames, faces_found, read_frames, sharpness, write_video
from tests.support.hub_kit import (
    RecordingLink,
    auth,
    insert_evidence,
    make_settings,
    report_status,
)
from tests.support.seaweedfs import SeaweedS3

pytestmark = pytest.mark.slow
WIDTH, HEIGHT, FRAMES = 640, 360, 50  # 2 s at 25 fps, a keyframe every 12 (ultrafast's GOP)
Box = tuple[int, int, int, int]


@dataclass
class Stand:
    client: TestClient
    item: EvidenceItem
    master: Path
    pictures: list[tuple[Any, list[Box]]]  # what was drawn, with the faces' boxes

    def custody(self, action: str) -> list[dict[str, Any]]:
        rows = self.client.get("/api/audit", auth=auth("auditor")).json()
        return [row for row in rows if row["action"] == action]


@pytest.fixture(scope="module")
def stand(tmp_path_factory: pytest.TempPathFactory, hub_engine_per_module: str) -> Iterator[Stand]:
    folder = tmp_path_factory.mktemp("redaction")
    pictures = face_frames(WIDTH, HEIGHT, FRAMES)
    master = folder / "master.mp4"
    data = write_video(master, [p for p, _ in pictures])
    key = Ed25519PrivateKey.generate()
    settings = make_settings(folder, site_key=key)
    database = open_database(settings)
    try:
        with TestClient(create_app(settings, database, RecordingLink())) as client:
            report_status(database)
            item = insert_evidence(
                settings, database, key, data, requested_by="pc-one", width=WIDTH, height=HEIGHT
            )
            yield Stand(client, item, master, pictures)
    finally:
        database.close()


def picture(response: Any) -> np.ndarray[Any, Any]:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "image/jpeg"
    decoded = cv2.imdecode(np.frombuffer(response.content, np.uint8), cv2.IMREAD_COLOR)
    assert decoded is not None and decoded.shape == (HEIGHT, WIDTH, 3)
    return decoded


def difference(a: np.ndarray[Any, Any], b: np.ndarray[Any, Any]) -> float:
    return float(np.mean(np.abs(a.astype(np.int16) - b.astype(np.int16))))


def _changed(picture: np.ndarray[Any, Any], master: np.ndarray[Any, Any]) -> Any:
    """Where ``picture`` differs from ``master`` by more than re-encoding does, smoothed
    (a blurred area agrees with its own background in places)."""
    diff = np.abs(cv2.blur(picture, (9, 9)).astype(np.int16) - cv2.blur(master, (9, 9)))
    return diff.max(axis=2) > 25


def test_the_frame_at_a_time_is_the_masters_frame_and_a_view_row(stand: Stand) -> None:
    source = read_frames(stand.master)
    for t, n in ((0.0, 0), (1.0, 25), (1.03, 25), (1.96, 49)):  # 1.03 s: frame 25 is showing
        path = f"/api/clips/{stand.item.clip_id}/frame?t={t}"
        shown = picture(stand.client.get(path, auth=auth("supervisor")))
        nearest = min(range(FRAMES), key=lambda k: difference(shown, source[k]))
        assert nearest == n, (t, nearest)
    rows = [r for r in stand.custody("view") if r["detail"].get("what") == "frame for redaction"]
    assert [r["detail"]["t"] for r in rows][-4:] == [0.0, 1.0, 1.03, 1.96]
    assert all(r["subject"] == f"clip:{stand.item.clip_id}" for r in rows)
    assert all(r["actor"] == "supervisor" for r in rows)


def test_a_time_after_the_end_or_a_box_outside_the_picture_is_refused(stand: Stand) -> None:
    clip = stand.item.clip_id
    late = stand.client.get(f"/api/clips/{clip}/frame?t=9", auth=auth("supervisor"))
    assert late.status_code == 422 and "after the end of the clip" in late.json()["detail"]
    negative = stand.client.get(f"/api/clips/{clip}/frame?t=-1", auth=auth("supervisor"))
    assert negative.status_code == 422
    outside = stand.client.post(
        f"/api/clips/{clip}/redaction-preview",
        json={"t": 0.5, "boxes": [{"x": 600, "y": 10, "w": 100, "h": 50}]},
        auth=auth("supervisor"),
    )
    assert outside.status_code == 422
    assert "reaches outside the 640x360 frame" in outside.json()["detail"]
    unknown = stand.client.get("/api/clips/clip-nothere/frame?t=0", auth=auth("supervisor"))
    assert unknown.status_code == 404


@pytest.mark.parametrize("user", ["pc-one", "operator", "engineer", "auditor"])
def test_only_supervisors_see_frames_and_previews(stand: Stand, user: str) -> None:
    clip = stand.item.clip_id
    before = len(stand.custody("forbidden"))
    frame = stand.client.get(f"/api/clips/{clip}/frame?t=0", auth=auth(user))
    preview = stand.client.post(
        f"/api/clips/{clip}/redaction-preview", json={"t": 0}, auth=auth(user)
    )
    assert (frame.status_code, preview.status_code) == (403, 403)
    rows = stand.custody("forbidden")[before:]
    assert [(r["actor"], r["detail"]["permission"]) for r in rows] == [
        (user, "evidence.manage"),
        (user, "evidence.manage"),
    ]


def test_the_preview_blurs_faces_and_boxes_and_is_a_view_row(stand: Stand) -> None:
    clip, n = stand.item.clip_id, 30
    source, faces = stand.pictures[n]
    corner = (0, 0, 100, 80)
    plain = picture(
        stand.client.post(
            f"/api/clips/{clip}/redaction-preview",
            json={"t": n / 25, "faces": False},
            auth=auth("supervisor"),
        )
    )
    assert faces_found(plain) == 2  # nothing asked for: nothing changed
    shown = picture(
        stand.client.post(
            f"/api/clips/{clip}/redaction-preview",
            json={"t": n / 25, "faces": True, "boxes": [{"x": 0, "y": 0, "w": 100, "h": 80}]},
            auth=auth("supervisor"),
        )
    )
    assert faces_found(shown) == 0
    for box in [*faces, corner]:
        assert sharpness(shown, box) < sharpness(source, box) * 0.15, box
    untouched = (WIDTH // 2 - 30, HEIGHT - 80, 60, 60)
    assert sharpness(shown, untouched) > sharpness(source, untouched) * 0.5
    row = stand.custody("view")[-1]
    assert row["detail"]["what"] == "redaction preview"
    assert (row["detail"]["boxes"], row["detail"]["faces"]) == (1, True)
    assert row["detail"]["sha256"] == stand.item.sha256


def test_the_preview_is_what_the_redacted_copy_shows(stand: Stand, tmp_path: Path) -> None:
    """One way to redact: the same plan through the copy and the preview, compared frame by
    frame where the faces, a fixed box and a following box (drawn at 0.2 s) are."""
    follow = (150, 120, 100, 120)
    plan = RedactionPlan(
        fixed=(FixedBox((0, 0, 100, 80), 0.4, 1.2),), following=(FollowingBox(follow, 0.2),)
    )
    boxes = [
        {"x": 0, "y": 0, "w": 100, "h": 80, "from_s": 0.4, "to_s": 1.2},
        {"x": 150, "y": 120, "w": 100, "h": 120, "follow": True, "at_s": 0.2},
    ]
    job = DeriveJob(
        operation="redact",
        source=stand.master,
        source_manifest_bytes=stand.item.manifest.encode(),
        out_dir=tmp_path / "copy",
        hub_id="test-hub",
        hub_key=Ed25519PrivateKey.generate(),
        created_by="supervisor",
        created_at=datetime.now(UTC),
        redaction=plan,
    )
    derive(job)
    copy = read_frames(job.out_dir / "derived.mp4")
    plain = read_frames(stand.master)
    for n in (7, 20, 31, 44):
        shown = picture(
            stand.client.post(
                f"/api/clips/{stand.item.clip_id}/redaction-preview",
                json={"t": n / 25, "boxes": boxes},
                auth=auth("supervisor"),
            )
        )
        # Where the copy differs from the master (the redacted areas), the preview shows what
        # the copy shows: as close as two lossy encodings of one picture, far from the master.
        redacted = _changed(copy[n], plain[n]) | _changed(shown, plain[n])
        assert redacted.sum() > 5000, n
        assert difference(shown[redacted], copy[n][redacted]) < 6, n
        assert difference(plain[n][redacted], copy[n][redacted]) > 15, n
    info = json.loads((job.out_dir / "manifest.json").read_bytes())
    assert info["source"]["sha256"] == stand.item.sha256


class _InOneLoop:
    """The redactor called as one plain loop would (no looking ahead on other threads)."""

    pixel_format = "yuv420p"

    def __init__(self, plan: RedactionPlan) -> None:
        self.redactor = Redactor(plan)

    def __call__(self, picture: Any, index: int, seconds: float) -> Any:
        return self.redactor(picture, index, seconds)


def test_the_copy_is_reproducible_and_looking_ahead_on_other_threads_changes_nothing(
    stand: Stand, tmp_path: Path
) -> None:
    """The same plan on the same master gives the same copy, byte for byte, every time, and
    the same as one plain loop (OpenCV's own threads return faces in any order: sorted)."""
    plan = RedactionPlan(following=(FollowingBox((150, 120, 100, 120), 0.2),))
    ahead, loop = Redactor(plan), _InOneLoop(plan)
    assert isinstance(ahead, LooksAhead) and not isinstance(loop, LooksAhead)
    pipelined = [
        video_pass(stand.master, tmp_path / f"ahead-{n}.mp4", redactor).sha256
        for n, redactor in enumerate([ahead, Redactor(plan)])
    ]
    looped = video_pass(stand.master, tmp_path / "loop.mp4", loop)
    assert (ahead.faces_detected, ahead.face_frames) == (
        loop.redactor.faces_detected,
        loop.redactor.face_frames,
    )
    assert ahead.face_frames == FRAMES
    assert pipelined == [looped.sha256] * 2  # libx264 is deterministic: the same pictures


def test_frames_and_previews_of_a_master_kept_in_s3(
    stand: Stand, seaweed: SeaweedS3, tmp_path: Path
) -> None:
    """An S3 object is a stream: it is read by byte ranges to seek in, the same frame comes
    out, and the object is untouched."""
    store = seaweed.store()
    data = stand.master.read_bytes()
    staging = tmp_path / "staging.mp4"
    staging.write_bytes(data)
    item = dataclasses.replace(stand.item, store_key=store.put_file(staging, stand.item.sha256))
    with store.open(item.store_key) as stream:
        assert not stream.seekable()
    from_s3 = asyncio.run(redaction_frames.frame(store, item, 1.0))
    local = stand.client.get(f"/api/clips/{item.clip_id}/frame?t=1.0", auth=auth("supervisor"))
    assert from_s3 == local.content
    plan = RedactionPlan(fixed=(FixedBox((0, 0, 100, 80)),))
    shown = cv2.imdecode(
        np.frombuffer(asyncio.run(redaction_frames.preview(store, item, plan, 1.0)), np.uint8),
        cv2.IMREAD_COLOR,
    )
    assert shown is not None and faces_found(shown) == 0
    with store.open(item.store_key) as stream:
        assert hashlib.sha256(stream.read()).hexdigest() == stand.item.sha256
