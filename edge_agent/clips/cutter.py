"""Clip cutter: carries out a ``CutPlan`` by remuxing its segments into one MP4, by stream copy.

Nothing is decoded or encoded: every video packet of the planned range goes into the clip with
the camera's own bytes (MPEG-TS carries NAL units with start codes, MP4 with length prefixes;
the MP4 muxer does that conversion and nothing else). The clip's ``moov`` box comes before
``mdat``, so a browser plays it while it downloads.

Clips hold the video stream only; gaps in the plan stay gaps (the frame before a gap is shown
until the next one, no filler frames are made). H.265 is tagged 'hvc1' for Safari; FFmpeg then
keeps VPS/SPS/PPS in the sample entry only, so if they change within the clip it is redone
tagged 'hev1', which keeps every NAL unit in band.

How it stays fast (numbers in ``bench/cut.py``):

* The planned segment files are demuxed as ONE input: ``SegmentChain`` is a read-only,
  seekable file-like object that presents their concatenation (MPEG-TS is concatenable).
  Opening and probing one demuxer per segment costs 15-25 ms each. ``packet.pos``, the byte
  offset in the chain, says which segment a packet came from, so that each segment is rebased
  on its own: its timestamps restart after a reconnect and never continue across files.
* The chain hashes every file as the demuxer reads it (in a helper thread, so on a second
  core), so the source segments' SHA-256, which go into the manifest, are those of the very
  bytes that were cut, read once; a mismatch with the index fails the cut at the end.
* The demuxer does not re-parse the elementary stream (``fflags=+noparse``): the recorder
  writes one access unit per PES packet, so PES payloads are the frames. Keyframe flags come
  from the index (``Segment.keyframes``), durations from the frame spacing. A PES packet
  without timestamps or without a leading start code means that this does not hold, and the
  cut is redone with the parser on.
* The ``moov`` box is written into space reserved at the front (``moov_size``, bounded from the
  plan) rather than moved there afterwards (``movflags=+faststart`` rewrites the whole file).
  If more frames come than the reservation allows, the cut is redone with ``+faststart``.
* The clip's writeback starts while it is muxed (``clip_writeback.py``: the kernel is asked
  every 8 MiB to start writing), so the fsync after the remux finds little left to write.
* The clip's own SHA-256 runs beside that fsync and the tail of the sources' hashes. It cannot
  start earlier: the moov box at the front is written last, and SHA-256 runs front to back.

Blocking: call ``cut_clip`` from a worker thread (``asyncio.to_thread``); ``progress`` is
called from that thread.
"""

from __future__ import annotations

import logging
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from cctv_common.files import fsync_dir, fsync_file
from edge_agent.clips.cut_errors import CutFailed
from edge_agent.clips.cut_plan import CutPlan
from edge_agent.clips.remux import ProgressCallback, Remuxed, remux_with_fallbacks
from edge_agent.clips.segment_chain import check_sources, verify_sources
from edge_agent.recording.segment_probe import sha256_of

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CutResult:
    """What was written: the clip's hash and size, its stream, and the time it covers.

    ``delivered_end`` is ``delivered_start`` plus the clip's duration (the last frame's pts
    plus its duration); ``packets`` counts video packets (frames).
    """

    path: Path
    bytes: int
    sha256: str
    codec: str
    width: int
    height: int
    fps: float | None
    packets: int
    delivered_start: datetime
    delivered_end: datetime
    duration_seconds: float


def cut_clip(
    plan: CutPlan,
    segments_dir: Path,
    out_path: Path,
    progress: ProgressCallback | None = None,
) -> CutResult:
    """Remux ``plan`` into one MP4 at ``out_path`` by stream copy; return what was written.

    The clip is written to ``out_path.with_suffix('.part')``, fsynced, and renamed to
    ``out_path`` (replacing it) only once every source segment has matched its SHA-256 in the
    index. Raises ``SegmentUnavailable``, ``SegmentCorrupt``, ``IncompatibleSegments`` or
    ``CutFailed``; then nothing is left at ``out_path`` or the ``.part`` path.
    """
    sources = check_sources(plan, segments_dir)
    part_path = out_path.with_suffix(".part")
    camera = plan.camera_id
    log.info(
        "camera %s: cutting %s segments into %s (%s to %s)",
        camera,
        len(sources),
        out_path,
        plan.delivered_start.isoformat(),
        plan.delivered_end.isoformat(),
    )
    written: Remuxed | None = None
    try:
        written = remux_with_fallbacks(plan, sources, part_path, progress)
        # The clip's hash, its fsync and the tail of the sources' hashes run side by side.
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="cut-fsync") as pool:
            synced = pool.submit(fsync_file, part_path)
            clip_sha256, clip_bytes = sha256_of(part_path)
            verify_sources(sources, written.sources.digests(), camera)
            synced.result()
        os.replace(part_path, out_path)
        fsync_dir(out_path.parent)
    except BaseException as exc:
        if written is not None:
            written.sources.close()
        part_path.unlink(missing_ok=True)
        if isinstance(exc, OSError):  # fsync, hashing or renaming the clip
            message = f"camera {camera}: cannot write {out_path}: {exc.strerror or exc}"
            raise CutFailed(message) from exc
        raise
    if progress is not None:
        progress(1.0)
    first = sources[0].part.segment
    result = CutResult(
        path=out_path,
        bytes=clip_bytes,
        sha256=clip_sha256,
        codec=first.codec,
        width=written.width or first.width,
        height=written.height or first.height,
        fps=first.fps,
        packets=written.packets,
        delivered_start=plan.delivered_start,
        delivered_end=plan.delivered_start + timedelta(seconds=written.duration_seconds),
        duration_seconds=written.duration_seconds,
    )
    log.info(
        "camera %s: cut %s (%s packets, %.1f s, %s bytes, sha256 %s)",
        camera,
        out_path,
        result.packets,
        result.duration_seconds,
        result.bytes,
        result.sha256,
    )
    return result
