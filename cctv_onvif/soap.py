"""The onvif-zeep / zeep boundary: the only module of ours that imports either.

- `LimitedTransport`: zeep's HTTP transport with a size limit and a total deadline on every
  answer, so that a camera sending tens of MB gives OnvifProtocolError instead of eating the site
  box's memory, and one dribbling bytes gives OnvifUnreachable instead of holding a thread.
- `SoapSession`: one camera's services with its credentials and clock offset. `call()` catches
  exactly the errors a zeep call can raise (`SOAP_CALL_ERRORS`) and turns them into OnvifAuthError,
  OnvifUnreachable, OnvifUnsupported, OnvifFault or OnvifProtocolError with a message naming the
  camera and its address; answers come back as plain dicts and lists (`serialize_object`).
- `SubscriptionChannel`: the SOAP side of one PullPoint subscription, with its own HTTP session so
  that a long poll does not hold the camera's other calls. Every message to the subscription
  (PullMessages, Renew, Unsubscribe) carries the WS-Addressing headers Action, MessageID and To
  (zeep's `WsAddressingPlugin`): ONVIF's subscription manager is a WS-Addressing endpoint, and
  real devices refuse a Renew without them (the agent then re-subscribed every 30 s).

Authentication is WS-UsernameToken PasswordDigest (plus HTTP digest for cameras that ask for it).
The camera's clock offset is applied to the token's Created time through onvif-zeep's `dt_diff`,
because cameras refuse tokens made more than a few seconds away from their own clock.
"""

from __future__ import annotations

import contextlib
import copy
import importlib
import logging
import os
import threading
import time
from collections.abc import Iterable, Iterator
from datetime import timedelta
from typing import Any

import requests
from lxml import etree
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
from zeep.wsa import WsAddressingPlugin

from cctv_onvif.http import HTTP_ERRORS, new_session, read_limited, translate_http
from cctv_onvif.parse import text
from cctv_onvif.types import (
    EVENTS_NS,
    MAX_MESSAGE,
    OnvifAuthError,
    OnvifError,
    OnvifFault,
    OnvifProtocolError,
    OnvifSettings,
    OnvifTarget,
    OnvifUnsupported,
    ServiceInfo,
)

log = logging.getLogger(__name__)


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

ONVIF_ERROR_NS = "http://www.onvif.org/ver10/error"
AUTH_SUBCODES = {"NotAuthorized", "FailedAuthentication", "InvalidSecurity", "InvalidSecurityToken"}
UNSUPPORTED_SUBCODES = {"ActionNotSupported", "NotSupported"}
KNOWN_NAMESPACES = frozenset(spec["ns"] for spec in ONVIF_SERVICES.values())

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
    *HTTP_ERRORS,
)


# -- faults ------------------------------------------------------------------------------------


def _qname_text(qname: Any) -> str:
    """A fault subcode (lxml QName, prefix lost) as ONVIF writes it: ter:NotAuthorized."""
    if getattr(qname, "namespace", None) == ONVIF_ERROR_NS:
        return f"ter:{qname.localname}"
    return text(getattr(qname, "localname", qname))


def describe_fault(fault: Fault) -> str:
    """A SOAP fault as one readable line: 'env:Sender/ter:NotAuthorized: Sender not Authorized'."""
    codes = [text(fault.code)] + [_qname_text(s) for s in fault.subcodes or []]
    reason = text(fault.message) or "no reason given"
    return f"{'/'.join(c for c in codes if c)}: {reason[:MAX_MESSAGE]}"


def fault_subcodes(fault: Fault) -> set[str]:
    return {_qname_text(s).rsplit(":", 1)[-1] for s in fault.subcodes or []}


def is_auth_fault(fault: Fault) -> bool:
    if fault_subcodes(fault) & AUTH_SUBCODES:
        return True
    reason = text(fault.message).lower()
    return "not authorized" in reason or "authentication" in reason or "unauthorized" in reason


def translate(exc: Exception, target: OnvifTarget, operation: str, timeout: float) -> OnvifError:
    """One of SOAP_CALL_ERRORS as our exception, with a message an engineer can act on."""
    where, camera_id = target.where, target.camera_id
    if isinstance(exc, Fault):
        if is_auth_fault(exc):
            refused = f"{operation} refused: {describe_fault(exc)}"
            return OnvifAuthError(f"wrong user or password for {where} ({refused})", camera_id)
        if fault_subcodes(exc) & UNSUPPORTED_SUBCODES:
            return OnvifUnsupported(
                f"{where} does not support {operation}: {describe_fault(exc)}", camera_id
            )
        return OnvifFault(f"{where} refused {operation}: {describe_fault(exc)}", camera_id)
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
    if isinstance(exc, HTTP_ERRORS):
        return translate_http(exc, target, operation, timeout)
    detail = str(exc)[:MAX_MESSAGE]
    return OnvifProtocolError(
        f"{where} sent malformed XML / an unexpected answer to {operation}: {detail}", camera_id
    )


