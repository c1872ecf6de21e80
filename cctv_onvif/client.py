"""`OnvifClient`: ONVIF operations on one camera, blocking; for the CLI and for worker threads.

Safe to share between threads (calls are serialised per camera). Every operation raises only
OnvifError subclasses, with a message naming the camera and its address. The first operation
measures the camera's clock (GetSystemDateAndTime, unauthenticated as ONVIF allows) and fills
the service addresses from GetServices (GetCapabilities on cameras older than ONVIF 2.0).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any, TypeVar

from cctv_common.clock import utc_now
from cctv_common.uris import redact_uri
from cctv_onvif.http import fetch_image
from cctv_onvif.parse import (
    choose_profile,
    get_path,
    parse_capabilities,
    parse_device_information,
    parse_media_uri,
    parse_profiles,
    parse_recording_information,
    parse_recording_search_results,
    parse_recording_summary,
    parse_recordings,
    parse_services,
    parse_system_date_and_time,
    text,
)
from cctv_onvif.snapshot_image import NotConvertible, as_jpeg
from cctv_onvif.soap import SoapSession
from cctv_onvif.types import (
    ClockReading,
    DeviceInfo,
    MediaProfile,
    OnvifAuthError,
    OnvifBadSnapshot,
    OnvifError,
    OnvifFault,
    OnvifProfileError,
    OnvifProtocolError,
    OnvifSettings,
    OnvifTarget,
    OnvifUnsupported,
    RecordingInfo,
    RecordingSummary,
    SearchSettings,
    ServiceInfo,
    StreamUri,
    UnexpectedAnswer,
)

log = logging.getLogger(__name__)

T = TypeVar("T")

RTSP_UNICAST = {"Stream": "RTP-Unicast", "Transport": {"Protocol": "RTSP"}}


class OnvifClient:
    """ONVIF operations on one camera, blocking. Usable from the CLI and from worker threads."""

    def __init__(self, target: OnvifTarget, settings: OnvifSettings | None = None) -> None:
        self.target = target
        self.settings = settings or OnvifSettings()
        self.soap = SoapSession(target, self.settings)
        self._clock: ClockReading | None = None
        self._services: list[ServiceInfo] | None = None

    def __enter__(self) -> OnvifClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.soap.close()

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
        return self.soap.xaddrs

    def parse(self, parser: Callable[..., T], answer: Any, operation: str, *args: Any) -> T:
        """Run a pure parser on an answer; UnexpectedAnswer becomes OnvifProtocolError."""
        try:
            return parser(answer, *args)
        except UnexpectedAnswer as exc:
            raise OnvifProtocolError(
                f"{self.target.where} sent an unexpected answer to {operation}: {exc}",
                self.target.camera_id,
            ) from exc

    # -- connecting -----------------------------------------------------------------------

    def get_system_date_and_time(self) -> ClockReading:
        """Read the camera's clock (unauthenticated, as ONVIF allows; authenticated if the camera
        insists) and apply the offset to every later WS-UsernameToken."""
        with self.soap.lock:
            started, before = time.monotonic(), utc_now()
            try:
                answer = self.soap.call_anonymous("GetSystemDateAndTime")
            except OnvifAuthError:
                started, before = time.monotonic(), utc_now()
                answer = self.soap.call("devicemgmt", "GetSystemDateAndTime")
            round_trip = time.monotonic() - started
            agent_utc = before + timedelta(seconds=round_trip / 2)
            camera_utc = self.parse(parse_system_date_and_time, answer, "GetSystemDateAndTime")
            reading = ClockReading(
                camera_utc, agent_utc, (camera_utc - agent_utc).total_seconds(), round_trip
            )
            self._clock = reading
            self.soap.apply_offset(reading.offset_seconds)
        log.debug("%s: clock offset %.1f s", self.target.where, reading.offset_seconds)
        return reading

    def get_services(self) -> list[ServiceInfo]:
        """The camera's services, also filling onvif-zeep's service addresses. Cameras older than
        ONVIF 2.0 lack GetServices; their addresses come from GetCapabilities."""
        with self.soap.lock:
            self._ensure_clock()
            try:
                answer = self.soap.call("devicemgmt", "GetServices", IncludeCapability=False)
                services = self.parse(parse_services, answer, "GetServices")
            except (OnvifUnsupported, OnvifProtocolError) as exc:
                # Refused or not understood: an ONVIF 1.x camera. Garbage or silence: give up.
                refused = isinstance(exc, (OnvifUnsupported, OnvifFault))
                if not (refused or isinstance(exc.__cause__, UnexpectedAnswer)):
                    raise
                log.info(
                    "%s: GetServices failed (%s); using GetCapabilities", self.target.where, exc
                )
                answer = self.soap.call("devicemgmt", "GetCapabilities", Category="All")
                services = self.parse(parse_capabilities, answer, "GetCapabilities")
            self.soap.set_services(services)
            self._services = services
            return list(services)

    def connect(self) -> list[ServiceInfo]:
        """Clock offset and service addresses; done once, before the first other operation."""
        with self.soap.lock:
            self._ensure_clock()
            return list(self._services) if self._services is not None else self.get_services()

    def _ensure_clock(self) -> None:
        if self._clock is None:
            self.get_system_date_and_time()

    # -- operations -----------------------------------------------------------------------

    def get_device_information(self) -> DeviceInfo:
        self.connect()
        answer = self.soap.call("devicemgmt", "GetDeviceInformation")
        return self.parse(parse_device_information, answer, "GetDeviceInformation")

    def get_scopes(self) -> list[str]:
        self.connect()
        answer = self.soap.call("devicemgmt", "GetScopes") or []
        if not isinstance(answer, list):
            return []
        return [text(get_path(item, "ScopeItem")) for item in answer if get_path(item, "ScopeItem")]

    def get_hostname(self) -> str:
        """The device's host name (GetHostname); "" when it has none."""
        self.connect()
        answer = self.soap.call("devicemgmt", "GetHostname")
        name = get_path(answer, "Name") or get_path(answer, "HostnameInformation", "Name")
        return text(name)

    def get_profiles(self) -> list[MediaProfile]:
        self.connect()
        answer = self.soap.call("media", "GetProfiles")
        return self.parse(parse_profiles, answer, "GetProfiles")

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

    def stream_uri_of(self, token: str) -> StreamUri:
        """The RTSP URI (RTP unicast over RTSP) of one profile token, without choosing."""
        answer = self.soap.call(
            "media", "GetStreamUri", StreamSetup=RTSP_UNICAST, ProfileToken=token
        )
        uri, after_connect, after_reboot = self.parse(
            parse_media_uri, answer, "GetStreamUri", "GetStreamUri"
        )
        log.debug("%s: stream %s of profile %s", self.target.where, redact_uri(uri), token)
        return StreamUri(token, uri, after_connect, after_reboot)

    def get_stream_uri(self, profile: str = "main") -> StreamUri:
        """The RTSP URI (RTP unicast over RTSP) of a profile token or of 'main'/'sub'."""
        return self.stream_uri_of(self.resolve_profile(profile).token)

    def get_snapshot_uri(self, profile: str = "main") -> str:
        token = self.resolve_profile(profile).token
        answer = self.soap.call("media", "GetSnapshotUri", ProfileToken=token)
        uri, _, _ = self.parse(parse_media_uri, answer, "GetSnapshotUri", "GetSnapshotUri")
        return uri

    def fetch_snapshot(self, profile: str = "main") -> bytes:
        """The current picture of a profile as JPEG, fetched from its snapshot URI (HTTP digest
        or basic). A PNG, GIF, BMP or WebP (sent by some devices, against the standard) is
        converted; anything else raises OnvifBadSnapshot."""
        uri = self.get_snapshot_uri(profile)
        with self.soap.lock:
            body, content_type = fetch_image(
                self.soap.http,
                self.target,
                uri,
                self.settings.max_snapshot_bytes,
                self.settings.timeout,
            )
        try:
            jpeg, kind = as_jpeg(body)
        except NotConvertible as exc:
            raise OnvifBadSnapshot(
                f"{self.target.where} sent a snapshot that is not a JPEG image"
                f" ({content_type[:80]}) and cannot be converted: {exc}",
                self.target.camera_id,
            ) from exc
        if kind != "JPEG":
            log.info("%s: snapshot sent as %s, converted to JPEG", self.target.where, kind)
        return jpeg

    # -- recordings (Profile G) -----------------------------------------------------------

    def get_recording_summary(self) -> RecordingSummary:
        self.connect()
        answer = self.soap.call("search", "GetRecordingSummary")
        return self.parse(parse_recording_summary, answer, "GetRecordingSummary")

    def find_recordings(self, settings: SearchSettings | None = None) -> list[RecordingInfo]:
        """Every recording, by FindRecordings and GetRecordingSearchResults page by page (each
        page held at most ``wait_seconds`` by the device), ending the search if it is left
        unfinished. A device without the search service: GetRecordings (no times)."""
        settings = settings or SearchSettings()
        self.connect()
        try:
            answer = self.soap.call(
                "search",
                "FindRecordings",
                Scope={},
                MaxMatches=settings.max_recordings,
                KeepAliveTime=timedelta(seconds=settings.keep_alive_seconds),
            )
        except OnvifUnsupported:
            return self.get_recordings()
        token = text(answer if not isinstance(answer, dict) else answer.get("SearchToken"))
        if not token:
            raise OnvifProtocolError(
                f"{self.target.where} gave no SearchToken for FindRecordings",
                self.target.camera_id,
            )
        found: dict[str, RecordingInfo] = {}
        completed = False
        try:
            for _page in range(settings.max_pages):
                answer = self.soap.call(
                    "search",
                    "GetRecordingSearchResults",
                    SearchToken=token,
                    MinResults=1,
                    MaxResults=settings.page_size,
                    WaitTime=timedelta(seconds=settings.wait_seconds),
                )
                state, page = self.parse(
                    parse_recording_search_results, answer, "GetRecordingSearchResults"
                )
                for recording in page:
                    found.setdefault(recording.token, recording)
                if state == "Completed" or len(found) >= settings.max_recordings:
                    completed = state == "Completed"
                    break
            else:
                log.warning(
                    "%s: recording search not completed after %d pages; using %d recordings",
                    self.target.where,
                    settings.max_pages,
                    len(found),
                )
        finally:
            if not completed:
                try:
                    self.soap.call("search", "EndSearch", SearchToken=token)
                except OnvifError as exc:
                    log.debug("%s: EndSearch failed: %s", self.target.where, exc)
        return list(found.values())

    def get_recordings(self) -> list[RecordingInfo]:
        """The recording service's GetRecordings: tokens, sources and tracks, without times."""
        self.connect()
        answer = self.soap.call("recording", "GetRecordings") or []
        return self.parse(parse_recordings, answer, "GetRecordings")

    def get_recording_information(self, token: str) -> RecordingInfo:
        self.connect()
        answer = self.soap.call("search", "GetRecordingInformation", RecordingToken=token)
        return self.parse(parse_recording_information, answer, "GetRecordingInformation")

    def get_replay_uri(self, recording_token: str) -> str:
        """The RTSP URI that replays one recording (RTP unicast over RTSP)."""
        self.connect()
        answer = self.soap.call(
            "replay", "GetReplayUri", StreamSetup=RTSP_UNICAST, RecordingToken=recording_token
        )
        uri = text(answer if not isinstance(answer, dict) else answer.get("Uri"))
        if not uri:
            raise OnvifProtocolError(
                f"{self.target.where} gave no URI for GetReplayUri", self.target.camera_id
            )
        return uri
