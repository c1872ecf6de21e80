"""A WebRTC viewer for tests: an aiortc client that receives one camera and decodes it.

The viewer may decode: it stands for the browser. The agent under test never does.
"""

from __future__ import annotations

import asyncio

import av
from aiortc import RTCPeerConnection, RTCRtpSender, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

FRAME_WAIT_SECONDS = 20.0  # only stops a broken test from hanging


class Viewer:
    """``codecs="vp8"`` offers VP8 only (an offer the agent must refuse)."""

    def __init__(self, codecs: str = "any") -> None:
        self.pc = RTCPeerConnection()
        transceiver = self.pc.addTransceiver("video", direction="recvonly")
        if codecs == "vp8":
            transceiver.setCodecPreferences(
                [
                    c
                    for c in RTCRtpSender.getCapabilities("video").codecs
                    if c.mimeType == "video/VP8"
                ]
            )
        self.frames: list[av.VideoFrame] = []
        self._track: asyncio.Future[MediaStreamTrack] = asyncio.get_running_loop().create_future()
        self.pc.on("track", self._track.set_result)
        self._reader: asyncio.Task[None] | None = None

    async def offer_sdp(self) -> str:
        await self.pc.setLocalDescription(await self.pc.createOffer())
        return str(self.pc.localDescription.sdp)

    async def apply(self, answer: str) -> None:
        await self.pc.setRemoteDescription(RTCSessionDescription(sdp=answer, type="answer"))
        self._reader = asyncio.ensure_future(self._read())

    async def _read(self) -> None:
        track = await self._track
        try:
            while True:
                frame = await track.recv()
                assert isinstance(frame, av.VideoFrame)
                self.frames.append(frame)
        except MediaStreamError:
            pass

    async def wait_frames(self, count: int) -> list[av.VideoFrame]:
        """The frames decoded from now on, once there are at least ``count`` of them."""
        start = len(self.frames)
        async with asyncio.timeout(FRAME_WAIT_SECONDS):
            while len(self.frames) < start + count:  # noqa: ASYNC110 - the reader appends
                await asyncio.sleep(0.05)
        return self.frames[start:]

    async def close(self) -> None:
        await self.pc.close()
        if self._reader is not None:
            self._reader.cancel()
