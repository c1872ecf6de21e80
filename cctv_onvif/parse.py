"""Pure parsing: zeep's answers (as plain dicts from `serialize_object`) or raw XML to our
dataclasses. No I/O and no onvif-zeep here; every function raises `UnexpectedAnswer` for an answer
of a shape it cannot use, and is tested on recorded messages."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from lxml import etree

from cctv_onvif.types import (
    DEVICE_NS,
    EVENTS_NS,
    MEDIA_NS,
    RECORDING_NS,
    REPLAY_NS,
    SEARCH_NS,
    DeviceInfo,
    EventKind,
    MediaProfile,
    OnvifEvent,
    PullBatch,
    RecordingInfo,
    RecordingSummary,
    RecordingTrack,
    ServiceInfo,
    UnexpectedAnswer,
)

SOAP_ENV_NS = "http://www.w3.org/2003/05/soap-envelope"
WSNT_NS = "http://docs.oasis-open.org/wsn/b-2"
SCHEMA_NS = "http://www.onvif.org/ver10/schema"

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


def get_path(data: Any, *path: str) -> Any:
    """data[path[0]][path[1]]...; None where a level is missing or not a mapping."""
    for key in path:
        if not isinstance(data, Mapping):
            return None
        data = data.get(key)
    return data


def text(value: Any) -> str:
    return "" if value is None else str(value).strip()


def parse_device_information(answer: Mapping[str, Any]) -> DeviceInfo:
    info = DeviceInfo(
        manufacturer=text(answer.get("Manufacturer")),
        model=text(answer.get("Model")),
        firmware=text(answer.get("FirmwareVersion")),
        serial=text(answer.get("SerialNumber")),
        hardware_id=text(answer.get("HardwareId")),
    )
    if not (info.manufacturer or info.model or info.serial):
        raise UnexpectedAnswer("GetDeviceInformation names no manufacturer, model or serial number")
    return info


def _date_time(value: Any) -> datetime | None:
    date, clock = get_path(value, "Date"), get_path(value, "Time")
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
    zone = text(get_path(answer, "TimeZone", "TZ")).upper()
    local = _date_time(answer.get("LocalDateTime"))
    if local is not None and zone in ("", "UTC", "UTC0", "GMT", "GMT0"):
        return local
    raise UnexpectedAnswer("GetSystemDateAndTime gives no UTC date and time")


def parse_services(answer: Any) -> list[ServiceInfo]:
    if not isinstance(answer, list):
        raise UnexpectedAnswer("GetServices did not answer with a list of services")
    services = []
    for item in answer:
        namespace, xaddr = text(get_path(item, "Namespace")), text(get_path(item, "XAddr"))
        if not namespace or not xaddr:
            raise UnexpectedAnswer("GetServices lists a service without namespace or address")
        major, minor = get_path(item, "Version", "Major"), get_path(item, "Version", "Minor")
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
        add(name, text(get_path(value, "XAddr")))
    # Elements zeep could not map to the schema (e.g. tt:Recording inside Extension) stay XML.
    for element in get_path(extension, "_value_1") or []:
        if etree.iselement(element):
            add(etree.QName(element).localname, text(element.findtext("{*}XAddr")))
    if DEVICE_NS not in found and MEDIA_NS not in found:
        raise UnexpectedAnswer("GetCapabilities names neither the device nor the media service")
    return [ServiceInfo(ns, xaddr, "") for ns, xaddr in found.items()]


def parse_profiles(answer: Any) -> list[MediaProfile]:
    if not isinstance(answer, list):
        raise UnexpectedAnswer("GetProfiles did not answer with a list of profiles")
    profiles = []
    for item in answer:
        token = text(get_path(item, "token"))
        if not token:
            raise UnexpectedAnswer("GetProfiles lists a profile without a token")
        encoder = get_path(item, "VideoEncoderConfiguration")
        width = get_path(encoder, "Resolution", "Width")
        height = get_path(encoder, "Resolution", "Height")
        fps = get_path(encoder, "RateControl", "FrameRateLimit")
        try:
            profiles.append(
                MediaProfile(
                    token=token,
                    name=text(get_path(item, "Name")),
                    encoding=text(get_path(encoder, "Encoding")) or None,
                    width=int(width) if width else None,
                    height=int(height) if height else None,
                    fps=float(fps) if fps else None,
                )
            )
        except (TypeError, ValueError) as exc:
            raise UnexpectedAnswer(
                f"GetProfiles: profile {token} has a bad encoder: {exc}"
            ) from exc
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
    """(URI, invalid after connect, invalid after reboot) of GetStreamUri or GetSnapshotUri."""
    uri = text(answer.get("Uri"))
    if not uri:
        raise UnexpectedAnswer(f"{operation} gives no URI")
    return uri, bool(answer.get("InvalidAfterConnect")), bool(answer.get("InvalidAfterReboot"))


def granted_seconds(current: Any, termination: Any) -> float | None:
    """Seconds a subscription was granted, from the CurrentTime and TerminationTime it names."""
    if isinstance(current, datetime) and isinstance(termination, datetime):
        return (termination - current).total_seconds()
    return None


def parse_subscription(answer: Mapping[str, Any]) -> tuple[str, list[Any], float | None]:
    """(address, reference parameters as XML elements, seconds granted by the camera)."""
    address = text(get_path(answer, "SubscriptionReference", "Address", "_value_1"))
    if not address:
        raise UnexpectedAnswer("CreatePullPointSubscription gives no subscription address")
    parameters = get_path(answer, "SubscriptionReference", "ReferenceParameters", "_value_1") or []
    elements = [p for p in parameters if etree.iselement(p)]
    granted = granted_seconds(answer.get("CurrentTime"), answer.get("TerminationTime"))
    return address, elements, granted


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


def parse_time(value: str | None) -> datetime | None:
    """An xsd:dateTime as an aware datetime (UTC when it names no zone); None if unreadable."""
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
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
    topic = text(message.findtext(f"{{{WSNT_NS}}}Topic"))
    body = message.find(f"{{{WSNT_NS}}}Message/{{{SCHEMA_NS}}}Message")
    if not topic or body is None:
        raise UnexpectedAnswer("a notification without topic or tt:Message")
    data = _simple_items(body.find(f"{{{SCHEMA_NS}}}Data"))
    kind, active = classify_event(topic, data)
    return OnvifEvent(
        topic=topic,
        utc_time=parse_time(body.get("UtcTime")),
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
        current_time=parse_time(response.findtext(f"{{{EVENTS_NS}}}CurrentTime")),
        termination_time=parse_time(response.findtext(f"{{{EVENTS_NS}}}TerminationTime")),
        problems=tuple(problems),
    )


def parse_pull_messages_xml(data: bytes) -> PullBatch:
    """The same from bytes (recorded answers in tests)."""
    parser = etree.XMLParser(resolve_entities=False, no_network=True)
    try:
        root = etree.fromstring(data, parser)
    except etree.XMLSyntaxError as exc:
        raise UnexpectedAnswer(f"not XML: {exc}") from exc
    return parse_pull_messages(root)


# -- recordings (search service) -----------------------------------------------------------------


def _moment(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    return parse_time(text(value)) if value else None


def parse_recording_summary(answer: Any) -> RecordingSummary:
    summary = get_path(answer, "Summary") if get_path(answer, "Summary") is not None else answer
    if not isinstance(summary, Mapping):
        raise UnexpectedAnswer("GetRecordingSummary gives no summary")
    try:
        count = int(summary.get("NumberRecordings") or 0)
    except (TypeError, ValueError) as exc:
        raise UnexpectedAnswer("GetRecordingSummary: NumberRecordings is not a number") from exc
    return RecordingSummary(
        _moment(summary.get("DataFrom")), _moment(summary.get("DataUntil")), count
    )


def parse_recording_information(item: Any) -> RecordingInfo:
    token = text(get_path(item, "RecordingToken"))
    if not token:
        raise UnexpectedAnswer("a recording without a RecordingToken")
    tracks = []
    for track in get_path(item, "Track") or []:
        track_token = text(get_path(track, "TrackToken"))
        if not track_token:
            raise UnexpectedAnswer(f"recording {token} lists a track without a TrackToken")
        tracks.append(
            RecordingTrack(
                track_token,
                text(get_path(track, "TrackType")),
                text(get_path(track, "Description")),
                _moment(get_path(track, "DataFrom")),
                _moment(get_path(track, "DataTo")),
            )
        )
    source = get_path(item, "Source")
    return RecordingInfo(
        token=token,
        source_id=text(get_path(source, "SourceId")),
        source_name=text(get_path(source, "Name")),
        location=text(get_path(source, "Location")),
        description=text(get_path(source, "Description")),
        address=text(get_path(source, "Address")),
        earliest=_moment(get_path(item, "EarliestRecording")),
        latest=_moment(get_path(item, "LatestRecording")),
        content=text(get_path(item, "Content")),
        tracks=tuple(tracks),
        status=text(get_path(item, "RecordingStatus")),
    )


def parse_recording_search_results(answer: Any) -> tuple[str, list[RecordingInfo]]:
    """(SearchState, recordings) of one GetRecordingSearchResults page."""
    results = (
        get_path(answer, "ResultList") if get_path(answer, "ResultList") is not None else answer
    )
    if not isinstance(results, Mapping):
        raise UnexpectedAnswer("GetRecordingSearchResults gives no ResultList")
    state = text(results.get("SearchState"))
    if not state:
        raise UnexpectedAnswer("GetRecordingSearchResults gives no SearchState")
    items = results.get("RecordingInformation") or []
    return state, [parse_recording_information(item) for item in items]


def parse_recordings(answer: Any) -> list[RecordingInfo]:
    """The recording service's GetRecordings (configuration and tracks, no times)."""
    if not isinstance(answer, list):
        raise UnexpectedAnswer("GetRecordings did not answer with a list of recordings")
    recordings = []
    for item in answer:
        token = text(get_path(item, "RecordingToken"))
        if not token:
            raise UnexpectedAnswer("GetRecordings lists a recording without a token")
        source = get_path(item, "Configuration", "Source")
        tracks = tuple(
            RecordingTrack(
                text(get_path(track, "TrackToken")),
                text(get_path(track, "Configuration", "TrackType")),
                text(get_path(track, "Configuration", "Description")),
                None,
                None,
            )
            for track in get_path(item, "Tracks", "Track") or []
        )
        recordings.append(
            RecordingInfo(
                token=token,
                source_id=text(get_path(source, "SourceId")),
                source_name=text(get_path(source, "Name")),
                location=text(get_path(source, "Location")),
                description=text(get_path(source, "Description")),
                address=text(get_path(source, "Address")),
                earliest=None,
                latest=None,
                content=text(get_path(item, "Configuration", "Content")),
                tracks=tracks,
            )
        )
    return recordings
