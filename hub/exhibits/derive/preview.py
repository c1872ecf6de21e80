"""What a redacted copy will show at one moment, before it is made: the redaction preview.

One way to redact: the preview runs the same ``Redactor`` with the same plan over the same
frames the copy would give it, and shows the frame at the time asked. So that its state (face
tracks, following boxes) is what the copy's would be there, it starts a little before: far
enough back for face tracks to be found and held (``hold_frames`` + ``detect_every`` frames),
and back to where each following box was drawn (it is tracked from there, as in the copy; faces
are not looked for on the frames before the face run-in, as none found there could last).
Frame indices come from frame times (as ``frames_until`` gives them), so for a constant-rate
clip face detection runs on the same frames as in the copy.
"""

from __future__ import annotations

from pathlib import Path
from typing import BinaryIO, Final

import av

from hub.exhibits.derive.frame_pipeline import picture_format
from hub.exhibits.derive.frames import ClipTiming, clip_timing, frame_at, frames_until, jpeg
from hub.exhibits.derive.redaction import RedactionPlan, Redactor, Sighting, luma_copy
from hub.exhibits.derive.video_pass import DeriveError

_EPSILON: Final = 1e-6


def faces_from(plan: RedactionPlan, seconds: float, fps: float) -> float:
    """From when the preview of ``seconds`` must look for faces: far enough back for face
    tracks to be found and held (``hold_frames`` + ``detect_every`` frames)."""
    return max(0.0, seconds - (plan.hold_frames + plan.detect_every) / fps)


def run_in_start(plan: RedactionPlan, seconds: float, fps: float) -> float:
    """Where the preview of ``seconds`` starts feeding frames to the redactor: where it must
    look for faces, or where a following box shown at ``seconds`` was drawn if earlier."""
    start = faces_from(plan, seconds, fps) if plan.faces else seconds
    for box in plan.following:
        if box.at <= seconds:
            start = min(start, box.at)
    return max(0.0, start)


def frame_jpeg(source: BinaryIO | Path, seconds: float) -> bytes:
    """The frame shown at ``seconds``, unchanged, as JPEG."""
    return jpeg(frame_at(source, seconds).frame.to_ndarray(format="bgr24"))


def preview_jpeg(
    source: BinaryIO | Path, plan: RedactionPlan, seconds: float, timing: ClipTiming | None = None
) -> bytes:
    """The frame shown at ``seconds`` as the redacted copy will show it, as JPEG."""
    timing = timing or clip_timing(source)
    if not isinstance(source, Path):
        source.seek(0)
    redactor = Redactor(plan)
    picture = None
    fps = float(timing.rate)
    start, faces = run_in_start(plan, seconds, fps), faces_from(plan, seconds, fps)
    layout = "bgr24"
    for decoded in frames_until(source, start, seconds):
        layout = picture_format(redactor, decoded.frame)  # as the copy gives it the frame
        picture = decoded.frame.to_ndarray(format=layout)
        if decoded.seconds < faces - _EPSILON:  # following boxes only: no face can last to t
            sighting = Sighting(*luma_copy(picture, plan.detect_width), None)
        else:
            sighting = redactor.look(picture, decoded.index, decoded.seconds)
        picture = redactor.apply(picture, decoded.index, decoded.seconds, sighting)
    if picture is None:
        raise DeriveError(f"no frame at {seconds:g} s")
    if layout != "bgr24":  # the same conversion as the frame's own JPEG
        picture = av.VideoFrame.from_ndarray(picture, format=layout).to_ndarray(format="bgr24")
    return jpeg(picture)
