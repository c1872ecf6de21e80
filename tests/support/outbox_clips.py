"""Clips put straight into an agent's outbox, signed, as the cutter leaves them (random bytes:
for tests whose hub side is the stand-in, which checks hashes and signatures but not video)."""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Final

from cctv_common import __version__
from cctv_common.evidence.manifest import CameraIdentity, Manifest, Software, Window
from cctv_common.evidence.signing import key_id, load_or_create_private_key, sign
from cctv_common.wire.payloads import Job
from edge_agent.store.outbox import ClipRecord, NewClip, Outbox
from edge_agent.uplink.upload import chunk_hashes
from tests.support.agent_process import CHUNK
from tests.support.mosquitto_fixtures import SITE_A

START: Final = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


def put_clip(
    outbox: Outbox, data_dir: Path, size: int, priority: int, *, chunk: int = CHUNK
) -> ClipRecord:
    """A signed clip for a job of ``priority`` in the outbox, as the cutter leaves it."""
    key = load_or_create_private_key(data_dir / "agent_key.pem")
    clip_id, job_id = secrets.token_hex(16), "job-" + secrets.token_hex(4)
    data = secrets.token_bytes(size)
    window = Window(start=START, end=START + timedelta(seconds=20))
    directory = outbox.clip_dir(clip_id)
    directory.mkdir(parents=True)
    (directory / "clip.mp4").write_bytes(data)
    manifest = Manifest(
        clip_id=clip_id,
        job_id=job_id,
        site_id=SITE_A,
        camera=CameraIdentity(id="cam-1", name="test"),
        requested=window,
        delivered=window,
        codec="h264",
        width=640,
        height=360,
        bytes=size,
        sha256=hashlib.sha256(data).hexdigest(),
        software=Software(name="test", version=__version__),
        created_at=datetime.now(UTC),
        key_id=key_id(key),
    )
    manifest_bytes = manifest.canonical_bytes()
    hashes = chunk_hashes(directory / "clip.mp4", chunk)
    outbox.add_job(
        Job(
            job_id=job_id,
            camera_id="cam-1",
            start=window.start,
            end=window.end,
            reason="test",
            priority=priority,
        )
    )
    return outbox.add_clip(
        NewClip(
            clip_id=clip_id,
            job_id=job_id,
            directory=directory,
            manifest=manifest_bytes,
            signature=sign(key, manifest_bytes),
            key_id=key_id(key),
            clip_bytes=hashes.size,
            sha256=hashes.sha256,
            chunk_size=chunk,
            chunk_sha256=hashes.chunk_sha256,
        )
    )
