"""ONVIF for the edge agent and the provisioning CLI: the only module that imports onvif-zeep/zeep.

Layers, from the wire up:

- `_LimitedTransport`: zeep's HTTP transport with a size limit and a total deadline on every answer,
  so that a camera sending tens of MB gives OnvifProtocolError instead of eating the site box's
  memory, and one dribbling bytes gives OnvifUnreachable instead of holding a thread for ever.
- Pure parse functions (`parse_*`, `choose_profile`, `classify_event`) from zeep's answers (as
  plain dicts) or raw XML to our frozen dataclasses. They raise `UnexpectedAnswer`.
- `OnvifClient`: blocking, one camera, safe to share between threads (calls are serialised). Each
  operation catches exactly the errors a zeep call can raise and turns them into OnvifAuthError,
  OnvifUnreachable or OnvifProtocolError with a message naming the camera and its address.
- `PullPoint`: one blocking PullPoint subscription (create, pull, renew, unsubscribe).
- `AsyncOnvifClient` and `EventStream`: the same for the asyncio agent, each blocking call run in a
  worker thread with `asyncio.to_thread` under a timeout; `EventStream` is the subscription's state
  machine (subscribe, pull, renew, back off and restart).

Authentication is WS-UsernameToken PasswordDigest (plus HTTP digest for cameras that ask for it).
The camera's clock offset, measured with GetSystemDateAndTime, is applied to the token's Created
time through onvif-zeep's `dt_diff`, because cameras refuse tokens made more than a few seconds
away from their own clock.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import enum
import importlib
import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Any, Literal, TypeVar
from urllib.parse import urlsplit

import requests
from lxml import etree
from requests.auth import HTTPBasicAuth, HTTPDigestAuth
from zeep.exceptions import (
    Fault,
    TransportError,
    UnexpectedElementError,
    ValidationError,
    XMLParseError,
    XMLSyntaxError,
)
from zeep.exceptions import LookupError as ZeepLookupError
from zeep.helpers import serialize_object
from zeep.plugins import Plugin
from zeep.transports import Transport

from cctv_common.uris import redact_uri, with_credentials

log = logging.getLogger(__name__)

__all__ = [
    "AsyncOnvifClient",
    "ClockReading",
    "DeviceInfo",
    "EventSettings",
    "EventStream",
    "MediaProfile",
    "OnvifAuthError",
    "OnvifClient",
    "OnvifError",
    "OnvifEvent",
    "OnvifProfileError",
    "OnvifProtocolError",
    "OnvifSettings",
    "OnvifTarget",
    "OnvifUnreachable",
    "OnvifUnsupported",
    "PullBatch",
    "PullPoint",
    "ServiceInfo",
    "StreamUri",
    "SubscriptionState",
    "UnexpectedAnswer",
    "choose_profile",
    "classify_event",
    "describe_fault",
    "parse_pull_messages",
    "redact_uri",
    "with_credentials",
]


def _import_onvif() -> tuple[Any, Any, Any]:
    """Import onvif-zeep without the `logging.basicConfig(level=INFO)` its client module runs at
    import time, which would otherwise configure the root logger of whatever program imports us."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    client = importlib.import_module("onvif.client")
    for handler in root.handlers[:]:
        if handler not in handlers:
            root.removeHandler(handler)
    root.setLevel(level)
    definition = importlib.import_module("onvif.definition")
    exceptions = importlib.import_module("onvif.exceptions")
    return client, definition.SERVICES, exceptions.ONVIFError


_onvif, ONVIF_SERVICES, _ONVIFError = _import_onvif()
_ONVIFCamera: Any = _onvif.ONVIFCamera
_ONVIFService: Any = _onvif.ONVIFService

DEVICE_NS = "http://www.onvif.org/ver10/device/wsdl"
MEDIA_NS = "http://www.onvif.org/ver10/media/wsdl"
EVENTS_NS = "http://www.onvif.org/ver10/events/wsdl"
RECORDING_NS = "http://www.onvif.org/ver10/recording/wsdl"
SEARCH_NS = "http://www.onvif.org/ver10/search/wsdl"
REPLAY_NS = "http://www.onvif.org/ver10/replay/wsdl"
SOAP_ENV_NS = "http://www.w3.org/2003/05/soap-envelope"
WSNT_NS = "http://docs.oasis-open.org/wsn/b-2"
SCHEMA_NS = "http://www.onvif.org/ver10/schema"
ONVIF_ERROR_NS = "http://www.onvif.org/ver10/error"

# GetCapabilities names its services by element; onvif-zeep 0.2.12 reads only the top-level ones,
# so Recording, Search and Replay (under Extension) are lost. GetServices names them by namespace.
CAPABILITY_NAMESPACES = {
    "Device": DEVICE_NS,
    "Media": MEDIA_NS,
    "Events": EVENTS_NS,
    "PTZ": "http://www.onvif.org/ver20/ptz/wsdl",
    "Imaging": "http://www.onvif.org/ver20/imaging/wsdl",
    "Analytics": "http://www.onvif.org/ver20/analytics/wsdl",
    "DeviceIO": "http://www.onvif.org/ver10/deviceIO/wsdl",
    "Recording": RECORDING_NS,
    "Search": SEARCH_NS,
    "Replay": REPLAY_NS,
    "Receiver": "http://www.onvif.org/ver10/receiver/wsdl",
}
AUTH_SUBCODES = {"NotAuthorized", "FailedAuthentication", "InvalidSecurity", "InvalidSecurityToken"}
UNSUPPORTED_SUBCODES = {"ActionNotSupported", "NotSupported"}
JPEG_MAGIC = b"\xff\xd8"
READ_CHUNK = 64 * 1024
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


class OnvifUnsupported(OnvifError):
    """The camera does not offer the service or operation asked for."""


class OnvifProfileError(OnvifError):
    """The media profile asked for does not exist on the camera."""


class UnexpectedAnswer(ValueError):
    """A parse function found an answer of a shape it cannot use."""


class _ResponseTooLarge(Exception):
    def __init__(self, limit: int) -> None:
        super().__init__(f"answer larger than {limit} bytes")


