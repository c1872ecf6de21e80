"""What live view can fail with. ``code`` is a stable word that the signalling maps to its own
status (HTTP on the hub, the error text of the MQTT answer)."""

from __future__ import annotations


class LiveError(Exception):
    """Base of every live view error.

    ``code`` is a stable word that the signalling maps to its own status (HTTP, MQTT error text).
    """

    code = "live_error"


class LiveRefused(LiveError):
    """The request cannot be served as asked (unknown camera, limit, codec, bad offer)."""

    code = "refused"


class UnknownLiveCamera(LiveRefused):
    code = "unknown_camera"


class ViewerLimitReached(LiveRefused):
    code = "viewer_limit"


class CodecNotPlayable(LiveRefused):
    code = "codec_not_playable"


class LiveOfferRejected(LiveRefused):
    code = "bad_offer"


class LiveCameraUnavailable(LiveError):
    """The camera's stream could not be opened or read in time."""

    code = "camera_unavailable"


class UnknownSession(LiveRefused):
    code = "unknown_session"