# -- transport ---------------------------------------------------------------------------------


class LimitedTransport(Transport):
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
            body = read_limited(response, self.max_bytes, deadline, seconds)
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
    services) and opens a PullPoint subscription it never closes. SoapSession fills `xaddrs` from
    GetServices instead and sets `dt_diff` from the client's own clock measurement.
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


# -- one camera --------------------------------------------------------------------------------


class SoapSession:
    """onvif-zeep's services for one camera, safe to share between threads (calls serialised).

    Operations are called on zeep's service proxy (`ws_client`) rather than on onvif-zeep's
    wrapper, whose safe_func turns every error into ONVIFError('Unknown error: ...') and loses
    its type.
    """

    def __init__(self, target: OnvifTarget, settings: OnvifSettings) -> None:
        self.target = target
        self.settings = settings
        self.lock = threading.RLock()
        self.http = new_session(target)
        self._transport = LimitedTransport(self.http, settings.timeout, settings.max_response_bytes)
        self._camera: Any = None
        self._proxies: dict[str, Any] = {}

    def close(self) -> None:
        self.http.close()

    def _zeep_camera(self) -> Any:
        with self.lock:
            if self._camera is None:
                try:
                    self._camera = _ZeepCamera(self.target, self._transport)
                except _ONVIFError as exc:
                    raise OnvifError(
                        f"cannot set up ONVIF for {self.target.where}: {exc}", self.target.camera_id
                    ) from exc
            return self._camera

    @property
    def xaddrs(self) -> dict[str, str]:
        """Service addresses by namespace, for the services onvif-zeep has clients for."""
        return dict(self._zeep_camera().xaddrs)

    def set_services(self, services: Iterable[ServiceInfo]) -> None:
        """Fill onvif-zeep's service addresses (from GetServices or GetCapabilities)."""
        with self.lock:
            camera = self._zeep_camera()
            for service in services:
                if service.namespace in KNOWN_NAMESPACES:
                    camera.xaddrs[service.namespace] = service.xaddr

    def apply_offset(self, offset: float) -> None:
        """Make every later WS-UsernameToken on the camera's clock (camera - agent seconds)."""
        with self.lock:
            camera = self._zeep_camera()
            current = camera.dt_diff.total_seconds() if camera.dt_diff is not None else None
            if current is None or abs(current - offset) >= 0.5:
                camera.dt_diff = timedelta(seconds=offset)
                # Tokens carry the offset from when their service was built: build them again.
                self._proxies = {k: v for k, v in self._proxies.items() if k == "anonymous"}

    def _proxy(self, name: str) -> Any:
        with self.lock:
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
                    raise OnvifError(
                        f"cannot set up the ONVIF {name} service: {exc}", self.target.camera_id
                    ) from exc
                self._proxies[name] = service.ws_client
            return self._proxies[name]

    def _anonymous_device_proxy(self) -> Any:
        with self.lock:
            if "anonymous" not in self._proxies:
                camera = self._zeep_camera()
                xaddr, wsdl, binding = camera.get_definition("devicemgmt")
                service = self._service(xaddr, wsdl, binding, self._transport, "", "", None)
                service.zeep_client.wsse = None
                self._proxies["anonymous"] = service.ws_client
            return self._proxies["anonymous"]

    def _service(
        self,
        xaddr: str,
        wsdl: str,
        binding: str,
        transport: Transport,
        user: str,
        password: str,
        dt_diff: timedelta | None,
    ) -> Any:
        try:
            return _ONVIFService(
                xaddr,
                user,
                password,
                wsdl,
                no_cache=True,
                dt_diff=dt_diff,
                binding_name=binding,
                transport=transport,
            )
        except _ONVIFError as exc:
            raise OnvifError(
                f"cannot set up the ONVIF service at {xaddr}: {exc}", self.target.camera_id
            ) from exc

    def build_service(
        self, name: str, xaddr: str, transport: Transport, binding: str | None = None
    ) -> tuple[Any, Any]:
        """(zeep client, service proxy) for a service at an address of our choosing, with the
        camera's credentials and clock offset (used for PullPoint subscriptions)."""
        camera = self._zeep_camera()
        spec = ONVIF_SERVICES[name]
        service = self._service(
            xaddr,
            os.path.join(camera.wsdl_dir, spec["wsdl"]),
            binding or f"{{{spec['ns']}}}{spec['binding']}",
            transport,
            self.target.user,
            self.target.password,
            camera.dt_diff,
        )
        if not self.target.user:
            service.zeep_client.wsse = None
        return service.zeep_client, service.ws_client

    # -- calling --------------------------------------------------------------------------

    def invoke(self, proxy: Any, operation: str, **params: Any) -> Any:
        """Call one operation on a proxy, turning every error it can raise into an OnvifError;
        the answer as plain dicts and lists."""
        try:
            return serialize_object(getattr(proxy, operation)(**params))
        except SOAP_CALL_ERRORS as exc:
            raise translate(exc, self.target, operation, self.settings.timeout) from exc

    def call(self, service: str, operation: str, **params: Any) -> Any:
        """One operation of one of onvif-zeep's services ('devicemgmt', 'media', ...)."""
        with self.lock:
            return self.invoke(self._proxy(service), operation, **params)

    def call_anonymous(self, operation: str) -> Any:
        """One device service operation without WS-Security (GetSystemDateAndTime)."""
        with self.lock:
            return self.invoke(self._anonymous_device_proxy(), operation)

    def subscription_channel(self, read_timeout: float) -> SubscriptionChannel:
        return SubscriptionChannel(self, read_timeout)


