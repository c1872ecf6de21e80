"""Is a received clip the video its manifest declares? A bounded probe with PyAV, before storing.

A signature proves who sent a clip, not that it is video. Before a clip becomes evidence the hub
opens it as a container and needs exactly one video stream of the declared codec. It then demuxes
the stream once from start to end (reading packets, which is cheap, without decoding them) and
decodes only two GOPs: the first (from the first packet, which must be a keyframe, up to the
second keyframe) and the last (from the last keyframe to the end), every frame of the declared
size. The container must also hold every frame its own index lists, so a clip cut short or
damaged towards its end is caught even when what remains decodes. The cost is a read of the file
and two GOPs of decoding, whatever the clip's length. Nothing is re-encoded or written.

Blocking (demux and decode): run ``probe_clip`` in a worker thread.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from io import RawIOBase
from pathlib import Path
from typing import BinaryIO, Final

import av
import av.error

log = logging.getLogger(__name__)

# The manifest names the codec as FFmpeg does ("h264", "hevc"); "h265" is accepted for "hevc".
CODEC_ALIASES: Final[dict[str, str]] = {"h265": "hevc"}
# A bound on the packets decoded for one GOP (and kept in memory for the last one), so an absurd
# stream with no keyframe after the first cannot turn the probe into a decode of the whole clip.
MAX_GOP_FRAMES: Final = 600
# FFmpeg's read size (it only matters for a file object, read through Python).
PYTHON_READ_BYTES: Final = 1024 * 1024


class ClipUnreadable(Exception):
    """The clip is not the video its manifest declares; the message says why (for the agent)."""


@dataclass(frozen=True)
class ProbeResult:
    codec: str
    width: int
    height: int
    packets: int
    first_gop_frames: int
    last_gop_frames: int


def probe_clip(
    source: Path | BinaryIO | RawIOBase, codec: str, width: int, height: int
) -> ProbeResult:
    """Check the clip (a path, or a readable seekable file) against the manifest's codec and size,
    or raise ClipUnreadable."""
    wanted = CODEC_ALIASES.get(codec.lower(), codec.lower())
    opened = str(source) if isinstance(source, Path) else source
    try:
        # A file object is read through Python: large reads, so few calls hold the GIL.
        with av.open(opened, "r", buffer_size=PYTHON_READ_BYTES) as container:
            videos = container.streams.video
            if len(videos) != 1:
                raise ClipUnreadable(f"the clip has {len(videos)} video streams, not 1")
            stream = videos[0]
            found = stream.codec_context.name
            if found != wanted:
                raise ClipUnreadable(f"the manifest says {codec}, the clip's video is {found}")
            return _probe(container, stream, found, width, height)
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


def _probe(
    container: av.container.InputContainer,
    stream: av.VideoStream,
    codec: str,
    width: int,
    height: int,
) -> ProbeResult:
    context = stream.codec_context
    context.thread_type = "AUTO"  # frame and slice threads: the two GOPs decode sooner
    packets = 0
    first: int | None = None  # frames of the first GOP, once it has ended
    first_frames = 0
    last_gop: list[av.Packet] = []
    for packet in container.demux(stream):
        if packet.size == 0:  # the demuxer's flush packet
            continue
        if packets == 0 and not packet.is_keyframe:
            raise ClipUnreadable("the clip does not start with a keyframe")
        packets += 1
        if packet.is_keyframe:
            if first is None and packets > 1:
                first = first_frames + _drain(context, width, height)
                context.flush_buffers()
            last_gop = []
        if first is None and packets <= MAX_GOP_FRAMES:
            first_frames += _decode(context, [packet], width, height)
        if len(last_gop) < MAX_GOP_FRAMES:
            last_gop.append(packet)
    if packets == 0:
        raise ClipUnreadable(f"the clip holds no {codec} video")
    if first is None:  # one GOP: the first is the last, and it has been decoded to the end
        first = last = first_frames + _drain(context, width, height)
    else:
        last = _decode(context, last_gop, width, height) + _drain(context, width, height)
    if first == 0:
        raise ClipUnreadable(f"the first GOP does not decode as {codec}")
    if last == 0:
        raise ClipUnreadable(f"the last GOP does not decode as {codec}")
    listed = stream.frames
    if listed and packets != listed:
        raise ClipUnreadable(
            f"the clip holds {packets} of the {listed} frames its container lists"
            " (cut short or damaged)"
        )
    return ProbeResult(codec, width, height, packets, first, last)


def _decode(
    context: av.VideoCodecContext, packets: Iterable[av.Packet], width: int, height: int
) -> int:
    frames = 0
    for packet in packets:
        for frame in context.decode(packet):
            frames += _check_frame(frame, width, height)
    return frames


def _drain(context: av.VideoCodecContext, width: int, height: int) -> int:
    """The frames the decoder still holds (it is flushed afterwards by the caller if reused)."""
    return sum(_check_frame(frame, width, height) for frame in context.decode(None))


def _check_frame(frame: av.VideoFrame, width: int, height: int) -> int:
    if (frame.width, frame.height) != (width, height):
        raise ClipUnreadable(
            f"the manifest says {width}x{height},"
            f" the clip's frames are {frame.width}x{frame.height}"
        )
    return 1
