"""What ONVIF code hands out: frozen result dataclasses, settings, targets and named exceptions.

Nothing here imports onvif-zeep or zeep; every caller of the ONVIF package can use these types.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal
from urllib.parse import urlsplit

from cctv_common.uris import redact_uri

DEVICE_NS = "http://www.onvif.org/ver10/device/wsdl"
MEDIA_NS = "http://www.onvif.org/ver10/media/wsdl"
EVENTS_NS = "http://www.onvif.org/ver10/events/wsdl"
RECORDING_NS = "http://www.onvif.org/ver10/recording/wsdl"
SEARCH_NS = "http://www.onvif.org/ver10/search/wsdl"
REPLAY_NS = "http://www.onvif.org/ver10/replay/wsdl"

MAX_MESSAGE = 300  # characters of a camera's text quoted in our error messages


# -- exceptions ------------------------------------------------------------------------------


class OnvifError(Exception):
    """Something went wrong talking ONVIF to one camera."""

    def __init__(self, message: str, camera_id: str | None = None) -> None:
        super().__init__(message)
        self.camera_id = camera_id


class OnvifAuthError(OnvifError):
    """The camera refused the user name or password."""


class OnvifUnreachable(OnvifError):
    """The camera does not answer (refused, timed out, connection dropped)."""


class OnvifProtocolError(OnvifError):
    """The camera answered with something we cannot use: malformed XML, a fault, a huge answer."""


class OnvifFault(OnvifProtocolError):
    """The camera answered with a well-formed SOAP fault (other than refused credentials)."""


class OnvifBadSnapshot(OnvifProtocolError):
    """The snapshot URI gave something that is not an image the agent can make a JPEG of."""


class OnvifUnsupported(OnvifError):
    """The camera does not offer the service or operation asked for."""


class OnvifProfileError(OnvifError):
    """The media profile asked for does not exist on the camera."""


class UnexpectedAnswer(ValueError):
    """A parse function found an answer of a shape it cannot use."""


# -- what we talk to, and how ----------------------------------------------------------------


@dataclass(frozen=True)
class OnvifTarget:
    """One camera's ONVIF device service and credentials (the password never appears in repr)."""

    camera_id: str
    host: str
    port: int = 80
    user: str = ""
    password: str = field(default="", repr=False)
    scheme: Literal["http", "https"] = "http"

    @property
    def address(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    @property
    def where(self) -> str:
        """How messages name it: "camera cam-1 at 10.0.0.5:80" ("device at ..." with no id)."""
        if not self.camera_id:
            return f"device at {self.address}"
        return f"camera {self.camera_id} at {self.address}"

    @classmethod
    def from_xaddr(
        cls, camera_id: str, xaddr: str, user: str = "", password: str = ""
    ) -> OnvifTarget:
        """From a device service address as WS-Discovery reports it."""
        parts = urlsplit(xaddr)
        try:
            port = parts.port
        except ValueError:
            port = -1
        if parts.scheme not in ("http", "https") or not parts.hostname or port == -1:
            raise ValueError(f"not an ONVIF device service address: {redact_uri(xaddr)}")
        scheme: Literal["http", "https"] = "https" if parts.scheme == "https" else "http"
        return cls(
            camera_id,
            parts.hostname,
            port or (443 if scheme == "https" else 80),
            user,
            password,
            scheme,
        )


@dataclass(frozen=True)
class OnvifSettings:
    """Limits for talking to cameras."""

    # One SOAP exchange. Cameras answer in well under a second on a site LAN; NVRs with many
    # channels can take several seconds over GetProfiles. Longer than this, the camera is stuck.
    timeout: float = 10.0
    # The largest legitimate answers (GetProfiles of a 64-channel NVR) are a few hundred kB.
    max_response_bytes: int = 8 * 1024 * 1024
    # A 4K JPEG at high quality is 2-4 MB.
    max_snapshot_bytes: int = 16 * 1024 * 1024


@dataclass(frozen=True)
class EventSettings:
    """Timing of a PullPoint subscription; see events.EventStream for why each value is what it
    is."""

    termination: float = 60.0
    pull_timeout: float = 10.0
    message_limit: int = 100
    renew_fraction: float = 0.5
    backoff_initial: float = 1.0
    backoff_max: float = 60.0
    min_pull: float = 0.2


# -- what we get back --------------------------------------------------------------------------


@dataclass(frozen=True)
class DeviceInfo:
    manufacturer: str
    model: str
    firmware: str
    serial: str
    hardware_id: str


@dataclass(frozen=True)
class ClockReading:
    """The camera's clock against ours, both UTC. offset_seconds = camera - agent.

    agent_utc is the midpoint of the exchange; the camera reports whole seconds, so the offset is
    good to about half a second plus half the round trip.
    """

    camera_utc: datetime
    agent_utc: datetime
    offset_seconds: float
    round_trip_seconds: float = 0.0


@dataclass(frozen=True)
class ServiceInfo:
    namespace: str
    xaddr: str
    version: str  # "major.minor", "" when only GetCapabilities was available


@dataclass(frozen=True)
class MediaProfile:
    token: str
    name: str
    encoding: str | None  # None for a profile without video (audio or metadata only)
    width: int | None
    height: int | None
    fps: float | None

    @property
    def pixels(self) -> int:
        return (self.width or 0) * (self.height or 0)


@dataclass(frozen=True)
class StreamUri:
    profile_token: str
    uri: str  # as the camera gave it, without our credentials
    invalid_after_connect: bool = False
    invalid_after_reboot: bool = False

    @property
    def redacted(self) -> str:
        return redact_uri(self.uri)


EventKind = Literal["motion", "tamper", "other"]


@dataclass(frozen=True)
class OnvifEvent:
    """One notification. utc_time is on the camera's clock (subtract the clock offset for ours)."""

    topic: str
    utc_time: datetime | None
    source: dict[str, str]
    data: dict[str, str]
    kind: EventKind
    active: bool  # the first boolean data item (IsMotion, IsTamper, State, ...); False if none
    property_operation: str = ""  # Initialized (state on subscribing), Changed, Deleted


@dataclass(frozen=True)
class PullBatch:
    events: tuple[OnvifEvent, ...]
    current_time: datetime | None
    termination_time: datetime | None
    problems: tuple[str, ...] = ()  # notifications skipped because they could not be read


# -- recordings (Profile G: recording, search and replay services) ---------------------------


@dataclass(frozen=True)
class SearchSettings:
    """Paging of FindRecordings / GetRecordingSearchResults."""

    page_size: int = 100  # MaxResults per GetRecordingSearchResults
    wait_seconds: float = 2.0  # WaitTime: how long the device may hold one page
    keep_alive_seconds: float = 10.0  # KeepAliveTime of the search session
    max_pages: int = 100  # a device that never says Completed stops here
    max_recordings: int = 10_000


@dataclass(frozen=True)
class RecordingSummary:
    data_from: datetime | None
    data_until: datetime | None
    recordings: int


@dataclass(frozen=True)
class RecordingTrack:
    token: str
    kind: str  # Video, Audio, Metadata, Extended
    description: str
    data_from: datetime | None
    data_to: datetime | None


@dataclass(frozen=True)
class RecordingInfo:
    """One recording as the search service describes it (times on the NVR's clock)."""

    token: str
    source_id: str
    source_name: str
    location: str
    description: str
    address: str
    earliest: datetime | None
    latest: datetime | None
    content: str
    tracks: tuple[RecordingTrack, ...]
    status: str = ""

    @property
    def video_tracks(self) -> tuple[RecordingTrack, ...]:
        return tuple(track for track in self.tracks if track.kind.lower() == "video")