def _duration(seconds: float) -> str:
    """An xsd:duration (zeep sends a timedelta in a union-typed element as str(timedelta))."""
    return f"PT{max(1, round(seconds))}S"


class SubscriptionChannel:
    """The SOAP side of one PullPoint subscription: create, pull, renew, unsubscribe.

    It has its own HTTP session, so that a PullMessages long poll does not hold the camera's
    SoapSession lock, and a read timeout (`read_timeout`) that outlasts the long poll.
    """

    def __init__(self, soap: SoapSession, read_timeout: float) -> None:
        self.soap = soap
        self._session = new_session(soap.target)
        self._transport = LimitedTransport(
            self._session, read_timeout, soap.settings.max_response_bytes
        )
        self._envelope = _KeepEnvelope()
        self._pull_proxy: Any = None
        self._manager_proxy: Any = None
        self._reference: list[Any] = []

    def _headers(self) -> list[Any]:
        # WS-Addressing: reference parameters of the subscription go back as SOAP headers. lxml
        # moves an element appended elsewhere, so each request gets copies.
        return [copy.deepcopy(element) for element in self._reference]

    def create(self, termination: float) -> Any:
        """CreatePullPointSubscription; the answer as plain dicts (see parse_subscription)."""
        xaddr = self.soap.xaddrs.get(EVENTS_NS)
        if not xaddr:
            raise OnvifUnsupported(
                f"{self.soap.target.where} offers no events service", self.soap.target.camera_id
            )
        _client, events = self.soap.build_service("events", xaddr, self._transport)
        return self.soap.invoke(
            events, "CreatePullPointSubscription", InitialTerminationTime=_duration(termination)
        )

    def attach(self, address: str, reference: list[Any]) -> None:
        """Use the subscription at `address` with its reference parameters (from create())."""
        self._reference = reference
        zeep_client, self._pull_proxy = self.soap.build_service(
            "pullpoint", address, self._transport
        )
        zeep_client.plugins.extend([self._envelope, WsAddressingPlugin()])
        manager_binding = f"{{{EVENTS_NS}}}SubscriptionManagerBinding"
        manager_client, self._manager_proxy = self.soap.build_service(
            "events", address, self._transport, binding=manager_binding
        )
        # Action from the WSDL (the WS-N default for Renew and Unsubscribe), a fresh MessageID,
        # To = the subscription's address.
        manager_client.plugins.append(WsAddressingPlugin())

    def pull(self, timeout: float, limit: int) -> Any:
        """PullMessages; the answer's envelope as an lxml element (see parse_pull_messages)."""
        if self._pull_proxy is None:
            raise RuntimeError("pull() before attach()")
        self._envelope.envelope = None
        self.soap.invoke(
            self._pull_proxy,
            "PullMessages",
            Timeout=timedelta(seconds=timeout),
            MessageLimit=limit,
            _soapheaders=self._headers(),
        )
        return self._envelope.envelope

    def renew(self, termination: float) -> Any:
        """Renew; the answer as plain dicts (CurrentTime, TerminationTime)."""
        if self._manager_proxy is None:
            raise RuntimeError("renew() before attach()")
        return self.soap.invoke(
            self._manager_proxy,
            "Renew",
            TerminationTime=_duration(termination),
            _soapheaders=self._headers(),
        )

    def unsubscribe(self) -> None:
        if self._manager_proxy is not None:
            proxy, self._manager_proxy, self._pull_proxy = self._manager_proxy, None, None
            self.soap.invoke(proxy, "Unsubscribe", _soapheaders=self._headers())

    def close(self) -> None:
        self._session.close()
