"""The test NVR's SOAP side: device, recording, search and replay services over HTTP on loopback.

Messages are shaped after the ONVIF WSDLs that onvif-zeep ships (devicemgmt, recording, search,
replay; element order as onvif.xsd defines it), so the agent's real onvif-zeep client parses
them. Every operation but GetSystemDateAndTime needs a WS-UsernameToken PasswordDigest whose
Created is near the NVR's clock and whose nonce is new; otherwise ter:NotAuthorized.

Searches page: FindRecordings opens a search, GetRecordingSearchResults gives at most
``page_size`` recordings (and at most MaxResults) per call with SearchState "Searching" until
the last page, which says "Completed"; EndSearch closes one. A recording's EarliestRecording and
LatestRecording (and its video track's DataFrom and DataTo) are its first and last frames; a hole
inside shows in replay (E and D flags), not here, as on real NVRs.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import logging
import threading
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from xml.sax.saxutils import escape

from devkit.nvr.store import Recording

log = logging.getLogger(__name__)

SOAP_ENV = "http://www.w3.org/2003/05/soap-envelope"
WSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
WSU = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"
NAMESPACES = {
    "tds": "http://www.onvif.org/ver10/device/wsdl",
    "trc": "http://www.onvif.org/ver10/recording/wsdl",
    "tse": "http://www.onvif.org/ver10/search/wsdl",
    "trp": "http://www.onvif.org/ver10/replay/wsdl",
    "tt": "http://www.onvif.org/ver10/schema",
    "ter": "http://www.onvif.org/ver10/error",
}
SERVICES = {  # path: (prefix, operations)
    "/onvif/device_service": (
        "tds",
        {"GetSystemDateAndTime", "GetServices", "GetDeviceInformation"},
    ),
    "/onvif/recording_service": ("trc", {"GetRecordings"}),
    "/onvif/search_service": (
        "tse",
        {
            "GetRecordingSummary",
            "FindRecordings",
            "GetRecordingSearchResults",
            "EndSearch",
            "GetRecordingInformation",
        },
    ),
    "/onvif/replay_service": ("trp", {"GetReplayUri"}),
}
PRE_AUTH = {"GetSystemDateAndTime"}


class SoapFault(Exception):
    def __init__(self, status: int, code: str, subcode: str, reason: str) -> None:
        super().__init__(reason)
        self.status, self.code, self.subcode, self.reason = status, code, subcode, reason


def xsd_time(ns: int) -> str:
    moment = datetime.fromtimestamp(ns / 1e9, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def envelope(body: str) -> str:
    declarations = " ".join(f'xmlns:{p}="{ns}"' for p, ns in NAMESPACES.items())
    return (
        f'<?xml version="1.0" encoding="UTF-8"?><env:Envelope xmlns:env="{SOAP_ENV}" '
        f"{declarations}><env:Body>{body}</env:Body></env:Envelope>"
    )


def fault(error: SoapFault) -> str:
    return envelope(
        f"<env:Fault><env:Code><env:Value>{error.code}</env:Value><env:Subcode><env:Value>"
        f"{error.subcode}</env:Value></env:Subcode></env:Code><env:Reason><env:Text"
        f' xml:lang="en">{escape(error.reason)}</env:Text></env:Reason></env:Fault>'
    )


def recording_information(recording: Recording) -> str:
    start, end = xsd_time(recording.start_ns), xsd_time(recording.end_ns)
    return (
        f"<tt:RecordingToken>{escape(recording.token)}</tt:RecordingToken>"
        f"<tt:Source><tt:SourceId>{escape(recording.source_id)}</tt:SourceId>"
        f"<tt:Name>{escape(recording.name)}</tt:Name><tt:Location>Test site</tt:Location>"
        f"<tt:Description>channel {recording.channel}</tt:Description>"
        f"<tt:Address>{escape(recording.source_id)}</tt:Address></tt:Source>"
        f"<tt:EarliestRecording>{start}</tt:EarliestRecording>"
        f"<tt:LatestRecording>{end}</tt:LatestRecording>"
        f"<tt:Content>{escape(recording.name)}</tt:Content>"
        f"<tt:Track><tt:TrackToken>VIDEO001</tt:TrackToken><tt:TrackType>Video</tt:TrackType>"
        f"<tt:Description>{recording.codec} {recording.width}x{recording.height}</tt:Description>"
        f"<tt:DataFrom>{start}</tt:DataFrom><tt:DataTo>{end}</tt:DataTo></tt:Track>"
        f"<tt:RecordingStatus>Stopped</tt:RecordingStatus>"
    )


class NvrSoapService:
    """Answers SOAP for one test NVR. ``rtsp_base`` is filled in once the RTSP side listens."""

    def __init__(
        self,
        recordings: dict[str, Recording],
        *,
        user: str,
        password: str,
        token_window: float = 5.0,
        page_size: int = 100,
    ) -> None:
        self.recordings = recordings
        self.user = user
        self.password = password
        self.token_window = token_window
        self.page_size = page_size
        self.rtsp_base = ""
        self.calls: list[str] = []
        self.unsupported: set[str] = set()
        self.searches: dict[str, list[Recording]] = {}
        self._ids = itertools.count(1)
        self._nonces: set[str] = set()
        self._lock = threading.Lock()
        self._server = _Server(("127.0.0.1", 0), _Handler, self)
        self.port: int = self._server.server_address[1]
        self._thread: threading.Thread | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> NvrSoapService:
        self._thread = threading.Thread(
            target=self._server.serve_forever, name=f"test-nvr-soap-{self.port}", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(timeout=5)
        self._server.server_close()

    # -- dispatch ---------------------------------------------------------------------------

    def handle(self, path: str, body: bytes) -> tuple[int, str]:
        try:
            return 200, self._dispatch(path, body)
        except SoapFault as error:
            return error.status, fault(error)

    def _dispatch(self, path: str, body: bytes) -> str:
        try:
            root = ET.fromstring(body)
        except ET.ParseError as exc:
            raise SoapFault(400, "env:Sender", "ter:WellFormed", f"Not well formed: {exc}") from exc
        request = root.find(f"{{{SOAP_ENV}}}Body/*")
        if request is None:
            raise SoapFault(400, "env:Sender", "ter:MissingAttr", "No operation in the body")
        operation = request.tag.rsplit("}", 1)[-1]
        self.calls.append(operation)
        prefix, operations = SERVICES.get(path, ("", set()))
        if operation not in operations or operation in self.unsupported:
            raise SoapFault(
                400, "env:Receiver", "ter:ActionNotSupported", f"{operation} is not supported"
            )
        if operation not in PRE_AUTH:
            self._authenticate(root.find(f"{{{SOAP_ENV}}}Header"))
        answer: str = getattr(self, f"_op_{operation}")(request)
        return envelope(f"<{prefix}:{operation}Response>{answer}</{prefix}:{operation}Response>")

    def _authenticate(self, header: ET.Element | None) -> None:
        refused = SoapFault(400, "env:Sender", "ter:NotAuthorized", "Sender not Authorized")
        token = (
            None if header is None else header.find(f"{{{WSSE}}}Security/{{{WSSE}}}UsernameToken")
        )
        if token is None:
            raise refused
        password = token.find(f"{{{WSSE}}}Password")
        nonce = token.findtext(f"{{{WSSE}}}Nonce", "")
        created = token.findtext(f"{{{WSU}}}Created", "")
        try:
            moment = datetime.fromisoformat(created.strip().replace("Z", "+00:00"))
            raw_nonce = base64.b64decode(nonce, validate=True)
        except ValueError as exc:
            raise refused from exc
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        if (
            password is None
            or abs((moment - datetime.now(UTC)).total_seconds()) > self.token_window
        ):
            raise refused
        expected = base64.b64encode(
            hashlib.sha1(raw_nonce + created.encode() + self.password.encode()).digest()
        ).decode()
        with self._lock:
            replayed = nonce in self._nonces
            self._nonces.add(nonce)
        if (
            token.findtext(f"{{{WSSE}}}Username", "") != self.user
            or replayed
            or not hmac.compare_digest(expected, (password.text or "").strip())
        ):
            raise refused

    # -- device -----------------------------------------------------------------------------

    def _op_GetSystemDateAndTime(self, request: ET.Element) -> str:
        now = datetime.now(UTC)
        return (
            "<tds:SystemDateAndTime><tt:DateTimeType>NTP</tt:DateTimeType>"
            "<tt:DaylightSavings>false</tt:DaylightSavings><tt:TimeZone><tt:TZ>UTC0</tt:TZ>"
            "</tt:TimeZone><tt:UTCDateTime><tt:Time>"
            f"<tt:Hour>{now.hour}</tt:Hour><tt:Minute>{now.minute}</tt:Minute>"
            f"<tt:Second>{now.second}</tt:Second></tt:Time><tt:Date><tt:Year>{now.year}</tt:Year>"
            f"<tt:Month>{now.month}</tt:Month><tt:Day>{now.day}</tt:Day></tt:Date>"
            "</tt:UTCDateTime></tds:SystemDateAndTime>"
        )

    def _op_GetServices(self, request: ET.Element) -> str:
        services = [
            ("tds", "/onvif/device_service", 2),
            ("trc", "/onvif/recording_service", 2),
            ("tse", "/onvif/search_service", 2),
            ("trp", "/onvif/replay_service", 2),
        ]
        return "".join(
            f"<tds:Service><tds:Namespace>{NAMESPACES[p]}</tds:Namespace>"
            f"<tds:XAddr>{self.base}{path}</tds:XAddr><tds:Version><tt:Major>{major}</tt:Major>"
            "<tt:Minor>0</tt:Minor></tds:Version></tds:Service>"
            for p, path, major in services
        )

    def _op_GetDeviceInformation(self, request: ET.Element) -> str:
        return (
            "<tds:Manufacturer>DevKit</tds:Manufacturer><tds:Model>Test NVR 16</tds:Model>"
            "<tds:FirmwareVersion>1.22.0-devkit</tds:FirmwareVersion>"
            "<tds:SerialNumber>NVR0001</tds:SerialNumber><tds:HardwareId>devkit-nvr</tds:HardwareId>"
        )

    # -- recording and search ---------------------------------------------------------------

    def _recording(self, request: ET.Element, prefix: str) -> Recording:
        token = request.findtext(f"{{{NAMESPACES[prefix]}}}RecordingToken", "").strip()
        if token not in self.recordings:
            raise SoapFault(400, "env:Sender", "ter:InvalidArgVal", f"No recording {token}")
        return self.recordings[token]

    def _op_GetRecordings(self, request: ET.Element) -> str:
        return "".join(
            f"<trc:RecordingItem><tt:RecordingToken>{escape(r.token)}</tt:RecordingToken>"
            f"<tt:Configuration><tt:Source><tt:SourceId>{escape(r.source_id)}</tt:SourceId>"
            f"<tt:Name>{escape(r.name)}</tt:Name><tt:Location>Test site</tt:Location>"
            f"<tt:Description>channel {r.channel}</tt:Description>"
            f"<tt:Address>{escape(r.source_id)}</tt:Address></tt:Source>"
            f"<tt:Content>{escape(r.name)}</tt:Content>"
            "<tt:MaximumRetentionTime>P31D</tt:MaximumRetentionTime></tt:Configuration>"
            "<tt:Tracks><tt:Track><tt:TrackToken>VIDEO001</tt:TrackToken><tt:Configuration>"
            "<tt:TrackType>Video</tt:TrackType><tt:Description>video</tt:Description>"
            "</tt:Configuration></tt:Track></tt:Tracks></trc:RecordingItem>"
            for r in self.recordings.values()
        )

    def _op_GetRecordingSummary(self, request: ET.Element) -> str:
        starts = [r.start_ns for r in self.recordings.values()]
        ends = [r.end_ns for r in self.recordings.values()]
        first = xsd_time(min(starts)) if starts else xsd_time(0)
        last = xsd_time(max(ends)) if ends else xsd_time(0)
        return (
            f"<tse:Summary><tt:DataFrom>{first}</tt:DataFrom><tt:DataUntil>{last}</tt:DataUntil>"
            f"<tt:NumberRecordings>{len(self.recordings)}</tt:NumberRecordings></tse:Summary>"
        )

    def _op_FindRecordings(self, request: ET.Element) -> str:
        token = f"search-{next(self._ids)}"
        with self._lock:
            self.searches[token] = list(self.recordings.values())
        return f"<tse:SearchToken>{token}</tse:SearchToken>"

    def _search(self, request: ET.Element) -> tuple[str, list[Recording]]:
        token = request.findtext(f"{{{NAMESPACES['tse']}}}SearchToken", "").strip()
        with self._lock:
            if token not in self.searches:
                raise SoapFault(400, "env:Sender", "ter:InvalidToken", f"No search {token}")
            return token, self.searches[token]

    def _op_GetRecordingSearchResults(self, request: ET.Element) -> str:
        token, remaining = self._search(request)
        wanted = request.findtext(f"{{{NAMESPACES['tse']}}}MaxResults", "") or "0"
        count = min(self.page_size, int(wanted) if wanted.isdigit() and int(wanted) else 10**6)
        with self._lock:
            page, remaining[:] = remaining[:count], remaining[count:]
            state = "Searching" if remaining else "Completed"
            if not remaining:
                self.searches.pop(token, None)
        items = "".join(
            f"<tt:RecordingInformation>{recording_information(r)}</tt:RecordingInformation>"
            for r in page
        )
        return f"<tse:ResultList><tt:SearchState>{state}</tt:SearchState>{items}</tse:ResultList>"

    def _op_EndSearch(self, request: ET.Element) -> str:
        token, _ = self._search(request)
        with self._lock:
            self.searches.pop(token, None)
        return f"<tse:Endpoint>{xsd_time(int(datetime.now(UTC).timestamp() * 1e9))}</tse:Endpoint>"

    def _op_GetRecordingInformation(self, request: ET.Element) -> str:
        recording = self._recording(request, "tse")
        information = recording_information(recording)
        return f"<tse:RecordingInformation>{information}</tse:RecordingInformation>"

    # -- replay -----------------------------------------------------------------------------

    def _op_GetReplayUri(self, request: ET.Element) -> str:
        recording = self._recording(request, "trp")
        return f"<trp:Uri>{escape(self.rtsp_base)}/replay/{escape(recording.token)}</trp:Uri>"


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(
        self,
        address: tuple[str, int],
        handler: type[BaseHTTPRequestHandler],
        service: NvrSoapService,
    ) -> None:
        self.service = service
        super().__init__(address, handler)


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"
    timeout = 30

    def log_message(self, format: str, *args: object) -> None:
        log.debug("test nvr soap: " + format, *args)

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(min(length, 1024 * 1024))
        path = self.path.split("?", 1)[0]
        if path not in SERVICES:
            self._send(404, b"", "text/html")
            return
        status, answer = self.server.service.handle(path, body)
        self._send(status, answer.encode(), "application/soap+xml; charset=utf-8")

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