class _AnswerTooSlow(Exception):
    def __init__(self, seconds: float) -> None:
        super().__init__(f"answer not complete within {seconds:g} s")


# The errors one zeep call can raise, beyond programming errors: the camera's SOAP fault, HTTP
# statuses and non-SOAP bodies (TransportError), XML that does not parse or does not fit the WSDL,
# the network (requests), and our own transport's limits.
SOAP_CALL_ERRORS: tuple[type[Exception], ...] = (
    Fault,
    TransportError,
    XMLSyntaxError,
    XMLParseError,
    UnexpectedElementError,
    ValidationError,
    ZeepLookupError,
    etree.LxmlError,
    requests.RequestException,
    _ResponseTooLarge,
    _AnswerTooSlow,
)
HTTP_GET_ERRORS: tuple[type[Exception], ...] = (
    requests.RequestException,
    _ResponseTooLarge,
    _AnswerTooSlow,
)


# -- what we talk to, how, and what we get back --------------------------------------------


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
        return f"camera {self.camera_id} at {self.address}"

    @classmethod
    def from_xaddr(
        cls, camera_id: str, xaddr: str, user: str = "", password: str = ""
    ) -> OnvifTarget:
        """From a device service address as WS-Discovery reports it."""
        parts = urlsplit(xaddr)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an ONVIF device service address: {redact_uri(xaddr)}")
        scheme: Literal["http", "https"] = "https" if parts.scheme == "https" else "http"
        port = parts.port or (443 if scheme == "https" else 80)
        return cls(camera_id, parts.hostname, port, user, password, scheme)


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


# -- pure parsing -----------------------------------------------------------------------------


