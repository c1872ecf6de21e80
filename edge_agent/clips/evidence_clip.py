"""Making one evidence item at the edge: plan, cut by stream copy, manifest, sign, write.

Shared by the offline ``cctv-agent cut`` and the uplink's job handler. The window is pinned in the
index while the cut runs, so retention cannot delete a segment from under it. Files are written as
``.part`` and renamed only when all three exist; on any failure nothing is left behind.
"""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from cctv_common import __version__
from cctv_common.clock import utc_now
from cctv_common.evidence.manifest import (
    Manifest,
    ManifestGap,
    Software,
    SourceSegment,
    Window,
)
from cctv_common.evidence.signing import key_id, sign
from cctv_common.evidence.verify import CLIP_NAME, MANIFEST_NAME, SIGNATURE_NAME
from cctv_common.files import fsync_dir, write_synced
from edge_agent.cameras.camera_facts import CameraFacts
from edge_agent.clips.cut_plan import CutPlan, WindowOutsideBuffer, check_window, plan_cut
from edge_agent.clips.cutter import cut_clip
from edge_agent.recording.segments import Pin
from edge_agent.store.segment_index import SegmentIndex

log = logging.getLogger(__name__)

SOFTWARE_NAME = "cctv-evidence edge_agent"


class OutputExists(Exception):
    """The output folder already holds evidence; it is never overwritten."""


@dataclass(frozen=True)
class EvidenceClip:
    directory: Path
    clip_path: Path
    manifest: Manifest
    manifest_bytes: bytes
    signature: str


def new_clip_id() -> str:
    return uuid.uuid4().hex


def plan_for(
    index: SegmentIndex,
    camera_id: str,
    start: datetime,
    end: datetime,
    gap_tolerance: timedelta,
) -> CutPlan:
    """Plan a cut from the index; a window outside the buffer says what the buffer holds.

    The camera's recorded gaps and retention horizon give every gap of the plan its cause.
    """
    check_window(start, end)
    segments = index.segments_overlapping(camera_id, start, end)
    try:
        return plan_cut(
            camera_id,
            segments,
            start,
            end,
            gap_tolerance,
            recorded_gaps=index.gaps_overlapping(camera_id, start, end),
            retention_horizon=index.retention_horizon(camera_id),
        )
    except WindowOutsideBuffer as exc:
        extent = index.buffer_extent(camera_id)
        held = (
            "its buffer is empty"
            if extent is None
            else f"its buffer holds {_iso(extent[0])} to {_iso(extent[1])}"
        )
        raise WindowOutsideBuffer(f"{exc}; {held}") from exc


def make_evidence_clip(
    *,
    index: SegmentIndex,
    segments_dir: Path,
    site_id: str,
    camera: CameraFacts,
    plan: CutPlan,
    out_dir: Path,
    key: Ed25519PrivateKey,
    clip_id: str | None = None,
    job_id: str | None = None,
    progress: Callable[[float], None] | None = None,
) -> EvidenceClip:
    """Cut ``plan`` into ``out_dir`` as clip.mp4, manifest.json and manifest.sig."""
    clip_id = clip_id or new_clip_id()
    targets = [out_dir / name for name in (CLIP_NAME, MANIFEST_NAME, SIGNATURE_NAME)]
    existing = [path.name for path in targets if path.exists()]
    if existing:
        raise OutputExists(f"{out_dir} already holds {', '.join(existing)}; choose an empty folder")
    created_dir = not out_dir.exists()
    out_dir.mkdir(parents=True, exist_ok=True)
    pin_owner = cut_pin_owner(clip_id)
    index.pin(Pin(pin_owner, plan.camera_id, plan.delivered_start, plan.delivered_end))
    parts = [path.with_name(path.name + ".part") for path in targets]
    try:
        result = cut_clip(plan, segments_dir, parts[0], progress)
        manifest = Manifest(
            clip_id=clip_id,
            job_id=job_id,
            site_id=site_id,
            camera=camera.identity,
            requested=Window(start=plan.requested_start, end=plan.requested_end),
            delivered=Window(start=result.delivered_start, end=result.delivered_end),
            gaps=tuple(
                ManifestGap(start=g.start, end=g.end, reason=g.reason[:200], cause=g.cause)
                for g in plan.gaps
            ),
            clock_offset_seconds=camera.clock_offset_seconds,
            codec=result.codec,
            width=result.width,
            height=result.height,
            fps=result.fps,
            frames=result.packets,
            bytes=result.bytes,
            sha256=result.sha256,
            source_segments=tuple(
                SourceSegment(
                    path=part.segment.path,
                    start=part.segment.start,
                    end=part.segment.end,
                    bytes=part.segment.bytes,
                    sha256=part.segment.sha256,
                )
                for part in plan.parts
            ),
            software=Software(name=SOFTWARE_NAME, version=__version__),
            created_at=utc_now(),
            key_id=key_id(key),
        )
        manifest_bytes, signature = seal_evidence_files(manifest, key, parts, targets)
    except BaseException:
        for path in parts:
            path.unlink(missing_ok=True)
        if created_dir and out_dir.exists() and not any(out_dir.iterdir()):
            out_dir.rmdir()
        raise
    finally:
        index.unpin(pin_owner)
    log.info(
        "site %s camera %s: clip %s cut, %d bytes, SHA-256 %s",
        site_id,
        plan.camera_id,
        clip_id,
        result.bytes,
        result.sha256,
    )
    return EvidenceClip(out_dir, targets[0], manifest, manifest_bytes, signature)


def seal_evidence_files(
    manifest: Manifest, key: Ed25519PrivateKey, parts: list[Path], targets: list[Path]
) -> tuple[bytes, str]:
    """Sign ``manifest``, write it and its signature beside the clip's ``.part`` file (``parts``:
    clip, manifest, signature), and rename all three into ``targets`` together: an evidence item
    appears whole or not at all. Returns the signed bytes and the signature."""
    manifest_bytes = manifest.canonical_bytes()
    signature = sign(key, manifest_bytes)
    write_synced(parts[1], manifest_bytes)
    write_synced(parts[2], signature.encode("ascii") + b"\n")
    for part, target in zip(parts, targets, strict=True):
        os.replace(part, target)
    fsync_dir(targets[0].parent)
    return manifest_bytes, signature


def cut_pin_owner(clip_id: str) -> str:
    """Pins held during a cut name the process, so a crashed cut's pin can be recognised."""
    return f"cut-{os.getpid()}-{clip_id}"


def release_stale_cut_pins(index: SegmentIndex) -> list[str]:
    """Drop ``cut-`` pins whose process is gone (a cut killed mid-way); return their owners."""
    released = []
    for pin in index.pins():
        parts = pin.owner.split("-", 2)
        if len(parts) != 3 or parts[0] != "cut" or not parts[1].isdigit():
            continue
        if not _process_alive(int(parts[1])):
            index.unpin(pin.owner)
            released.append(pin.owner)
    return released


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
