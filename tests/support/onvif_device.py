"""A fake ONVIF camera for tests: a real HTTP server on loopback answering SOAP 1.2.

It answers with the envelopes under tests/fixtures/onvif/ (shapes of the ONVIF WSDLs shipped with
onvif-zeep, laid out like messages captured from real cameras) and behaves as cameras do where it
matters to a client:

- every operation but GetSystemDateAndTime needs a WS-UsernameToken PasswordDigest,
  Base64(SHA1(nonce + created + password)), whose Created is within a few seconds of the device's
  own (possibly skewed) clock and whose nonce was not used before; otherwise the answer is the
  env:Sender / ter:NotAuthorized fault;
- a PullPoint subscription (Axis style: one address, told apart by a dom0:SubscriptionId reference
  parameter that must come back as a SOAP header), with Initialized messages on creation,
  long-polling PullMessages, Renew, Unsubscribe and expiry; a Renew (any operation named in
  `wsa_required`) without the WS-Addressing headers Action, MessageID and To is refused with
  wsa:MessageAddressingHeaderRequired, as a real device did;
- a snapshot at /snapshot.jpg behind HTTP digest (or basic) authentication: a JPEG, or whatever
  `snapshot` and `snapshot_type` are set to (third-party devices send PNG);
- a WS-Discovery responder on a UDP port for unicast probes;
- fault modes set at run time: "hang" (accept, never answer), "garbage" (non-XML), "huge" (tens
  of MB without a Content-Length), for the web server alone or for WS-Discovery as well.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import logging
import re
import secrets
import socket
import threading
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from string import Template
from typing import Literal
from urllib.parse import quote
from xml.sax.saxutils import escape

from tests.support.paths import FIXTURES as TEST_FIXTURES

log = logging.getLogger(__name__)

FIXTURES = TEST_FIXTURES / "onvif"

SOAP_ENV = "http://www.w3.org/2003/05/soap-envelope"
WSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
WSU = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"
AXIS_EVENT = "http://www.axis.com/2009/event"
WSD = "http://schemas.xmlsoap.org/ws/2005/04/discovery"
WSA_2004 = "http://schemas.xmlsoap.org/ws/2004/08/addressing"
WSA = "http://www.w3.org/2005/08/addressing"
MEDIA = "http://www.onvif.org/ver10/media/wsdl"
SCHEMA = "http://www.onvif.org/ver10/schema"
EVENTS = "http://www.onvif.org/ver10/events/wsdl"
WSNT = "http://docs.oasis-open.org/wsn/b-2"

MOTION_TOPIC = "tns1:RuleEngine/CellMotionDetector/Motion"
TAMPER_TOPIC = "tns1:RuleEngine/TamperDetector/Tamper"
RULE_SOURCE = {
    "VideoSourceConfigurationToken": "VideoSourceToken",
    "VideoAnalyticsConfigurationToken": "VideoAnalyticsToken",
}

FaultMode = Literal["hang", "garbage", "huge"]
HUGE_BYTES = 40 * 1024 * 1024
GARBAGE = b"\x00\x9c<<not xml>> \xff\xfe HTTP/1.1 500 oops"
MAX_LONG_POLL = 30.0  # seconds a PullMessages may be held open, whatever the client asks

PRE_AUTH = {"GetSystemDateAndTime"}
OPERATIONS: dict[str, set[str]] = {
    "/onvif/device_service": {
        "GetSystemDateAndTime",
        "GetDeviceInformation",
        "GetCapabilities",
        "GetServices",
        "GetScopes",
        "GetHostname",
    },
    "/onvif/media_service": {"GetProfiles", "GetStreamUri", "GetSnapshotUri"},
    "/onvif/events_service": {"CreatePullPointSubscription"},
    "/onvif/subscription": {"PullMessages", "Renew", "Unsubscribe"},
}
# The WS-Addressing Action of each subscription-manager operation (WS-BaseNotification defaults).
WSA_ACTIONS = {
    "Renew": "http://docs.oasis-open.org/wsn/bw-2/SubscriptionManager/RenewRequest",
    "Unsubscribe": "http://docs.oasis-open.org/wsn/bw-2/SubscriptionManager/UnsubscribeRequest",
    "PullMessages": "http://www.onvif.org/ver10/events/wsdl/PullPointSubscription/PullMessagesRequest",
}
PROFILES = ("Profile_1", "Profile_2")  # as in get_profiles.xml: main 1920x1080, sub 640x360

_DURATION = re.compile(
    r"^P(?:(?P<d>\d+)D)?(?:T(?:(?P<h>\d+)H)?(?:(?P<m>\d+)M)?(?:(?P<s>[\d.]+)S)?)?$"
)


def render(fixture: str, /, raw: dict[str, str] | None = None, **values: object) -> str:
    """Fill a fixture template: `values` are XML-escaped, `raw` are XML fragments."""
    text = (FIXTURES / fixture).read_text(encoding="utf-8")
    mapping = {k: escape(str(v), {'"': "&quot;"}) for k, v in values.items()}
    mapping.update(raw or {})
    return Template(text).substitute(mapping)


def xsd_datetime(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_duration(text: str) -> float | None:
    """Seconds in an xsd:duration such as PT60S or PT1M30S; None if it is not one."""
    match = _DURATION.match(text.strip())
    if not match or text.strip() in ("P", "PT"):
        return None
    parts = {k: float(v) for k, v in match.groupdict().items() if v}
    return (
        parts.get("d", 0) * 86400
        + parts.get("h", 0) * 3600
        + parts.get("m", 0) * 60
        + parts.get("s", 0)
    )


def _parse_datetime(text: str) -> datetime | None:
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


@dataclass
class _Subscription:
    id: str
    termination: datetime  # on the device's clock
    queue: list[str] = field(default_factory=list)  # rendered NotificationMessage elements


class SoapFault(Exception):
    def __init__(self, status: int, code: str, subcode: str, reason: str) -> None:
        super().__init__(reason)
        self.status, self.code, self.subcode, self.reason = status, code, subcode, reason

    def envelope(self) -> str:
        return render("fault.xml", code=self.code, subcode=self.subcode, reason=self.reason)


class FakeOnvifDevice:
    """One fake camera. Start it, point a client at `host`:`port`, stop it."""

    def __init__(
        self,
        *,
        user: str = "admin",
        password: str = "Pa55:w/rd@#1",
        token_window: float = 5.0,
        max_termination: float = 60.0,
        auth_fault_status: int = 400,
        snapshot_auth: Literal["digest", "basic"] = "digest",
    ) -> None:
        self.host = "127.0.0.1"
        self.user = user
        self.password = password
        self.token_window = token_window
        self.max_termination = max_termination
        self.auth_fault_status = auth_fault_status
        self.snapshot_auth = snapshot_auth
        self.clock_skew = 0.0
        self.hostname = "IPC"  # GetHostname; many cameras leave the factory name
        self.locations: list[str] = ["country/uk"]  # onvif://www.onvif.org/location/... scopes
        self.fault_mode: FaultMode | None = None
        self.discovery_faulty = True  # whether fault_mode applies to WS-Discovery as well
        self.stream_uris: dict[str, str] = {
            token: f"rtsp://{self.host}:554/Streaming/Channels/10{n}"
            for n, token in enumerate(PROFILES, 1)
        }
        self.unsupported: set[str] = set()  # operations answered with ter:ActionNotSupported
        # Operations refused without WS-Addressing headers (Action, MessageID, To).
        self.wsa_required: set[str] = {"Renew"}
        self.wsa_refusals = 0
        self.calls: list[str] = []  # operation names, in order (GETs as "GET /path")
        self.renewals = 0
        self.unsubscribed = 0
        self.subscriptions: dict[str, _Subscription] = {}
        self.motion = False
        self.tamper = False
        self.snapshot = _make_jpeg()
        self.snapshot_type = "image/jpeg"
        self._ids = itertools.count(1)
        self._nonces: set[str] = set()
        self._http_nonces: set[str] = set()
        self._state = threading.Condition()
        self._released = threading.Event()  # wakes "hang" handlers and long polls
        self._stopping = threading.Event()
        self._server = _Server(("127.0.0.1", 0), _Handler, self)
        self.port: int = self._server.server_address[1]
        self._udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._udp.bind(("127.0.0.1", 0))
        self._udp.settimeout(0.2)
        self.discovery_port: int = self._udp.getsockname()[1]
        self.endpoint_reference = (
            f"urn:uuid:{secrets.token_hex(4)}-0000-4000-8000-{secrets.token_hex(6)}"
        )
        self._threads: list[threading.Thread] = []

    # -- life cycle ---------------------------------------------------------------------------

    @property
    def base(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def xaddr(self) -> str:
        return f"{self.base}/onvif/device_service"

    def start(self) -> FakeOnvifDevice:
        for target, name in (
            (self._server.serve_forever, "http"),
            (self._discovery_loop, "ws-discovery"),
        ):
            thread = threading.Thread(
                target=target, name=f"fake-onvif-{name}-{self.port}", daemon=True
            )
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self) -> None:
        self._stopping.set()
        self._released.set()
        with self._state:
            self._state.notify_all()
        if self._threads:  # shutdown() waits for a serve_forever() that must have started
            self._server.shutdown()
        self._server.server_close()
        for thread in self._threads:
            thread.join(timeout=5)
        self._udp.close()

    def __enter__(self) -> FakeOnvifDevice:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- test controls ------------------------------------------------------------------------

    def set_stream_uri(self, profile_token: str, uri: str) -> None:
        self.stream_uris[profile_token] = uri

    def set_clock_skew(self, seconds: float) -> None:
        self.clock_skew = seconds

    def set_fault_mode(self, mode: FaultMode | None, *, discovery: bool = True) -> None:
        """Break the device's web server, and (unless `discovery` is False) its WS-Discovery
        responder too; real cameras run the two as separate daemons, so either can fail alone."""
        self.fault_mode = mode
        self.discovery_faulty = discovery
        if mode is None:
            self._released.set()
            self._released = threading.Event()

    def now(self) -> datetime:
        """The device's clock: the real one plus the configured skew."""
        return datetime.now(UTC) + timedelta(seconds=self.clock_skew)

    def push_event(
        self,
        topic: str,
        data: dict[str, str],
        source: dict[str, str] | None = None,
        operation: str = "Changed",
        utc_time: datetime | None = None,
    ) -> None:
        """Queue one notification for every live subscription, as the camera's event engine does."""
        with self._state:
            message = _notification(topic, data, source or {}, operation, utc_time or self.now())
            for subscription in self.subscriptions.values():
                subscription.queue.append(message)
            self._state.notify_all()

    def push_motion(self, active: bool) -> None:
        self.motion = active
        source = {**RULE_SOURCE, "Rule": "MyMotionDetectorRule"}
        self.push_event(MOTION_TOPIC, {"IsMotion": _xsd_bool(active)}, source)

    def push_tamper(self, active: bool) -> None:
        self.tamper = active
        source = {**RULE_SOURCE, "Rule": "MyTamperDetectorRule"}
        self.push_event(TAMPER_TOPIC, {"IsTamper": _xsd_bool(active)}, source)

    def drop_subscriptions(self) -> None:
        """Forget every subscription, as a camera does when it reboots."""
        with self._state:
            self.subscriptions.clear()
            self._state.notify_all()

    def count(self, operation: str) -> int:
        return self.calls.count(operation)

    # -- SOAP ---------------------------------------------------------------------------------

    def handle_soap(self, path: str, body: bytes) -> tuple[int, str]:
        """Answer one SOAP request: (HTTP status, envelope)."""
        try:
            return 200, self._dispatch(path.split("?", 1)[0], body)
        except SoapFault as fault:
            return fault.status, fault.envelope()

    def _dispatch(self, path: str, body: bytes) -> str:
        try:
            root = ET.fromstring(body)
        except ET.ParseError as exc:
            raise SoapFault(400, "env:Sender", "ter:WellFormed", f"Not well formed: {exc}") from exc
        request = root.find(f"{{{SOAP_ENV}}}Body/*")
        if request is None:
            raise SoapFault(400, "env:Sender", "ter:MissingAttr", "No operation in the body")
        operation = _local(request.tag)
        self.calls.append(operation)
        if operation not in OPERATIONS.get(path, set()) or operation in self.unsupported:
            raise SoapFault(
                400, "env:Receiver", "ter:ActionNotSupported", f"{operation} is not supported here"
            )
        header = root.find(f"{{{SOAP_ENV}}}Header")
        if operation not in PRE_AUTH:
            self._authenticate(header)
        if operation in self.wsa_required:
            self._check_addressing(header, operation, path)
        handler = getattr(self, f"_op_{operation}")
        answer: str = handler(request, header)
        return answer

    def _authenticate(self, header: ET.Element | None) -> None:
        refused = SoapFault(
            self.auth_fault_status, "env:Sender", "ter:NotAuthorized", "Sender not Authorized"
        )
        token = (
            None if header is None else header.find(f"{{{WSSE}}}Security/{{{WSSE}}}UsernameToken")
        )
        if token is None:
            raise refused
        username = token.findtext(f"{{{WSSE}}}Username", "")
        password = token.find(f"{{{WSSE}}}Password")
        nonce = token.findtext(f"{{{WSSE}}}Nonce", "")
        created = token.findtext(f"{{{WSU}}}Created", "")
        if password is None or not password.get("Type", "").endswith("#PasswordDigest"):
            raise refused
        moment = _parse_datetime(created)
        if moment is None or abs((moment - self.now()).total_seconds()) > self.token_window:
            raise refused
        try:
            raw_nonce = base64.b64decode(nonce, validate=True)
        except ValueError as exc:
            raise refused from exc
        expected = base64.b64encode(
            hashlib.sha1(raw_nonce + created.encode() + self.password.encode()).digest()
        ).decode()
        with self._state:
            replayed = nonce in self._nonces
            self._nonces.add(nonce)
        if (
            username != self.user
            or replayed
            or not hmac.compare_digest(expected, (password.text or "").strip())
        ):
            raise refused

    def _check_addressing(self, header: ET.Element | None, operation: str, path: str) -> None:
        """Refuse a message without WS-Addressing Action, MessageID and To (or with wrong ones)."""

        def value(name: str) -> str:
            found = None if header is None else header.findtext(f"{{{WSA}}}{name}")
            return (found or "").strip()

        action, message_id, to = value("Action"), value("MessageID"), value("To")
        problem = None
        if not (action and message_id and to):
            missing = [
                n for n, v in (("Action", action), ("MessageID", message_id), ("To", to)) if not v
            ]
            problem = (
                "A required header representing a Message Addressing Property is not present: "
                + ", ".join(missing)
            )
        elif action != WSA_ACTIONS.get(operation, action):
            problem = f"The action {action} is not {operation}"
        elif to.split("?", 1)[0] != f"{self.base}{path}":
            problem = f"The message is addressed to {to}, not to this subscription"
        if problem is not None:
            self.wsa_refusals += 1
            raise SoapFault(400, "env:Sender", "wsa:MessageAddressingHeaderRequired", problem)

    def _op_GetSystemDateAndTime(self, request: ET.Element, header: ET.Element | None) -> str:
        now = self.now()
        return render(
            "get_system_date_and_time.xml",
            year=now.year,
            month=now.month,
            day=now.day,
            hour=now.hour,
            minute=now.minute,
            second=now.second,
        )

    def _op_GetDeviceInformation(self, request: ET.Element, header: ET.Element | None) -> str:
        return render("get_device_information.xml")

    def _op_GetCapabilities(self, request: ET.Element, header: ET.Element | None) -> str:
        return render("get_capabilities.xml", base=self.base)

    def _op_GetServices(self, request: ET.Element, header: ET.Element | None) -> str:
        return render("get_services.xml", base=self.base)

    def _op_GetScopes(self, request: ET.Element, header: ET.Element | None) -> str:
        items = "".join(render("scope_item.xml", definition=d, item=i) for d, i in self.scopes())
        return render("get_scopes.xml", raw={"scopes": items})

    def scopes(self) -> list[tuple[str, str]]:
        return [
            ("Fixed", "onvif://www.onvif.org/type/video_encoder"),
            ("Fixed", "onvif://www.onvif.org/Profile/Streaming"),
            ("Fixed", "onvif://www.onvif.org/hardware/AC-4KB-IR"),
            ("Configurable", f"onvif://www.onvif.org/name/{quote('Fake Camera')}"),
        ] + [
            ("Configurable", f"onvif://www.onvif.org/location/{quote(where)}")
            for where in self.locations
        ]

    def _op_GetHostname(self, request: ET.Element, header: ET.Element | None) -> str:
        return render("get_hostname.xml", name=self.hostname)

    def _op_GetProfiles(self, request: ET.Element, header: ET.Element | None) -> str:
        return render("get_profiles.xml")

    def _profile_token(self, request: ET.Element) -> str:
        token = request.findtext(f"{{{MEDIA}}}ProfileToken", "").strip()
        if token not in PROFILES:
            raise SoapFault(400, "env:Sender", "ter:InvalidArgVal", f"No such profile: {token}")
        return token

    def _op_GetStreamUri(self, request: ET.Element, header: ET.Element | None) -> str:
        token = self._profile_token(request)
        setup = request.find(f"{{{MEDIA}}}StreamSetup")
        stream = "" if setup is None else setup.findtext(f"{{{SCHEMA}}}Stream", "")
        protocol = (
            ""
            if setup is None
            else setup.findtext(f"{{{SCHEMA}}}Transport/{{{SCHEMA}}}Protocol", "")
        )
        if (stream, protocol) != ("RTP-Unicast", "RTSP"):
            raise SoapFault(
                400,
                "env:Sender",
                "ter:InvalidArgVal",
                f"Unsupported stream setup {stream}/{protocol}",
            )
        return render("get_stream_uri.xml", uri=self.stream_uris[token])

    def _op_GetSnapshotUri(self, request: ET.Element, header: ET.Element | None) -> str:
        self._profile_token(request)
        return render("get_snapshot_uri.xml", uri=f"{self.base}/snapshot.jpg")

    # -- events -------------------------------------------------------------------------------

    def _termination(self, text: str | None, now: datetime) -> datetime:
        """The termination time granted for a requested one (a duration or an absolute time)."""
        seconds = self.max_termination
        if text and text.strip():
            duration = parse_duration(text)
            moment = None if duration is not None else _parse_datetime(text)
            if duration is None and moment is None:
                raise SoapFault(
                    400, "env:Sender", "ter:InvalidArgVal", f"Bad termination time {text}"
                )
            requested = (
                duration if duration is not None else ((moment or now) - now).total_seconds()
            )
            seconds = max(1.0, min(requested, self.max_termination))
        return now + timedelta(seconds=seconds)

    def _op_CreatePullPointSubscription(
        self, request: ET.Element, header: ET.Element | None
    ) -> str:
        now = self.now()
        termination = self._termination(
            request.findtext(f"{{{EVENTS}}}InitialTerminationTime"), now
        )
        subscription = _Subscription(str(next(self._ids)), termination)
        # Cameras start every subscription with the current state of each property.
        for topic, name, state, rule in (
            (MOTION_TOPIC, "IsMotion", self.motion, "MyMotionDetectorRule"),
            (TAMPER_TOPIC, "IsTamper", self.tamper, "MyTamperDetectorRule"),
        ):
            source = {**RULE_SOURCE, "Rule": rule}
            subscription.queue.append(
                _notification(topic, {name: _xsd_bool(state)}, source, "Initialized", now)
            )
        with self._state:
            self.subscriptions[subscription.id] = subscription
        return render(
            "create_pull_point_subscription.xml",
            address=f"{self.base}/onvif/subscription",
            subscription_id=subscription.id,
            current=xsd_datetime(now),
            termination=xsd_datetime(termination),
        )

    def _subscription(self, header: ET.Element | None) -> _Subscription:
        wanted = None if header is None else header.findtext(f"{{{AXIS_EVENT}}}SubscriptionId")
        with self._state:
            subscription = self.subscriptions.get((wanted or "").strip())
            if subscription is not None and subscription.termination < self.now():
                del self.subscriptions[subscription.id]
                subscription = None
        if subscription is None:
            raise SoapFault(
                400, "env:Sender", "wsrf-r:ResourceUnknownFault", f"No subscription {wanted}"
            )
        return subscription

    def _op_PullMessages(self, request: ET.Element, header: ET.Element | None) -> str:
        subscription = self._subscription(header)
        wait = min(
            parse_duration(request.findtext(f"{{{EVENTS}}}Timeout", "")) or 0.0, MAX_LONG_POLL
        )
        limit = int(request.findtext(f"{{{EVENTS}}}MessageLimit", "") or "1")
        released = self._released
        with self._state:
            self._state.wait_for(
                lambda: (
                    bool(subscription.queue)
                    or self.subscriptions.get(subscription.id) is not subscription
                    or released.is_set()
                ),
                timeout=wait,
            )
            if self.subscriptions.get(subscription.id) is not subscription:
                raise SoapFault(
                    400, "env:Sender", "wsrf-r:ResourceUnknownFault", "Subscription was deleted"
                )
            messages, subscription.queue[:] = subscription.queue[:limit], subscription.queue[limit:]
        return render(
            "pull_messages.xml",
            raw={"messages": "".join(messages)},
            current=xsd_datetime(self.now()),
            termination=xsd_datetime(subscription.termination),
        )

    def _op_Renew(self, request: ET.Element, header: ET.Element | None) -> str:
        subscription = self._subscription(header)
        now = self.now()
        subscription.termination = self._termination(
            request.findtext(f"{{{WSNT}}}TerminationTime"), now
        )
        self.renewals += 1
        return render(
            "renew.xml",
            current=xsd_datetime(now),
            termination=xsd_datetime(subscription.termination),
        )

    def _op_Unsubscribe(self, request: ET.Element, header: ET.Element | None) -> str:
        subscription = self._subscription(header)
        with self._state:
            self.subscriptions.pop(subscription.id, None)
            self._state.notify_all()
        self.unsubscribed += 1
        return render("unsubscribe.xml")

    # -- snapshot (HTTP authentication) -------------------------------------------------------

    def http_challenge(self) -> str:
        if self.snapshot_auth == "basic":
            return 'Basic realm="fake-onvif"'
        nonce = secrets.token_hex(16)
        with self._state:
            self._http_nonces.add(nonce)
        return f'Digest realm="fake-onvif", qop="auth", nonce="{nonce}", algorithm=MD5'

    def http_authorized(self, method: str, authorization: str | None) -> bool:
        if not authorization:
            return False
        scheme, _, rest = authorization.partition(" ")
        if self.snapshot_auth == "basic":
            expected = base64.b64encode(f"{self.user}:{self.password}".encode()).decode()
            return scheme.lower() == "basic" and hmac.compare_digest(rest.strip(), expected)
        if scheme.lower() != "digest":
            return False
        fields = {k: v1 or v2 for k, v1, v2 in re.findall(r'(\w+)=(?:"([^"]*)"|([^,\s]*))', rest)}
        if fields.get("username") != self.user or fields.get("nonce") not in self._http_nonces:
            return False

        def md5(text: str) -> str:
            return hashlib.md5(text.encode()).hexdigest()

        ha1 = md5(f"{self.user}:fake-onvif:{self.password}")
        ha2 = md5(f"{method}:{fields.get('uri', '')}")
        parts = [
            ha1,
            fields["nonce"],
            fields.get("nc", ""),
            fields.get("cnonce", ""),
            fields.get("qop", ""),
            ha2,
        ]
        return hmac.compare_digest(md5(":".join(parts)), fields.get("response", ""))

    # -- WS-Discovery -------------------------------------------------------------------------

    def probe_reply(self, data: bytes) -> bytes | None:
        """The ProbeMatches answer to a Probe datagram, or None if the probe is not for us."""
        try:
            root = ET.fromstring(data)
        except ET.ParseError:
            return None
        probe = root.find(f"{{{SOAP_ENV}}}Body/{{{WSD}}}Probe")
        if probe is None:
            return None
        types = probe.findtext(f"{{{WSD}}}Types", "").split()
        if types and not any(t.rsplit(":", 1)[-1] == "NetworkVideoTransmitter" for t in types):
            return None
        message_id = root.findtext(f"{{{SOAP_ENV}}}Header/{{{WSA_2004}}}MessageID", "").strip()
        return render(
            "probe_matches.xml",
            message_id=f"urn:uuid:{secrets.token_hex(4)}-0000-4000-8000-{secrets.token_hex(6)}",
            relates_to=message_id,
            endpoint=self.endpoint_reference,
            scopes=" ".join(item for _, item in self.scopes()),
            xaddrs=self.xaddr,
        ).encode()

    def _discovery_loop(self) -> None:
        while not self._stopping.is_set():
            try:
                data, sender = self._udp.recvfrom(65535)
            except TimeoutError:
                continue
            except OSError:
                return
            mode = self.fault_mode if self.discovery_faulty else None
            if mode == "hang":
                continue
            reply = GARBAGE if mode == "garbage" else self.probe_reply(data)
            if reply is not None:
                self._udp.sendto(reply, sender)


