"""Is a finished upload what its first bytes say? Pictures are taken on their magic bytes (a
JPEG or PNG is also opened with PyAV); a video must open as a container with a video stream
and give packets. Nothing is decoded beyond that and nothing is written. Blocking: run in a
worker thread."""

from __future__ import annotations

from pathlib import Path
from typing import Final

import av
import av.error

from hub.domain.uploads.media import HEIC, MediaKind, MediaType

MAX_PACKETS: Final = 50


class MediaUnreadable(Exception):
    """The file is not the video or picture its first bytes suggest; the message says why."""


def probe_media(path: Path, media: MediaType) -> None:
    if media is HEIC:
        return  # FFmpeg's HEIF support varies by build: the magic bytes decide
    try:
        with av.open(str(path), "r") as container:
            if media.kind is MediaKind.VIDEO and not container.streams.video:
                raise MediaUnreadable(f"the {media.label} has no video stream")
            packets = 0
            for packet in container.demux(container.streams.video[0]):
                if packet.size:
                    packets += 1
                if packets >= MAX_PACKETS:
                    break
            if packets == 0:
                raise MediaUnreadable(f"the {media.label} holds no pictures")
    except (av.error.FFmpegError, IndexError, OSError, ValueError) as exc:
        raise MediaUnreadable(f"the {media.label} cannot be read: {exc}") from exc
