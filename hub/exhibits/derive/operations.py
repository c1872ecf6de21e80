"""Make one derived item from a master: the copy, its facts, and its hub-signed manifest.

``derive`` blocks (PyAV and OpenCV work for seconds to minutes); ``aderive`` runs it in a worker
thread so that the hub's event loop is never held (PyAV and OpenCV release the GIL while they
work). The output folder is made whole or not at all: ``derived.mp4``, ``manifest.json`` (the
exact signed bytes) and ``manifest.sig``.
"""

from __future__ import annotations

import asyncio
import os
import shutil
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO, Final

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from cctv_common.evidence.manifest import Manifest
from hub.exhibits.derive.derived_manifest import SignedDerived, derived_manifest
from hub.exhibits.derive.redaction import RedactionPlan, Redactor
from hub.exhibits.derive.timestamp import TimestampBurn
from hub.exhibits.derive.video_pass import (
    DeriveError,
    EncodeSettings,
    FrameChange,
    FrameCount,
    video_pass,
)

OPERATIONS: Final = ("h264", "timestamp", "redact")


@dataclass(frozen=True)
class DeriveJob:
    operation: str
    source: BinaryIO | Path  # the master, only read
    source_manifest_bytes: bytes  # its signed manifest
    out_dir: Path
    hub_id: str
    hub_key: Ed25519PrivateKey
    created_by: str
    created_at: datetime
    redaction: RedactionPlan = field(default_factory=RedactionPlan)
    encode: EncodeSettings = field(default_factory=EncodeSettings)
    item_id: str | None = None  # the hub's id for it (DRV-...); None: a new one
    on_frame: FrameCount | None = None  # told the frames done, for progress


@dataclass(frozen=True)
class DerivedResult:
    out_dir: Path
    signed: SignedDerived
    sha256: str
    frames: int
    stats: dict[str, Any]


def derive(job: DeriveJob) -> DerivedResult:
    if job.operation not in OPERATIONS:
        raise DeriveError(f"operation {job.operation!r} is not one of {', '.join(OPERATIONS)}")
    source = Manifest.parse(job.source_manifest_bytes)
    change: FrameChange | None = None
    parameters: dict[str, Any] = {"crf": job.encode.crf, "preset": job.encode.preset}
    redactor: Redactor | None = None
    if job.operation == "timestamp":
        burn = TimestampBurn(source.delivered.start, source.camera.id, source.clock_offset_seconds)
        change, parameters = burn, {**parameters, **burn.parameters()}
    elif job.operation == "redact":
        redactor = Redactor(job.redaction)
        change, parameters = redactor, {**parameters, **job.redaction.parameters()}
    if job.out_dir.exists():
        raise DeriveError(f"{job.out_dir} exists already")
    staging = job.out_dir.with_name(f".{job.out_dir.name}.{os.getpid()}.part")
    staging.mkdir(parents=True)
    try:
        facts = video_pass(job.source, staging / "derived.mp4", change, job.encode, job.on_frame)
        signed = derived_manifest(
            source,
            job.source_manifest_bytes,
            job.operation,
            parameters,
            facts,
            hub_id=job.hub_id,
            hub_key=job.hub_key,
            created_by=job.created_by,
            created_at=job.created_at,
            item_id=job.item_id,
        )
        (staging / "manifest.json").write_bytes(signed.manifest_bytes)
        (staging / "manifest.sig").write_text(signed.signature + "\n", encoding="ascii")
        os.replace(staging, job.out_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    stats: dict[str, Any] = {}
    if redactor is not None:
        stats = {"face_frames": redactor.face_frames, "faces_detected": redactor.faces_detected}
    return DerivedResult(job.out_dir, signed, facts.sha256, facts.frames, stats)


async def aderive(job: DeriveJob) -> DerivedResult:
    """``derive`` off the event loop."""
    return await asyncio.to_thread(derive, job)
