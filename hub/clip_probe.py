"""Is a received clip the video its manifest declares? A bounded probe with PyAV, before storing.

A signature proves who sent a clip, not that it is video. Before a clip becomes evidence the hub
opens it as a container, needs exactly one video stream of the declared codec, and decodes its
first GOP (from the start up to the second keyframe) and its last GOP (from the keyframe a seek to
the end lands on, to the end), each frame of the declared size. That refuses bytes that are not
video of that codec, or a container whose start or end is damaged, without decoding the whole
clip: the cost is two GOPs, whatever the clip's length. Nothing is re-encoded or written.

Blocking (demux and decode): run ``probe_clip`` in a worker thread.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import av
import av.error

log = logging.getLogger(__name__)

# The manifest names the codec as FFmpeg does ("h264", "hevc"); "h265" is accepted for "hevc".
CODEC_ALIASES: Final[dict[str, str]] = {"h265": "hevc"}
# A bound on the frames decoded for one GOP, so an absurd stream (no keyframe after the first)
# cannot turn the probe into a decode of the whole clip.
MAX_GOP_FRAMES: Final = 600


class ClipUnreadable(Exception):
    """The clip is not the video its manifest declares; the message says why (for the agent)."""


@dataclass(frozen=True)
class ProbeResult:
    codec: str
    width: int
    height: int
    first_gop_frames: int
    last_gop_frames: int


def probe_clip(path: Path, codec: str, width: int, height: int) -> ProbeResult:
    """Check the clip at ``path`` against the manifest's codec and size, or raise ClipUnreadable."""
    wanted = CODEC_ALIASES.get(codec.lower(), codec.lower())
    try:
        with av.open(str(path), "r") as container:
            videos = container.streams.video
            if len(videos) != 1:
                raise ClipUnreadable(f"the clip has {len(videos)} video streams, not 1")
            stream = videos[0]
            found = stream.codec_context.name
            if found != wanted:
                raise ClipUnreadable(f"the manifest says {codec}, the clip's video is {found}")
            # Frame and slice threads: the hub's cores decode the two GOPs sooner.
            stream.codec_context.thread_type = "AUTO"
            gop = _FirstGop()
            first = _decode(gop.packets(container, stream), stream, width, height)
            if first == 0:
                raise ClipUnreadable(f"the first GOP does not decode as {codec}")
            if gop.is_whole_clip:
                last = first  # one GOP: the first is the last, already decoded to the end
            else:
                stream.codec_context.flush_buffers()
                end = container.duration
                if end is None or end <= 0:
                    raise ClipUnreadable("the clip has no duration")
                container.seek(end, backward=True, any_frame=False)
                last = _decode(_to_end(container, stream), stream, width, height)
                if last == 0:
                    raise ClipUnreadable(f"the last GOP does not decode as {codec}")
    except ClipUnreadable:
        raise
    except av.error.FFmpegError as exc:
        # strerror only: the exception's text names the hub's staging file, which the agent is
        # not told.
        raise ClipUnreadable(f"the clip cannot be read as {codec} video: {exc.strerror}") from exc
    except (ValueError, OSError, EOFError) as exc:
        raise ClipUnreadable(
            f"the clip cannot be read as {codec} video ({type(exc).__name__})"
        ) from exc
    return ProbeResult(found, width, height, first, last)


class _FirstGop:
    """The packets from the first keyframe up to the next one; notes whether none came."""

    def __init__(self) -> None:
        self.is_whole_clip = False

    def packets(
        self, container: av.container.InputContainer, stream: av.VideoStream
    ) -> Iterator[av.Packet]:
        started = False
        for packet in container.demux(stream):
            if packet.size == 0:  # the demuxer's flush packet
                continue
            if packet.is_keyframe and started:
                return
            if not started and not packet.is_keyframe:
                raise ClipUnreadable("the clip does not start with a keyframe")
            started = True
            yield packet
        self.is_whole_clip = True


def _to_end(container: av.container.InputContainer, stream: av.VideoStream) -> Iterator[av.Packet]:
    for packet in container.demux(stream):
        if packet.size != 0:
            yield packet


def _decode(packets: Iterator[av.Packet], stream: av.VideoStream, width: int, height: int) -> int:
    context = stream.codec_context
    frames = 0
    for packet in packets:
        for frame in context.decode(packet):
            frames += _check_frame(frame, width, height)
        if frames >= MAX_GOP_FRAMES:
            return frames
    for frame in context.decode(None):
        frames += _check_frame(frame, width, height)
    return frames


def _check_frame(frame: av.VideoFrame, width: int, height: int) -> int:
    if (frame.width, frame.height) != (width, height):
        raise ClipUnreadable(
            f"the manifest says {width}x{height},"
            f" the clip's frames are {frame.width}x{frame.height}"
        )
    return 1