def _xsd_bool(value: bool) -> str:
    return "true" if value else "false"


def _notification(
    topic: str, data: dict[str, str], source: dict[str, str], operation: str, at: datetime
) -> str:
    def items(values: dict[str, str]) -> str:
        return "".join(render("simple_item.xml", name=k, value=v) for k, v in values.items())

    return render(
        "notification_message.xml",
        raw={"source_items": items(source), "data_items": items(data)},
        topic=topic,
        utc_time=xsd_datetime(at),
        operation=operation,
    )


def _make_jpeg() -> bytes:
    import cv2
    import numpy as np

    ramp = np.tile(np.linspace(0, 255, 64, dtype=np.uint8), (36, 1))
    image = np.dstack([ramp, ramp[::-1], np.full_like(ramp, 128)])
    ok, encoded = cv2.imencode(".jpg", image)
    assert ok
    return bytes(encoded.tobytes())


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(
        self,
        address: tuple[str, int],
        handler: type[BaseHTTPRequestHandler],
        device: FakeOnvifDevice,
    ) -> None:
        self.device = device
        super().__init__(address, handler)


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"
    timeout = 30  # an idle keep-alive connection does not hold a thread for ever

    def log_message(self, format: str, *args: object) -> None:
        log.debug("fake onvif %s: " + format, self.server.server_address[1], *args)

    def do_POST(self) -> None:
        device = self.server.device
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self._faulty(device):
            return
        if self.path.split("?", 1)[0] not in OPERATIONS:
            self._send(404, b"", "text/html")
            return
        status, envelope = device.handle_soap(self.path, body)
        self._send(status, envelope.encode(), "application/soap+xml; charset=utf-8")

    def do_GET(self) -> None:
        device = self.server.device
        device.calls.append(f"GET {self.path}")
        if self._faulty(device):
            return
        if self.path != "/snapshot.jpg":
            self._send(404, b"", "text/html")
        elif not device.http_authorized("GET", self.headers.get("Authorization")):
            self._send(401, b"", "text/html", {"WWW-Authenticate": device.http_challenge()})
        else:
            self._send(200, device.snapshot, device.snapshot_type)

    def _faulty(self, device: FakeOnvifDevice) -> bool:
        mode = device.fault_mode
        if mode == "hang":
            # Accept the request and never answer, like a camera whose web server has locked up.
            device._released.wait()
            self.close_connection = True
            return True
        if mode == "garbage":
            self._send(200, GARBAGE, "application/soap+xml")
            return True
        if mode == "huge":
            self._send_huge()
            return True
        return False

    def _send(
        self, status: int, body: bytes, content_type: str, headers: dict[str, str] | None = None
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def _send_huge(self) -> None:
        """A well-formed start of an envelope followed by tens of MB, with no Content-Length."""
        self.close_connection = True
        self.send_response(200)
        self.send_header("Content-Type", "application/soap+xml")
        self.send_header("Connection", "close")
        self.end_headers()
        chunk = b"<!--" + b"x" * (1024 * 1024 - 7) + b"-->"
        try:
            self.wfile.write(
                f'<?xml version="1.0"?><env:Envelope xmlns:env="{SOAP_ENV}"><env:Body>'.encode()
            )
            for _ in range(HUGE_BYTES // len(chunk)):
                self.wfile.write(chunk)
            self.wfile.write(b"</env:Body></env:Envelope>")
        except (BrokenPipeError, ConnectionResetError):
            log.debug(
                "fake onvif %s: client hung up on the huge answer", self.server.server_address[1]
            )
