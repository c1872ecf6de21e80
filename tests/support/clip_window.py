"""What a clip must hold of the window it was asked for, checked against what the agent recorded.

A clip covers its window from the keyframe at or before the start; it falls short of the window
only where its manifest records a gap with its cause (a window reaching back before an agent's
restart, a camera stall on a busy machine) and the agent's index held no footage of that stretch
when the clip was cut. A fixed tolerance in a test instead fails whenever the machine is slow
enough for a real, recorded gap to fall at the window's edge.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

from cctv_common.evidence.manifest import Manifest
from edge_agent.store.segment_index import SegmentIndex


def check_clip_window(
    manifest: Manifest,
    start: datetime,
    end: datetime,
    *,
    index_db: Path,
    camera_id: str,
    tolerance: timedelta = timedelta(0),
) -> float:
    """Assert the rule above (``tolerance``: what the cut may fall short at either edge with no
    gap); the seconds of the window the manifest's gaps take."""
    gaps = [gap for gap in manifest.gaps if gap.end > start and gap.start < end]
    for gap in gaps:
        assert gap.cause is not None and gap.reason, f"a gap without its cause: {gap}"
    delivered = manifest.delivered
    short = [(start, delivered.start)] if delivered.start - start > tolerance else []
    if end - delivered.end > tolerance:
        short.append((delivered.end, end))
    index = SegmentIndex(index_db)
    try:
        for first, last in short:
            assert any(
                gap.start <= first + tolerance and gap.end >= last - tolerance for gap in gaps
            ), f"the clip misses {first} to {last} of its window, and no gap says why: {gaps}"
            held = [
                segment
                for segment in index.segments_overlapping(camera_id, first, last)
                if segment.end <= manifest.created_at
            ]
            assert held == [], f"footage the index held from {first} to {last} is not in the clip"
    finally:
        index.close()
    return sum(((min(gap.end, end) - max(gap.start, start)).total_seconds() for gap in gaps), 0.0)