def _get(data: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(data, Mapping):
            return None
        data = data.get(key)
    return data


def _text(value: Any) -> str:
    return "" if value is None else str(value).strip()


def describe_fault(fault: Fault) -> str:
    """A SOAP fault as one readable line: 'env:Sender/ter:NotAuthorized: Sender not Authorized'."""
    codes = [_text(fault.code)] + [_qname_text(s) for s in fault.subcodes or []]
    reason = _text(fault.message) or "no reason given"
    return f"{'/'.join(c for c in codes if c)}: {reason[:MAX_MESSAGE]}"


def _qname_text(qname: Any) -> str:
    """A fault subcode (lxml QName, prefix lost) as ONVIF writes it: ter:NotAuthorized."""
    if getattr(qname, "namespace", None) == ONVIF_ERROR_NS:
        return f"ter:{qname.localname}"
    return _text(getattr(qname, "localname", qname))


def fault_subcodes(fault: Fault) -> set[str]:
    return {_qname_text(s).rsplit(":", 1)[-1] for s in fault.subcodes or []}


def is_auth_fault(fault: Fault) -> bool:
    if fault_subcodes(fault) & AUTH_SUBCODES:
        return True
    reason = _text(fault.message).lower()
    return "not authorized" in reason or "authentication" in reason or "unauthorized" in reason


def parse_device_information(answer: Mapping[str, Any]) -> DeviceInfo:
    info = DeviceInfo(
        manufacturer=_text(answer.get("Manufacturer")),
        model=_text(answer.get("Model")),
        firmware=_text(answer.get("FirmwareVersion")),
        serial=_text(answer.get("SerialNumber")),
        hardware_id=_text(answer.get("HardwareId")),
    )
    if not (info.manufacturer or info.model or info.serial):
        raise UnexpectedAnswer("GetDeviceInformation names no manufacturer, model or serial number")
    return info


def _date_time(value: Any) -> datetime | None:
    date, clock = _get(value, "Date"), _get(value, "Time")
    try:
        return datetime(
            int(date["Year"]),
            int(date["Month"]),
            int(date["Day"]),
            int(clock["Hour"]),
            int(clock["Minute"]),
            int(clock["Second"]),
            tzinfo=UTC,
        )
    except (TypeError, KeyError, ValueError):
        return None


def parse_system_date_and_time(answer: Mapping[str, Any]) -> datetime:
    """The camera's UTC time. Falls back to its local time only when its time zone is UTC."""
    utc = _date_time(answer.get("UTCDateTime"))
    if utc is not None:
        return utc
    zone = _text(_get(answer, "TimeZone", "TZ")).upper()
    local = _date_time(answer.get("LocalDateTime"))
    if local is not None and zone in ("", "UTC", "UTC0", "GMT", "GMT0"):
        return local
    raise UnexpectedAnswer("GetSystemDateAndTime gives no UTC date and time")


def parse_services(answer: Any) -> list[ServiceInfo]:
    if not isinstance(answer, list):
        raise UnexpectedAnswer("GetServices did not answer with a list of services")
    services = []
    for item in answer:
        namespace, xaddr = _text(_get(item, "Namespace")), _text(_get(item, "XAddr"))
        if not namespace or not xaddr:
            raise UnexpectedAnswer("GetServices lists a service without namespace or address")
        major, minor = _get(item, "Version", "Major"), _get(item, "Version", "Minor")
        version = f"{major}.{minor}" if major is not None and minor is not None else ""
        services.append(ServiceInfo(namespace, xaddr, version))
    return services


def parse_capabilities(answer: Mapping[str, Any]) -> list[ServiceInfo]:
    """Service addresses from GetCapabilities, including those under Extension."""
    found: dict[str, str] = {}

    def add(name: str, xaddr: str) -> None:
        if name in CAPABILITY_NAMESPACES and xaddr:
            found.setdefault(CAPABILITY_NAMESPACES[name], xaddr)

    extension = answer.get("Extension")
    for name, value in list(answer.items()) + list(
        extension.items() if isinstance(extension, Mapping) else []
    ):
        add(name, _text(_get(value, "XAddr")))
    # Elements zeep could not map to the schema (e.g. tt:Recording inside Extension) stay XML.
    for element in _get(extension, "_value_1") or []:
        if etree.iselement(element):
            add(etree.QName(element).localname, _text(element.findtext("{*}XAddr")))
    if DEVICE_NS not in found and MEDIA_NS not in found:
        raise UnexpectedAnswer("GetCapabilities names neither the device nor the media service")
    return [ServiceInfo(ns, xaddr, "") for ns, xaddr in found.items()]


def parse_profiles(answer: Any) -> list[MediaProfile]:
    if not isinstance(answer, list):
        raise UnexpectedAnswer("GetProfiles did not answer with a list of profiles")
    profiles = []
    for item in answer:
        token = _text(_get(item, "token"))
        if not token:
            raise UnexpectedAnswer("GetProfiles lists a profile without a token")
        encoder = _get(item, "VideoEncoderConfiguration")
        width, height = _get(encoder, "Resolution", "Width"), _get(encoder, "Resolution", "Height")
        fps = _get(encoder, "RateControl", "FrameRateLimit")
        profiles.append(
            MediaProfile(
                token=token,
                name=_text(_get(item, "Name")),
                encoding=_text(_get(encoder, "Encoding")) or None,
                width=int(width) if width else None,
                height=int(height) if height else None,
                fps=float(fps) if fps else None,
            )
        )
    return profiles


def choose_profile(profiles: Sequence[MediaProfile], choice: str) -> MediaProfile | None:
    """'main' is the video profile with the most pixels, 'sub' the one with the fewest (the
    camera's first wins a tie); anything else is a profile token."""
    if choice not in ("main", "sub"):
        return next((p for p in profiles if p.token == choice), None)
    video = [p for p in profiles if p.pixels > 0]
    if not video:
        return None
    if choice == "main":
        return max(video, key=lambda p: (p.pixels, p.fps or 0.0))
    return min(video, key=lambda p: p.pixels)


def parse_media_uri(answer: Mapping[str, Any], operation: str) -> tuple[str, bool, bool]:
    uri = _text(answer.get("Uri"))
    if not uri:
        raise UnexpectedAnswer(f"{operation} gives no URI")
    return uri, bool(answer.get("InvalidAfterConnect")), bool(answer.get("InvalidAfterReboot"))


def parse_subscription(answer: Mapping[str, Any]) -> tuple[str, list[Any], float | None]:
    """(address, reference parameters as XML elements, seconds granted by the camera)."""
    address = _text(_get(answer, "SubscriptionReference", "Address", "_value_1"))
    if not address:
        raise UnexpectedAnswer("CreatePullPointSubscription gives no subscription address")
    parameters = _get(answer, "SubscriptionReference", "ReferenceParameters", "_value_1") or []
    elements = [p for p in parameters if etree.iselement(p)]
    return address, elements, _granted(answer.get("CurrentTime"), answer.get("TerminationTime"))


def _granted(current: Any, termination: Any) -> float | None:
    if isinstance(current, datetime) and isinstance(termination, datetime):
        return (termination - current).total_seconds()
    return None


_TRUE, _FALSE = {"true", "1", "on", "active"}, {"false", "0", "off", "inactive"}
_STATE_ITEMS = ("IsMotion", "IsTamper", "State", "Value", "IsInside", "Active", "LogicalState")


def classify_event(topic: str, data: Mapping[str, str]) -> tuple[EventKind, bool]:
    """Motion, tamper or other, and whether the condition is active, from topic and data."""
    path = "/".join(part.rsplit(":", 1)[-1] for part in topic.split("/")).lower()
    kind: EventKind = "other"
    if "motion" in path:
        kind = "motion"
    elif "tamper" in path or "globalscenechange" in path:
        kind = "tamper"
    ordered = [name for name in _STATE_ITEMS if name in data] + [
        n for n in data if n not in _STATE_ITEMS
    ]
    for name in ordered:
        value = data[name].strip().lower()
        if value in _TRUE or value in _FALSE:
            return kind, value in _TRUE
    return kind, False


def _parse_time(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _simple_items(element: Any) -> dict[str, str]:
    if element is None:
        return {}
    return {
        item.get("Name", ""): item.get("Value", "")
        for item in element.iterfind(f"{{{SCHEMA_NS}}}SimpleItem")
        if item.get("Name")
    }


def parse_notification(message: Any) -> OnvifEvent:
    """One wsnt:NotificationMessage element."""
    topic = _text(message.findtext(f"{{{WSNT_NS}}}Topic"))
    body = message.find(f"{{{WSNT_NS}}}Message/{{{SCHEMA_NS}}}Message")
    if not topic or body is None:
        raise UnexpectedAnswer("a notification without topic or tt:Message")
    data = _simple_items(body.find(f"{{{SCHEMA_NS}}}Data"))
    kind, active = classify_event(topic, data)
    return OnvifEvent(
        topic=topic,
        utc_time=_parse_time(body.get("UtcTime")),
        source=_simple_items(body.find(f"{{{SCHEMA_NS}}}Source")),
        data=data,
        kind=kind,
        active=active,
        property_operation=body.get("PropertyOperation", ""),
    )


def parse_pull_messages(envelope: Any) -> PullBatch:
    """A PullMessagesResponse envelope (lxml element). zeep drops the text of wsnt:Topic (mixed
    content), so notifications are read from the XML rather than from zeep's objects."""
    response = None
    if envelope is not None:
        response = envelope.find(f"{{{SOAP_ENV_NS}}}Body/{{{EVENTS_NS}}}PullMessagesResponse")
    if response is None:
        raise UnexpectedAnswer("no PullMessagesResponse in the answer")
    events, problems = [], []
    for message in response.iterfind(f"{{{WSNT_NS}}}NotificationMessage"):
        try:
            events.append(parse_notification(message))
        except UnexpectedAnswer as exc:
            problems.append(str(exc))
    return PullBatch(
        events=tuple(events),
        current_time=_parse_time(response.findtext(f"{{{EVENTS_NS}}}CurrentTime")),
        termination_time=_parse_time(response.findtext(f"{{{EVENTS_NS}}}TerminationTime")),
        problems=tuple(problems),
    )


def parse_pull_messages_xml(data: bytes) -> PullBatch:
    """The same from bytes (recorded answers in tests)."""
    parser = etree.XMLParser(resolve_entities=False, no_network=True)
    return parse_pull_messages(etree.fromstring(data, parser))


# -- transport ------------------------------------------------------------------------------


def _read_limited(response: Any, limit: int, deadline: float, seconds: float) -> bytes:
    """Read a streamed requests response, refusing more than `limit` bytes or past `deadline`."""
    declared = response.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > limit:
        raise _ResponseTooLarge(limit)
    body = bytearray()
    for chunk in response.iter_content(READ_CHUNK):
        body += chunk
        if len(body) > limit:
            raise _ResponseTooLarge(limit)
        if time.monotonic() > deadline:
            raise _AnswerTooSlow(seconds)
    return bytes(body)


class _LimitedTransport(Transport):
    """zeep's transport, reading answers as a stream with a size limit and a total deadline."""

    def __init__(self, session: requests.Session, timeout: float, max_bytes: int) -> None:
        super().__init__(session=session, timeout=timeout, operation_timeout=timeout)
        self.max_bytes = max_bytes

    def post(self, address: str, message: bytes, headers: dict[str, str]) -> Any:
        seconds = float(self.operation_timeout)
        deadline = time.monotonic() + seconds
        response = self.session.post(
            address, data=message, headers=headers, timeout=seconds, stream=True
        )
        try:
            body = _read_limited(response, self.max_bytes, deadline, seconds)
        finally:
            response.close()
        # requests keeps a read body in _content; zeep reads response.content.
        response._content = body
        response._content_consumed = True
        return response


class _KeepEnvelope(Plugin):
    """Keeps the last answer's envelope, for the parts zeep's objects lose."""

    def __init__(self) -> None:
        self.envelope: Any = None

    def ingress(self, envelope: Any, http_headers: Any, operation: Any) -> tuple[Any, Any]:
        self.envelope = envelope
        return envelope, http_headers


_ENVIRONMENT_LOCK = threading.Lock()


@contextlib.contextmanager
def _proxy_environment_kept() -> Iterator[None]:
    """ONVIFCamera's constructor deletes http_proxy/https_proxy from the whole process's
    environment; put them back (our sessions ignore the environment anyway)."""
    with _ENVIRONMENT_LOCK:
        saved = {k: os.environ[k] for k in ("http_proxy", "https_proxy") if k in os.environ}
        try:
            yield
        finally:
            os.environ.update(saved)


class _ZeepCamera(_ONVIFCamera):
    """onvif-zeep's camera without the network work its constructor does.

    0.2.12's update_xaddrs() asks GetCapabilities (which misses the recording, search and replay
    services) and opens a PullPoint subscription it never closes. OnvifClient fills `xaddrs` from
    GetServices instead and sets `dt_diff` from its own clock measurement.
    """

    def __init__(self, target: OnvifTarget, transport: Transport) -> None:
        self.services_template: dict[str, Any] = {}  # the class-level one would keep every camera
        host = target.host if target.scheme == "http" else f"https://{target.host}"
        with _proxy_environment_kept():
            super().__init__(
                host, target.port, target.user, target.password, no_cache=True, transport=transport
            )

    def update_xaddrs(self) -> None:
        self.dt_diff: timedelta | None = None
        self.xaddrs: dict[str, str] = {}


def _new_session(target: OnvifTarget) -> requests.Session:
    session = requests.Session()
    session.trust_env = False  # cameras are on the site LAN: no proxies, no .netrc
    if target.user:
        # WS-Security is the ONVIF way; some NVRs want HTTP digest on top.
        session.auth = HTTPDigestAuth(target.user, target.password)
    return session


def _reason(exc: BaseException) -> str:
    """The useful part of a network error: the OS's words, not urllib3's repr."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, OSError) and current.strerror:
            return current.strerror
        nested = [a for a in current.args if isinstance(a, BaseException)]
        current = current.__cause__ or current.__context__ or (nested[0] if nested else None)
    return (str(exc) or type(exc).__name__)[:MAX_MESSAGE]


T = TypeVar("T")


# -- the blocking client ----------------------------------------------------------------------


class OnvifClient:
    """ONVIF operations on one camera, blocking. Usable from the CLI and from worker threads."""

    def __init__(self, target: OnvifTarget, settings: OnvifSettings | None = None) -> None:
        self.target = target
        self.settings = settings or OnvifSettings()
        self._lock = threading.RLock()
        self._session = _new_session(target)
        self._transport = _LimitedTransport(
            self._session, self.settings.timeout, self.settings.max_response_bytes
        )
        self._camera: Any = None
        self._proxies: dict[str, Any] = {}
        self._clock: ClockReading | None = None
        self._services: list[ServiceInfo] | None = None

    def __enter__(self) -> OnvifClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._session.close()

    @property
    def clock(self) -> ClockReading | None:
        """The last clock reading (None before the first)."""
        return self._clock

    @property
    def clock_offset(self) -> float:
        return self._clock.offset_seconds if self._clock else 0.0

    @property
    def xaddrs(self) -> dict[str, str]:
        """Service addresses by namespace, as filled from GetServices."""
        return dict(self._zeep_camera().xaddrs)

    # -- building onvif-zeep services -----------------------------------------------------

    def _zeep_camera(self) -> Any:
        with self._lock:
            if self._camera is None:
                try:
                    self._camera = _ZeepCamera(self.target, self._transport)
                except _ONVIFError as exc:
                    raise OnvifError(f"cannot set up ONVIF for {self.target.where}: {exc}") from exc
            return self._camera

    def _proxy(self, name: str) -> Any:
        """zeep's service proxy for one of onvif-zeep's services ('devicemgmt', 'media', ...).

        Operations are called on the proxy (`ws_client`) rather than on onvif-zeep's wrapper,
        whose safe_func turns every error into ONVIFError('Unknown error: ...') and loses its type.
        """
        with self._lock:
            if name not in self._proxies:
                camera = self._zeep_camera()
                namespace = ONVIF_SERVICES[name]["ns"]
                if name != "devicemgmt" and namespace not in camera.xaddrs:
                    raise OnvifUnsupported(
                        f"{self.target.where} offers no {name} service", self.target.camera_id
                    )
                try:
                    service = camera.create_onvif_service(name)
                except _ONVIFError as exc:
                    raise OnvifError(f"cannot set up the ONVIF {name} service: {exc}") from exc
                self._proxies[name] = service.ws_client
            return self._proxies[name]

    def build_service(
        self, name: str, xaddr: str, transport: Transport, binding: str | None = None
    ) -> tuple[Any, Any]:
        """(zeep client, service proxy) for a service at an address of our choosing, with the
        camera's credentials and clock offset (used for PullPoint subscriptions)."""
        camera = self._zeep_camera()
        spec = ONVIF_SERVICES[name]
        try:
            service = _ONVIFService(
                xaddr,
                self.target.user,
                self.target.password,
                os.path.join(camera.wsdl_dir, spec["wsdl"]),
                no_cache=True,
                dt_diff=camera.dt_diff,
                binding_name=binding or f"{{{spec['ns']}}}{spec['binding']}",
                transport=transport,
            )
        except _ONVIFError as exc:
            raise OnvifError(f"cannot set up the ONVIF {name} service: {exc}") from exc
        if not self.target.user:
            service.zeep_client.wsse = None
        return service.zeep_client, service.ws_client

    def _anonymous_device_proxy(self) -> Any:
        with self._lock:
            if "anonymous" not in self._proxies:
                camera = self._zeep_camera()
                xaddr, wsdl, binding = camera.get_definition("devicemgmt")
                try:
                    service = _ONVIFService(
                        xaddr,
                        "",
                        "",
                        wsdl,
                        no_cache=True,
                        binding_name=binding,
                        transport=self._transport,
                    )
                except _ONVIFError as exc:
                    raise OnvifError(f"cannot set up the ONVIF device service: {exc}") from exc
                service.zeep_client.wsse = None
                self._proxies["anonymous"] = service.ws_client
            return self._proxies["anonymous"]

    def _apply_offset(self, offset: float) -> None:
        camera = self._zeep_camera()
        current = camera.dt_diff.total_seconds() if camera.dt_diff is not None else None
        if current is None or abs(current - offset) >= 0.5:
            camera.dt_diff = timedelta(seconds=offset)
            # Tokens carry the offset from when their service was built: build them again.
            self._proxies = {k: v for k, v in self._proxies.items() if k == "anonymous"}

    # -- calling --------------------------------------------------------------------------

    def invoke(self, proxy: Any, operation: str, **params: Any) -> Any:
        """Call one operation, turning every error it can raise into an OnvifError."""
        try:
            return getattr(proxy, operation)(**params)
        except SOAP_CALL_ERRORS as exc:
            raise self.translate(exc, operation) from exc

    def _call(self, service: str, operation: str, **params: Any) -> Any:
        with self._lock:
            return self.invoke(self._proxy(service), operation, **params)

    def parse(self, parser: Callable[..., T], answer: Any, operation: str, *args: Any) -> T:
        try:
            return parser(answer, *args)
        except UnexpectedAnswer as exc:
            raise OnvifProtocolError(
                f"{self.target.where} sent an unexpected answer to {operation}: {exc}",
                self.target.camera_id,
            ) from exc

    def translate(self, exc: Exception, operation: str) -> OnvifError:
        """One of SOAP_CALL_ERRORS as our exception, with a message an engineer can act on."""
        where, camera_id = self.target.where, self.target.camera_id
        if isinstance(exc, Fault):
            if is_auth_fault(exc):
                refused = f"{operation} refused: {describe_fault(exc)}"
                return OnvifAuthError(f"wrong user or password for {where} ({refused})", camera_id)
            if fault_subcodes(exc) & UNSUPPORTED_SUBCODES:
                return OnvifUnsupported(
                    f"{where} does not support {operation}: {describe_fault(exc)}", camera_id
                )
            return OnvifProtocolError(
                f"{where} refused {operation}: {describe_fault(exc)}", camera_id
            )
        if isinstance(exc, TransportError):
            if exc.status_code in (401, 403):
                refused = f"{operation} refused with HTTP {exc.status_code}"
                return OnvifAuthError(f"wrong user or password for {where} ({refused})", camera_id)
            if exc.status_code == 200:
                return OnvifProtocolError(
                    f"{where} sent malformed XML in answer to {operation}", camera_id
                )
            return OnvifProtocolError(
                f"{where} answered {operation} with HTTP {exc.status_code} and no SOAP message",
                camera_id,
            )
        if isinstance(exc, (requests.Timeout, _AnswerTooSlow)):
            late = f"no answer to {operation} within {self.settings.timeout:g} s"
            return OnvifUnreachable(f"{where} does not answer: {late}", camera_id)
        if isinstance(exc, (requests.ConnectionError, requests.exceptions.ChunkedEncodingError)):
            return OnvifUnreachable(f"{where} does not answer: {_reason(exc)}", camera_id)
        if isinstance(exc, _ResponseTooLarge):
            return OnvifProtocolError(
                f"{where} sent an unexpected answer to {operation}: {exc}", camera_id
            )
        if isinstance(exc, requests.RequestException):
            return OnvifProtocolError(
                f"{where} gave an unusable address for {operation}: {_reason(exc)}", camera_id
            )
        detail = str(exc)[:MAX_MESSAGE]
        return OnvifProtocolError(
            f"{where} sent malformed XML / an unexpected answer to {operation}: {detail}", camera_id
        )

    # -- operations -----------------------------------------------------------------------

    def get_system_date_and_time(self) -> ClockReading:
        """Read the camera's clock (unauthenticated, as ONVIF allows; authenticated if the camera
        insists) and apply the offset to every later WS-UsernameToken."""
        with self._lock:
            started, before = time.monotonic(), datetime.now(UTC)
            try:
                answer = self.invoke(self._anonymous_device_proxy(), "GetSystemDateAndTime")
            except OnvifAuthError:
                started, before = time.monotonic(), datetime.now(UTC)
                answer = self._call("devicemgmt", "GetSystemDateAndTime")
            round_trip = time.monotonic() - started
            agent_utc = before + timedelta(seconds=round_trip / 2)
            camera_utc = self.parse(
                parse_system_date_and_time, serialize_object(answer), "GetSystemDateAndTime"
            )
            reading = ClockReading(
                camera_utc, agent_utc, (camera_utc - agent_utc).total_seconds(), round_trip
            )
            self._clock = reading
            self._apply_offset(reading.offset_seconds)
        log.debug("%s: clock offset %.1f s", self.target.where, reading.offset_seconds)
        return reading

    def get_services(self) -> list[ServiceInfo]:
        """The camera's services, also filling onvif-zeep's service addresses. Cameras older than
        ONVIF 2.0 lack GetServices; their addresses come from GetCapabilities."""
        with self._lock:
            self._ensure_clock()
            try:
                answer = self._call("devicemgmt", "GetServices", IncludeCapability=False)
                services = self.parse(parse_services, serialize_object(answer), "GetServices")
            except (OnvifUnsupported, OnvifProtocolError) as exc:
                # Refused or not understood: an ONVIF 1.x camera. Garbage or silence: give up.
                if not isinstance(exc.__cause__, (Fault, UnexpectedAnswer)):
                    raise
                log.info(
                    "%s: GetServices failed (%s); using GetCapabilities", self.target.where, exc
                )
                answer = self._call("devicemgmt", "GetCapabilities", Category="All")
                services = self.parse(
                    parse_capabilities, serialize_object(answer), "GetCapabilities"
                )
            known = {spec["ns"] for spec in ONVIF_SERVICES.values()}
            camera = self._zeep_camera()
            for service in services:
                if service.namespace in known:
                    camera.xaddrs[service.namespace] = service.xaddr
            self._services = services
            return list(services)

    def connect(self) -> list[ServiceInfo]:
        """Clock offset and service addresses; done once, before the first other operation."""
        with self._lock:
            self._ensure_clock()
            return list(self._services) if self._services is not None else self.get_services()

    def _ensure_clock(self) -> None:
        if self._clock is None:
            self.get_system_date_and_time()

    def get_device_information(self) -> DeviceInfo:
        self.connect()
        answer = self._call("devicemgmt", "GetDeviceInformation")
        return self.parse(
            parse_device_information, serialize_object(answer), "GetDeviceInformation"
        )

    def get_scopes(self) -> list[str]:
        self.connect()
        answer = serialize_object(self._call("devicemgmt", "GetScopes")) or []
        return [_text(_get(item, "ScopeItem")) for item in answer if _get(item, "ScopeItem")]

    def get_profiles(self) -> list[MediaProfile]:
        self.connect()
        answer = self._call("media", "GetProfiles")
        return self.parse(parse_profiles, serialize_object(answer), "GetProfiles")

    def resolve_profile(self, profile: str) -> MediaProfile:
        """A profile by token, or 'main' (most pixels) / 'sub' (fewest)."""
        profiles = self.get_profiles()
        chosen = choose_profile(profiles, profile)
        if chosen is None:
            tokens = ", ".join(p.token for p in profiles) or "none"
            raise OnvifProfileError(
                f"{self.target.where} has no media profile {profile!r} (its profiles: {tokens})",
                self.target.camera_id,
            )
        return chosen

    def get_stream_uri(self, profile: str = "main") -> StreamUri:
        """The RTSP URI (RTP unicast over RTSP) of a profile token or of 'main'/'sub'."""
        token = self.resolve_profile(profile).token
        setup = {"Stream": "RTP-Unicast", "Transport": {"Protocol": "RTSP"}}
        answer = self._call("media", "GetStreamUri", StreamSetup=setup, ProfileToken=token)
        uri, after_connect, after_reboot = self.parse(
            parse_media_uri, serialize_object(answer), "GetStreamUri", "GetStreamUri"
        )
        log.debug("%s: stream %s of profile %s", self.target.where, redact_uri(uri), token)
        return StreamUri(token, uri, after_connect, after_reboot)

    def get_snapshot_uri(self, profile: str = "main") -> str:
        token = self.resolve_profile(profile).token
        answer = self._call("media", "GetSnapshotUri", ProfileToken=token)
        uri, _, _ = self.parse(
            parse_media_uri, serialize_object(answer), "GetSnapshotUri", "GetSnapshotUri"
        )
        return uri

    def fetch_snapshot(self, profile: str = "main") -> bytes:
        """The current JPEG of a profile, fetched from its snapshot URI (HTTP digest or basic)."""
        uri = self.get_snapshot_uri(profile)
        with self._lock:
            try:
                return self._get_jpeg(uri)
            except HTTP_GET_ERRORS as exc:
                raise self.translate(exc, f"the snapshot request to {redact_uri(uri)}") from exc

    def _get_jpeg(self, uri: str) -> bytes:
        seconds = self.settings.timeout
        deadline = time.monotonic() + seconds
        response = self._session.get(uri, timeout=seconds, stream=True)
        challenge = response.headers.get("WWW-Authenticate", "").lower()
        if response.status_code == 401 and challenge.startswith("basic") and self.target.user:
            response.close()
            basic = HTTPBasicAuth(self.target.user, self.target.password)
            response = self._session.get(uri, timeout=seconds, stream=True, auth=basic)
        try:
            if response.status_code in (401, 403):
                raise OnvifAuthError(
                    f"wrong user or password for {self.target.where} (snapshot refused with HTTP "
                    f"{response.status_code})",
                    self.target.camera_id,
                )
            if response.status_code != 200:
                status = response.status_code
                raise OnvifProtocolError(
                    f"{self.target.where} answered the snapshot request with HTTP {status}",
                    self.target.camera_id,
                )
            body = _read_limited(response, self.settings.max_snapshot_bytes, deadline, seconds)
        finally:
            response.close()
        if not body.startswith(JPEG_MAGIC):
            content_type = response.headers.get("Content-Type", "no content type")
            raise OnvifProtocolError(
                f"{self.target.where} sent a snapshot that is not a JPEG image ({content_type})",
                self.target.camera_id,
            )
        return body

    def pullpoint(self, settings: EventSettings | None = None) -> PullPoint:
        """A new (not yet created) PullPoint subscription on this camera."""
        return PullPoint(self, settings or EventSettings())


# -- events -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class EventSettings:
    """Timing of a PullPoint subscription; see EventStream for why each value is what it is."""

    termination: float = 60.0
    pull_timeout: float = 10.0
    message_limit: int = 100
    renew_fraction: float = 0.5
    backoff_initial: float = 1.0
    backoff_max: float = 60.0
    min_pull: float = 0.2


def _duration(seconds: float) -> str:
    """An xsd:duration (zeep sends a timedelta in a union-typed element as str(timedelta))."""
    return f"PT{max(1, round(seconds))}S"


class PullPoint:
    """One PullPoint subscription on one camera, blocking: create, pull, renew, unsubscribe.

    It has its own HTTP session, so that a PullMessages long poll does not hold the camera's
    OnvifClient lock, and a read timeout that outlasts the long poll.
    """

    def __init__(self, client: OnvifClient, settings: EventSettings) -> None:
        self.client = client
        self.settings = settings
        self.address: str | None = None
        self._session = _new_session(client.target)
        self._transport = _LimitedTransport(
            self._session,
            settings.pull_timeout + client.settings.timeout,
            client.settings.max_response_bytes,
        )
        self._envelope = _KeepEnvelope()
        self._pull_proxy: Any = None
        self._manager_proxy: Any = None
        self._reference: list[Any] = []

    @property
    def where(self) -> str:
        return self.client.target.where

    def _headers(self) -> list[Any]:
        # WS-Addressing: reference parameters of the subscription go back as SOAP headers. lxml
        # moves an element appended elsewhere, so each request gets copies.
        return [copy.deepcopy(element) for element in self._reference]

    def subscribe(self) -> float:
        """Create the subscription; return the seconds the camera granted."""
        self.client.connect()
        xaddr = self.client.xaddrs.get(EVENTS_NS)
        if not xaddr:
            raise OnvifUnsupported(
                f"{self.where} offers no events service", self.client.target.camera_id
            )
        _client, events = self.client.build_service("events", xaddr, self._transport)
        answer = self.client.invoke(
            events,
            "CreatePullPointSubscription",
            InitialTerminationTime=_duration(self.settings.termination),
        )
        address, self._reference, granted = self.client.parse(
            parse_subscription, serialize_object(answer), "CreatePullPointSubscription"
        )
        zeep_client, self._pull_proxy = self.client.build_service(
            "pullpoint", address, self._transport
        )
        zeep_client.plugins.append(self._envelope)
        manager_binding = f"{{{EVENTS_NS}}}SubscriptionManagerBinding"
        _client, self._manager_proxy = self.client.build_service(
            "events", address, self._transport, binding=manager_binding
        )
        self.address = address
        log.info(
            "%s: event subscription %s for %.0f s", self.where, redact_uri(address), granted or 0
        )
        return granted if granted and granted > 0 else self.settings.termination

    def pull(self, timeout: float, limit: int | None = None) -> PullBatch:
        if self._pull_proxy is None:
            raise RuntimeError("pull() before subscribe()")
        self._envelope.envelope = None
        self.client.invoke(
            self._pull_proxy,
            "PullMessages",
            Timeout=timedelta(seconds=timeout),
            MessageLimit=limit or self.settings.message_limit,
            _soapheaders=self._headers(),
        )
        batch = self.client.parse(parse_pull_messages, self._envelope.envelope, "PullMessages")
        for problem in batch.problems:
            log.warning("%s: skipped an event notification: %s", self.where, problem)
        return batch

    def renew(self) -> float:
        """Extend the subscription; return the seconds the camera granted."""
        if self._manager_proxy is None:
            raise RuntimeError("renew() before subscribe()")
        answer = self.client.invoke(
            self._manager_proxy,
            "Renew",
            TerminationTime=_duration(self.settings.termination),
            _soapheaders=self._headers(),
        )
        answer = serialize_object(answer) or {}
        granted = _granted(answer.get("CurrentTime"), answer.get("TerminationTime"))
        return granted if granted and granted > 0 else self.settings.termination

    def unsubscribe(self) -> None:
        if self._manager_proxy is not None:
            proxy, self._manager_proxy, self._pull_proxy = self._manager_proxy, None, None
            self.client.invoke(proxy, "Unsubscribe", _soapheaders=self._headers())

    def close(self) -> None:
        self._session.close()


class SubscriptionState(enum.Enum):
    STOPPED = "stopped"
    SUBSCRIBING = "subscribing"
    PULLING = "pulling"
    RENEWING = "renewing"
    BACKOFF = "backoff"
    CLOSED = "closed"


class EventStream:
    """A camera's events as an async iterator, from a PullPoint subscription kept alive.

    States: STOPPED -> SUBSCRIBING -> PULLING <-> RENEWING; any error -> BACKOFF -> SUBSCRIBING
    (with the clock measured again, since a camera that rebooted may have a new time); aclose()
    -> CLOSED. Why the timings (EventSettings) are what they are:

    - termination 60 s: asked for in Create and Renew. Short, so that a subscription we abandon
      (power cut, crash) lapses on the camera within a minute: cameras hold only a handful of
      subscriptions and refuse new ones when full.
    - renew at half the time granted: leaves the other half for a renewal that fails and for the
      restart that follows, before the camera drops the subscription.
    - pull timeout 10 s, and never past the renewal time: events come back at once whatever the
      timeout; the long poll only bounds how often an idle camera is asked, and waking in time to
      renew matters more. The HTTP read timeout is this plus OnvifSettings.timeout.
    - backoff 1 s doubling to 60 s: a rebooting camera takes 30-90 s to come back, and asking it
      for subscriptions faster does not bring it back sooner.
    """

    def __init__(self, client: OnvifClient, settings: EventSettings | None = None) -> None:
        self.client = client
        self.settings = settings or EventSettings()
        self.state = SubscriptionState.STOPPED
        self.renewals = 0
        self.restarts = 0
        self._pending: deque[OnvifEvent] = deque()
        self._pullpoint: PullPoint | None = None
        self._renew_at = 0.0
        self._backoff = self.settings.backoff_initial

    def __aiter__(self) -> EventStream:
        return self

    async def __aenter__(self) -> EventStream:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def __anext__(self) -> OnvifEvent:
        while not self._pending:
            if self.state is SubscriptionState.CLOSED:
                raise StopAsyncIteration
            await self.step()
        return self._pending.popleft()

    def _backstop(self, seconds: float) -> float:
        # The blocking call has its own HTTP timeouts; this guards against one slipping past them.
        return seconds + 2 * self.client.settings.timeout + 1.0

    async def _run(self, seconds: float, function: Callable[..., T], *args: Any) -> T:
        try:
            return await asyncio.wait_for(
                asyncio.to_thread(function, *args), self._backstop(seconds)
            )
        except TimeoutError as exc:
            raise OnvifUnreachable(
                f"{self.client.target.where} does not answer: events call stuck",
                self.client.target.camera_id,
            ) from exc

    async def step(self) -> None:
        """One transition of the state machine."""
        loop = asyncio.get_running_loop()
        state = self.state
        try:
            if state in (SubscriptionState.STOPPED, SubscriptionState.SUBSCRIBING):
                self.state = SubscriptionState.SUBSCRIBING
                pullpoint = self.client.pullpoint(self.settings)
                self._pullpoint = pullpoint
                # Subscribing may first connect (clock and services): two more exchanges.
                granted = await self._run(2 * self.client.settings.timeout, pullpoint.subscribe)
                self._renew_at = loop.time() + granted * self.settings.renew_fraction
                self._backoff = self.settings.backoff_initial
                self.state = SubscriptionState.PULLING
            elif state is SubscriptionState.PULLING:
                if loop.time() >= self._renew_at:
                    self.state = SubscriptionState.RENEWING
                    return
                wait = min(
                    self.settings.pull_timeout,
                    max(self._renew_at - loop.time(), self.settings.min_pull),
                )
                assert self._pullpoint is not None
                batch = await self._run(wait, self._pullpoint.pull, wait)
                self._pending.extend(batch.events)
            elif state is SubscriptionState.RENEWING:
                assert self._pullpoint is not None
                granted = await self._run(0, self._pullpoint.renew)
                self._renew_at = loop.time() + granted * self.settings.renew_fraction
                self.renewals += 1
                self.state = SubscriptionState.PULLING
            elif state is SubscriptionState.BACKOFF:
                await asyncio.sleep(self._backoff)
                self._backoff = min(self._backoff * 2, self.settings.backoff_max)
                await self._run(0, self.client.get_system_date_and_time)
                self.state = SubscriptionState.SUBSCRIBING
        except OnvifUnsupported:
            await self.aclose()
            raise
        except OnvifError as exc:
            log.warning(
                "%s: event subscription failed while %s: %s; again in %g s",
                self.client.target.where,
                state.value,
                exc,
                self._backoff,
            )
            await self._drop_subscription()
            self.restarts += 1
            self.state = SubscriptionState.BACKOFF

    async def _drop_subscription(self) -> None:
        pullpoint, self._pullpoint = self._pullpoint, None
        if pullpoint is None:
            return
        try:
            await self._run(0, pullpoint.unsubscribe)
        except OnvifError as exc:
            log.info(
                "%s: could not unsubscribe (%s); it lapses on its own",
                self.client.target.where,
                exc,
            )
        finally:
            pullpoint.close()

    async def aclose(self) -> None:
        if self.state is not SubscriptionState.CLOSED:
            self.state = SubscriptionState.CLOSED
            await self._drop_subscription()


# -- the asyncio client ---------------------------------------------------------------------


class AsyncOnvifClient:
    """OnvifClient for the agent's event loop: each call runs in a worker thread with a timeout."""

    def __init__(self, target: OnvifTarget, settings: OnvifSettings | None = None) -> None:
        self.sync = OnvifClient(target, settings)

    @property
    def target(self) -> OnvifTarget:
        return self.sync.target

    @property
    def clock(self) -> ClockReading | None:
        return self.sync.clock

    async def _run(self, exchanges: int, function: Callable[..., T], *args: Any) -> T:
        # The HTTP timeouts in the worker thread end each exchange; this guards against a call that
        # slips past them. `exchanges` is how many SOAP round trips the call may make (connecting
        # first takes two more).
        limit = (exchanges + 2) * self.sync.settings.timeout + 1.0
        try:
            return await asyncio.wait_for(asyncio.to_thread(function, *args), limit)
        except TimeoutError as exc:
            raise OnvifUnreachable(
                f"{self.target.where} does not answer: no answer within {limit:g} s",
                self.target.camera_id,
            ) from exc

    async def connect(self) -> list[ServiceInfo]:
        return await self._run(1, self.sync.connect)

    async def get_system_date_and_time(self) -> ClockReading:
        return await self._run(2, self.sync.get_system_date_and_time)

    async def get_services(self) -> list[ServiceInfo]:
        return await self._run(2, self.sync.get_services)

    async def get_device_information(self) -> DeviceInfo:
        return await self._run(1, self.sync.get_device_information)

    async def get_scopes(self) -> list[str]:
        return await self._run(1, self.sync.get_scopes)

    async def get_profiles(self) -> list[MediaProfile]:
        return await self._run(1, self.sync.get_profiles)

    async def get_stream_uri(self, profile: str = "main") -> StreamUri:
        return await self._run(2, self.sync.get_stream_uri, profile)

    async def get_snapshot_uri(self, profile: str = "main") -> str:
        return await self._run(2, self.sync.get_snapshot_uri, profile)

    async def fetch_snapshot(self, profile: str = "main") -> bytes:
        return await self._run(4, self.sync.fetch_snapshot, profile)

    def events(self, settings: EventSettings | None = None) -> EventStream:
        return EventStream(self.sync, settings)

    async def aclose(self) -> None:
        self.sync.close()
