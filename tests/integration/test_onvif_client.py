"""The ONVIF client against the fake camera over real HTTP, and its pure parts on recorded XML."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import logging
import os
import re
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

import pytest

from cctv_common.uris import with_credentials
from cctv_onvif import (
    AsyncOnvifClient,
    EventSettings,
    EventStream,
    MediaProfile,
    OnvifAuthError,
    OnvifClient,
    OnvifError,
    OnvifEvent,
    OnvifProfileError,
    OnvifProtocolError,
    OnvifSettings,
    OnvifTarget,
    OnvifUnreachable,
    OnvifUnsupported,
    SubscriptionState,
    choose_profile,
    classify_event,
    parse_pull_messages_xml,
)
from tests.support.onvif_device import FIXTURES, FakeOnvifDevice
from tests.support.paths import REPO

RECORDING = "http://www.onvif.org/ver10/recording/wsdl"
SEARCH = "http://www.onvif.org/ver10/search/wsdl"
REPLAY = "http://www.onvif.org/ver10/replay/wsdl"
EVENTS = "http://www.onvif.org/ver10/events/wsdl"
# Short, so that the fault tests are quick; the fake camera answers in milliseconds.
FAST = OnvifSettings(timeout=1.0)
# Generous guard so that a broken test fails instead of hanging; not a measure of anything.
GUARD = 30.0


def target(device: FakeOnvifDevice, password: str | None = None) -> OnvifTarget:
    pw = device.password if password is None else password
    return OnvifTarget("cam-1", device.host, device.port, device.user, pw)


def client(device: FakeOnvifDevice, **kwargs: object) -> OnvifClient:
    return OnvifClient(target(device, **kwargs), FAST)  # type: ignore[arg-type]


# -- operations ----------------------------------------------------------------------------


def test_device_information(onvif_device: FakeOnvifDevice) -> None:
    with client(onvif_device) as onvif:
        info = onvif.get_device_information()
    assert info.manufacturer == "Acme Security Ltd."
    assert info.model == "AC-4KB-IR"
    assert info.firmware == "V5.7.3 build 220112"
    assert info.serial == "AC4KB0120220315AAWRJ12345678"
    assert info.hardware_id == "88"


@pytest.mark.parametrize("skew", [0.0, 3600.0, -137.0])
def test_clock_offset_is_measured_and_applied_to_tokens(
    onvif_device: FakeOnvifDevice, skew: float
) -> None:
    onvif_device.set_clock_skew(skew)
    with client(onvif_device) as onvif:
        reading = onvif.get_system_date_and_time()
        # The camera reports whole seconds, read at some moment within the round trip (taken as
        # its middle): the offset is good to about a second plus half the round trip, which is
        # milliseconds here, and seconds when the machine is busy (7.7 s seen in a full run).
        assert abs(reading.offset_seconds - skew) < 1.5 + reading.round_trip_seconds / 2
        assert reading.camera_utc.tzinfo is not None and reading.agent_utc.tzinfo is not None
        # Accepted only because the token's Created is on the camera's clock (window: 5 s).
        assert onvif.get_device_information().model == "AC-4KB-IR"


def _raw_soap(device: FakeOnvifDevice, created: datetime, password: str) -> tuple[int, str]:
    """A GetDeviceInformation with a hand-made UsernameToken, to check the fake camera itself."""
    nonce = os.urandom(16)
    stamp = created.strftime("%Y-%m-%dT%H:%M:%SZ")
    digest = base64.b64encode(
        hashlib.sha1(nonce + stamp.encode() + password.encode()).digest()
    ).decode()
    oasis = "http://docs.oasis-open.org/wss/2004/01/oasis-200401"
    envelope = (
        '<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" '
        f'xmlns:wsse="{oasis}-wss-wssecurity-secext-1.0.xsd" '
        f'xmlns:wsu="{oasis}-wss-wssecurity-utility-1.0.xsd">'
        "<s:Header><wsse:Security><wsse:UsernameToken>"
        f"<wsse:Username>{device.user}</wsse:Username>"
        '<wsse:Password Type="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-'
        f'profile-1.0#PasswordDigest">{digest}</wsse:Password>'
        f"<wsse:Nonce>{base64.b64encode(nonce).decode()}</wsse:Nonce>"
        f"<wsu:Created>{stamp}</wsu:Created>"
        "</wsse:UsernameToken></wsse:Security></s:Header>"
        '<s:Body><GetDeviceInformation xmlns="http://www.onvif.org/ver10/device/wsdl"/></s:Body>'
        "</s:Envelope>"
    )
    request = urllib.request.Request(
        device.xaddr, envelope.encode(), {"Content-Type": "application/soap+xml"}, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def test_fake_camera_checks_the_digest_and_refuses_a_token_on_the_agents_clock(
    onvif_device: FakeOnvifDevice,
) -> None:
    status, body = _raw_soap(onvif_device, onvif_device.now(), onvif_device.password)
    assert status == 200 and "AC-4KB-IR" in body
    status, body = _raw_soap(onvif_device, onvif_device.now(), "wrong")
    assert status == 400 and "ter:NotAuthorized" in body
    onvif_device.set_clock_skew(600)
    status, body = _raw_soap(onvif_device, datetime.now(UTC), onvif_device.password)
    assert status == 400 and "ter:NotAuthorized" in body


def test_services_fill_the_addresses_onvif_zeep_misses(onvif_device: FakeOnvifDevice) -> None:
    with client(onvif_device) as onvif:
        services = {s.namespace: s for s in onvif.get_services()}
        xaddrs = onvif.xaddrs
    assert services[EVENTS].xaddr == f"{onvif_device.base}/onvif/events_service"
    assert services[EVENTS].version == "17.12"
    for namespace, path in ((RECORDING, "recording"), (SEARCH, "search"), (REPLAY, "replay")):
        assert xaddrs[namespace] == f"{onvif_device.base}/onvif/{path}_service"
    # Media2 is listed but onvif-zeep has no client for it, so it is not among its addresses.
    assert "http://www.onvif.org/ver20/media/wsdl" in services
    assert "http://www.onvif.org/ver20/media/wsdl" not in xaddrs


def test_capabilities_stand_in_for_get_services_on_old_cameras(
    onvif_device: FakeOnvifDevice,
) -> None:
    onvif_device.unsupported.add("GetServices")
    with client(onvif_device) as onvif:
        services = {s.namespace: s.xaddr for s in onvif.get_services()}
        # Recording, search and replay sit under Extension in GetCapabilities.
        assert services[RECORDING] == f"{onvif_device.base}/onvif/recording_service"
        assert services[REPLAY] == f"{onvif_device.base}/onvif/replay_service"
        assert onvif.get_stream_uri("main").profile_token == "Profile_1"
    assert onvif_device.count("GetCapabilities") == 1


def test_profiles_and_main_sub_choice(onvif_device: FakeOnvifDevice) -> None:
    with client(onvif_device) as onvif:
        profiles = onvif.get_profiles()
    assert [p.token for p in profiles] == ["Profile_1", "Profile_2", "Profile_Audio"]
    main, sub, audio = profiles
    assert (main.encoding, main.width, main.height, main.fps) == ("H264", 1920, 1080, 25.0)
    assert (sub.encoding, sub.width, sub.height) == ("H264", 640, 360)
    assert audio.encoding is None and audio.width is None
    assert choose_profile(profiles, "main") == main
    assert choose_profile(profiles, "sub") == sub
    assert choose_profile(profiles, "Profile_2") == sub
    assert choose_profile(profiles, "nope") is None


def test_choose_profile_on_ties_and_cameras_without_video() -> None:
    a = MediaProfile("a", "", "H264", 1280, 720, 25.0)
    b = MediaProfile("b", "", "H265", 1280, 720, 30.0)
    c = MediaProfile("c", "", "H264", 1280, 720, 25.0)
    assert choose_profile([a, b, c], "main") == b  # more frames per second
    assert choose_profile([a, c], "main") == a  # the camera's first
    assert choose_profile([a, c], "sub") == a
    assert choose_profile([MediaProfile("x", "", None, None, None, None)], "main") is None


def test_stream_uris(onvif_device: FakeOnvifDevice) -> None:
    onvif_device.set_stream_uri("Profile_1", "rtsp://127.0.0.1:8554/main")
    onvif_device.set_stream_uri("Profile_2", "rtsp://127.0.0.1:8554/sub")
    with client(onvif_device) as onvif:
        main = onvif.get_stream_uri("main")
        sub = onvif.get_stream_uri("sub")
        by_token = onvif.get_stream_uri("Profile_2")
        with pytest.raises(
            OnvifProfileError, match=r"no media profile 'third'.*Profile_1, Profile_2"
        ):
            onvif.get_stream_uri("third")
    assert (main.profile_token, main.uri) == ("Profile_1", "rtsp://127.0.0.1:8554/main")
    assert (sub.profile_token, sub.uri) == ("Profile_2", "rtsp://127.0.0.1:8554/sub")
    assert by_token == sub
    assert main.invalid_after_connect is False


@pytest.mark.parametrize("scheme", ["digest", "basic"])
def test_snapshot(onvif_device_factory: Callable[..., FakeOnvifDevice], scheme: str) -> None:
    device = onvif_device_factory(snapshot_auth=scheme)
    with client(device) as onvif:
        assert onvif.get_snapshot_uri("sub") == f"{device.base}/snapshot.jpg"
        image = onvif.fetch_snapshot("main")
    assert image == device.snapshot and image.startswith(b"\xff\xd8")
    assert device.count("GET /snapshot.jpg") == 2  # challenged, then answered


def test_snapshot_that_is_not_a_jpeg(onvif_device: FakeOnvifDevice) -> None:
    onvif_device.snapshot = b"<html>login</html>"
    with client(onvif_device) as onvif, pytest.raises(OnvifProtocolError, match="not a JPEG"):
        onvif.fetch_snapshot()


def test_scopes(onvif_device: FakeOnvifDevice) -> None:
    with client(onvif_device) as onvif:
        scopes = onvif.get_scopes()
    assert "onvif://www.onvif.org/name/Fake%20Camera" in scopes


def test_async_client(onvif_device: FakeOnvifDevice) -> None:
    onvif_device.set_clock_skew(42)

    async def run() -> None:
        onvif = AsyncOnvifClient(target(onvif_device), FAST)
        try:
            await onvif.connect()
            assert onvif.clock is not None and abs(onvif.clock.offset_seconds - 42) < 1.5
            assert (await onvif.get_device_information()).serial.startswith("AC4KB")
            assert len(await onvif.get_profiles()) == 3
            assert (await onvif.get_stream_uri("sub")).profile_token == "Profile_2"
            assert (await onvif.fetch_snapshot("sub")).startswith(b"\xff\xd8")
        finally:
            await onvif.aclose()

    asyncio.run(asyncio.wait_for(run(), GUARD))


# -- events --------------------------------------------------------------------------------


async def _next_matching(stream: EventStream, wanted: Callable[[OnvifEvent], bool]) -> OnvifEvent:
    async for event in stream:
        if wanted(event):
            return event
    raise AssertionError("the event stream ended")


def _with_guard(coroutine: Awaitable[None]) -> None:
    async def guarded() -> None:
        await asyncio.wait_for(coroutine, GUARD)

    asyncio.run(guarded())


def test_pullpoint_motion_event_and_renewal(onvif_device: FakeOnvifDevice) -> None:
    onvif_device.max_termination = 2.0  # the camera grants 2 s, so renewal comes after 1 s

    async def run() -> None:
        onvif = AsyncOnvifClient(target(onvif_device), FAST)
        async with onvif.events(EventSettings(pull_timeout=0.5)) as stream:
            initial = await _next_matching(stream, lambda e: e.kind == "motion")
            assert (initial.property_operation, initial.active) == ("Initialized", False)
            onvif_device.push_motion(True)
            motion = await _next_matching(stream, lambda e: e.kind == "motion" and e.active)
            assert motion.topic == "tns1:RuleEngine/CellMotionDetector/Motion"
            assert motion.data == {"IsMotion": "true"}
            assert motion.source["Rule"] == "MyMotionDetectorRule"
            assert motion.property_operation == "Changed" and motion.utc_time is not None
            onvif_device.push_tamper(True)
            tamper = await _next_matching(stream, lambda e: e.kind == "tamper" and e.active)
            assert tamper.data == {"IsTamper": "true"}
            while stream.renewals < 2:
                await stream.step()
            assert stream.state is SubscriptionState.PULLING
            assert stream.restarts == 0
        assert stream.state is SubscriptionState.CLOSED
        await onvif.aclose()

    _with_guard(run())
    assert onvif_device.renewals >= 2
    assert onvif_device.count("CreatePullPointSubscription") == 1
    assert onvif_device.unsubscribed == 1 and not onvif_device.subscriptions


def test_pullpoint_is_restarted_when_the_camera_forgets_it(onvif_device: FakeOnvifDevice) -> None:
    async def run() -> None:
        onvif = AsyncOnvifClient(target(onvif_device), FAST)
        settings = EventSettings(pull_timeout=0.3, backoff_initial=0.05)
        async with onvif.events(settings) as stream:
            await _next_matching(stream, lambda e: e.kind == "tamper")
            onvif_device.drop_subscriptions()  # as after a reboot
            while stream.restarts == 0:
                await stream.step()
            onvif_device.push_motion(True)
            event = await _next_matching(stream, lambda e: e.kind == "motion" and e.active)
            assert event.property_operation in ("Initialized", "Changed")
        await onvif.aclose()

    _with_guard(run())
    assert onvif_device.count("CreatePullPointSubscription") == 2


def test_recorded_pull_messages_are_classified() -> None:
    batch = parse_pull_messages_xml((FIXTURES / "pull_messages_captured.xml").read_bytes())
    kinds = [(e.topic.split("/")[-1], e.kind, e.active) for e in batch.events]
    assert kinds == [
        ("MotionAlarm", "motion", False),
        ("Motion", "motion", True),
        ("Tamper", "tamper", True),
        ("tnsaxis:Tampering", "tamper", True),
        ("ImagingService", "other", False),
        ("LastReboot", "other", False),
    ]
    assert batch.events[1].utc_time == datetime(2025, 4, 18, 20, 34, 7, 250000, tzinfo=UTC)
    assert batch.termination_time == datetime(2025, 4, 18, 20, 35, 5, tzinfo=UTC)
    assert len(batch.problems) == 1  # the vendor payload without tt:Message is skipped


def test_classify_event() -> None:
    assert classify_event("tns1:RuleEngine/CellMotionDetector/Motion", {"IsMotion": "true"}) == (
        "motion",
        True,
    )
    assert classify_event("tns1:VideoSource/GlobalSceneChange/ImagingService", {"State": "1"}) == (
        "tamper",
        True,
    )
    assert classify_event("tns1:Device/Trigger/DigitalInput", {"LogicalState": "false"}) == (
        "other",
        False,
    )
    assert classify_event("tns1:Monitoring/ProcessorUsage", {"Value": "12.5"}) == ("other", False)


# -- faults --------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [400, 401])
def test_wrong_password(onvif_device: FakeOnvifDevice, status: int) -> None:
    onvif_device.auth_fault_status = status
    with (
        client(onvif_device, password="not-the-password") as onvif,
        pytest.raises(OnvifAuthError) as caught,
    ):
        onvif.get_device_information()
    message = str(caught.value)
    assert message.startswith(
        f"wrong user or password for camera cam-1 at 127.0.0.1:{onvif_device.port}"
    )
    assert "env:Sender/ter:NotAuthorized: Sender not Authorized" in message
    assert caught.value.camera_id == "cam-1"


def test_operation_the_camera_does_not_support(onvif_device: FakeOnvifDevice) -> None:
    onvif_device.unsupported.add("GetProfiles")
    with client(onvif_device) as onvif, pytest.raises(OnvifUnsupported) as caught:
        onvif.get_stream_uri("main")
    assert "does not support GetProfiles: env:Receiver/ter:ActionNotSupported" in str(caught.value)


def test_camera_that_hangs(onvif_device: FakeOnvifDevice) -> None:
    onvif_device.set_fault_mode("hang")
    with (
        client(onvif_device) as onvif,
        pytest.raises(OnvifUnreachable, match=r"cam-1 at .* does not answer"),
    ):
        onvif.get_device_information()

    async def run() -> None:
        onvif = AsyncOnvifClient(target(onvif_device), FAST)
        with pytest.raises(OnvifUnreachable):
            await onvif.get_profiles()
        await onvif.aclose()

    _with_guard(run())


def test_camera_that_stops_answering_after_connecting(onvif_device: FakeOnvifDevice) -> None:
    with client(onvif_device) as onvif:
        onvif.connect()
        onvif_device.set_fault_mode("hang")
        with pytest.raises(OnvifUnreachable, match="no answer to GetProfiles within 1 s"):
            onvif.get_stream_uri("main")
        onvif_device.set_fault_mode(None)
        assert onvif.get_stream_uri("main").profile_token == "Profile_1"


def test_garbage(onvif_device: FakeOnvifDevice) -> None:
    onvif_device.set_fault_mode("garbage")
    with client(onvif_device) as onvif, pytest.raises(OnvifProtocolError, match="malformed XML"):
        onvif.get_device_information()


def test_huge_answer(onvif_device: FakeOnvifDevice) -> None:
    onvif_device.set_fault_mode("huge")
    settings = OnvifSettings(timeout=5.0, max_response_bytes=1024 * 1024)
    with (
        OnvifClient(target(onvif_device), settings) as onvif,
        pytest.raises(OnvifProtocolError) as caught,
    ):
        onvif.get_device_information()
    assert "larger than 1048576 bytes" in str(caught.value)


def test_nothing_listening() -> None:
    with OnvifClient(OnvifTarget("cam-9", "127.0.0.1", 9, "u", "p"), FAST) as onvif:
        with pytest.raises(
            OnvifUnreachable, match=r"camera cam-9 at 127\.0\.0\.1:9 does not answer"
        ):
            onvif.get_device_information()


def test_passwords_stay_out_of_logs_and_reprs(
    onvif_device: FakeOnvifDevice, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    # Some cameras put credentials into the URIs they give out.
    secret_uri = with_credentials("rtsp://127.0.0.1/x", onvif_device.user, onvif_device.password)
    onvif_device.set_stream_uri("Profile_1", secret_uri)
    with client(onvif_device) as onvif:
        assert onvif.get_stream_uri("main").redacted == "rtsp://127.0.0.1/x"
    with (
        client(onvif_device, password="wrong-secret") as onvif,
        pytest.raises(OnvifError) as caught,
    ):
        onvif.get_profiles()
    encoded = secret_uri.split("@")[0].rsplit(":", 1)[-1]
    for secret in (onvif_device.password, encoded, "wrong-secret"):
        assert secret not in caplog.text
    assert "wrong-secret" not in str(caught.value)
    assert onvif_device.password not in repr(target(onvif_device))


def test_only_the_soap_module_imports_onvif_zeep() -> None:
    root = REPO
    pattern = re.compile(r"^\s*(from|import)\s+(onvif|zeep)\b", re.MULTILINE)
    importers = {
        str(path.relative_to(root))
        for folder in ("edge_agent", "provisioning", "hub", "cctv_common", "cctv_onvif", "devkit")
        for path in (root / folder).rglob("*.py")
        if pattern.search(path.read_text(encoding="utf-8"))
    }
    assert importers == {"cctv_onvif/soap.py"}
    soap = (root / "cctv_onvif/soap.py").read_text(encoding="utf-8")
    assert 'importlib.import_module("onvif.client")' in soap


def test_importing_the_client_leaves_logging_alone() -> None:
    code = "import logging, cctv_onvif; print(logging.getLogger().handlers)"
    root = REPO
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=root, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]"


# -- targets -----------------------------------------------------------------------------------


def test_target_from_discovered_xaddr() -> None:
    t = OnvifTarget.from_xaddr(
        "cam-2", "http://192.168.1.90:8080/onvif/device_service", "admin", "pw"
    )
    assert (t.host, t.port, t.scheme, t.where) == (
        "192.168.1.90",
        8080,
        "http",
        "camera cam-2 at 192.168.1.90:8080",
    )
    v6 = OnvifTarget.from_xaddr("cam-3", "https://[fe80::1]/onvif/device_service")
    assert (v6.host, v6.port, v6.scheme, v6.address) == ("fe80::1", 443, "https", "[fe80::1]:443")
    with pytest.raises(ValueError):
        OnvifTarget.from_xaddr("cam-4", "urn:uuid:1234")
