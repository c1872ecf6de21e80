"""An aiortc video track that forwards the camera's H.264 without decoding it.

aiortc's ``RTCRtpSender`` reads a track with ``recv()``. When it gets an ``av.VideoFrame`` it runs
the codec's ``encode()`` in an executor; when it gets an ``av.Packet`` it calls the codec's
``pack()`` instead, which for H.264 only splits the Annex-B buffer at its start codes, packs the
NAL units into RTP payloads (single NAL, STAP-A, FU-A; packetization-mode 1) and converts the
packet's pts from its ``time_base`` to the 90 kHz RTP clock. So a track that returns the camera's
packets costs a copy and a packetization per viewer, and no codec work at all.

The codec the sender uses is the first one negotiated on its transceiver, and ``pack()`` belongs to
that codec: a packet given to the VP8 packer would be sent as garbage. :func:`prefer_h264` therefore
restricts the transceiver to aiortc's H.264 codecs (packetization-mode 1, profile-level-id 42e01f
then 42001f, the constrained baseline and baseline that Chromium, Firefox and Safari all offer)
before the offer is applied, so an offer without H.264 fails instead of negotiating VP8.

The profile-level-id only names the profile the answer promises; browsers' H.264 decoders (FFmpeg
or OpenH264 in Chromium, VideoToolbox in Safari) decode a main or high profile stream sent under it.
"""

from __future__ import annotations

from typing import Final

import av
from aiortc import RTCRtpSender, RTCRtpTransceiver
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from aiortc.rtcrtpparameters import RTCRtpCodecCapability

from edge_agent.live.source import ViewerQueue

# Most preferred first: what every browser offers for H.264.
PREFERRED_PROFILES: Final = ("42e01f", "42001f")


def h264_capabilities() -> list[RTCRtpCodecCapability]:
    """aiortc's H.264 codecs with packetization-mode 1, most preferred first, then RTX (so that
    retransmissions of lost packets get their own payload type)."""
    codecs = RTCRtpSender.getCapabilities("video").codecs
    h264 = [
        codec
        for codec in codecs
        if codec.mimeType.lower() == "video/h264"
        and str(codec.parameters.get("packetization-mode")) == "1"
    ]

    def rank(codec: RTCRtpCodecCapability) -> int:
        profile = str(codec.parameters.get("profile-level-id", "")).lower()
        return PREFERRED_PROFILES.index(profile) if profile in PREFERRED_PROFILES else 99

    h264.sort(key=rank)
    rtx = [codec for codec in codecs if codec.mimeType.lower() == "video/rtx"]
    return h264 + rtx


def prefer_h264(transceiver: RTCRtpTransceiver) -> None:
    """Allow only H.264 (packetization-mode 1) on ``transceiver``; call before the offer."""
    transceiver.setCodecPreferences(h264_capabilities())


class ForwardingTrack(MediaStreamTrack):
    """A video track whose frames are the camera's own H.264 access units (``av.Packet``)."""

    kind = "video"

    def __init__(self, subscription: ViewerQueue) -> None:
        super().__init__()
        self._subscription = subscription

    @property
    def packets_sent(self) -> int:
        return self._subscription.received

    @property
    def packets_dropped(self) -> int:
        return self._subscription.dropped

    async def recv(self) -> av.Packet:
        """The next access unit: Annex-B, pts in 90 kHz; raises MediaStreamError when the camera's
        source has ended or the track was stopped."""
        if self.readyState != "live":
            raise MediaStreamError
        packet = await self._subscription.get()
        if packet is None:
            self.stop()
            raise MediaStreamError
        return packet

    def stop(self) -> None:
        """Leave the camera's source; the track then ends (``"ended"`` is emitted once)."""
        self._subscription.close()
        super().stop()
