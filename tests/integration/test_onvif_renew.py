"""PullPoint Renew with WS-Addressing, as third-party devices demand, and no duplicate events.

A real device refused every Renew that lacked the WS-Addressing headers (MessageID, To, Action):
the agent then re-subscribed every 30 s, and each new subscription's "Initialized" motion state
was stored again. The fake camera now refuses such a Renew the same way; the agent renews
without re-subscribing and stores one event per motion.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from cctv_onvif import EventSettings, OnvifClient, OnvifSettings, OnvifTarget
from cctv_onvif.events import PullPoint
from devkit.waiting import until
from edge_agent.cameras.onvif_cameras import OnvifCameras
from edge_agent.config import AgentConfig
from edge_agent.store.segment_index import CameraEvent, SegmentIndex
from tests.support.onvif_device import WSA_ACTIONS, FakeOnvifDevice

FAST = OnvifSettings(timeout=2.0)
QUICK_EVENTS = EventSettings(pull_timeout=0.3, backoff_initial=0.1, backoff_max=0.5)
GUARD = 60.0  # safety limit for waits; nothing asserts on durations
OASIS = "http://docs.oasis-open.org/wss/2004/01/oasis-200401"
WSA = "http://www.w3.org/2005/08/addressing"
AXIS_EVENT = "http://www.axis.com/2009/event"


def _token(device: FakeOnvifDevice) -> str:
    nonce = os.urandom(16)
    stamp = device.now().strftime("%Y-%m-%dT%H:%M:%SZ")
    digest = base64.b64encode(
        hashlib.sha1(nonce + stamp.encode() + device.password.encode()).digest()
    ).decode()
    return (
        f'<wsse:Security xmlns:wsse="{OASIS}-wss-wssecurity-secext-1.0.xsd"'
        f' xmlns:wsu="{OASIS}-wss-wssecurity-utility-1.0.xsd"><wsse:UsernameToken>'
        f"<wsse:Username>{device.user}</wsse:Username>"
        f'<wsse:Password Type="{OASIS}-wss-username-token-profile-1.0#PasswordDigest">'
        f"{digest}</wsse:Password>"
        f"<wsse:Nonce>{base64.b64encode(nonce).decode()}</wsse:Nonce>"
        f"<wsu:Created>{stamp}</wsu:Created></wsse:UsernameToken></wsse:Security>"
    )


def _raw_renew(
    device: FakeOnvifDevice, subscription_id: str, addressing: dict[str, str]
) -> tuple[int, str]:
    """A Renew with a valid token and reference parameter, and the given WS-Addressing headers."""
    wsa = "".join(
        f'<wsa:{name} xmlns:wsa="{WSA}">{v}</wsa:{name}>' for name, v in addressing.items()
    )
    envelope = (
        '<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope">'
        f"<s:Header>{_token(device)}{wsa}"
        f'<dom0:SubscriptionId xmlns:dom0="{AXIS_EVENT}">{subscription_id}</dom0:SubscriptionId>'
        "</s:Header><s:Body>"
        '<wsnt:Renew xmlns:wsnt="http://docs.oasis-open.org/wsn/b-2">'
        "<wsnt:TerminationTime>PT60S</wsnt:TerminationTime></wsnt:Renew>"
        "</s:Body></s:Envelope>"
    )
    request = urllib.request.Request(
        f"{device.base}/onvif/subscription",
        envelope.encode(),
        {"Content-Type": "application/soap+xml"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def test_the_fake_camera_refuses_a_renew_without_ws_addressing(
    onvif_device: FakeOnvifDevice,
) -> None:
    onvif = OnvifClient(
        OnvifTarget(
            "cam-1", onvif_device.host, onvif_device.port, onvif_device.user, onvif_device.password
        ),
        FAST,
    )
    pullpoint = PullPoint(onvif, QUICK_EVENTS)
    try:
        pullpoint.subscribe()
        (subscription_id,) = onvif_device.subscriptions
        address = f"{onvif_device.base}/onvif/subscription"
        good = {
            "Action": WSA_ACTIONS["Renew"],
            "MessageID": f"urn:uuid:{uuid.uuid4()}",
            "To": address,
        }
        status, body = _raw_renew(onvif_device, subscription_id, {})
        assert status == 400 and "wsa:MessageAddressingHeaderRequired" in body
        assert "Action, MessageID, To" in body
        status, body = _raw_renew(onvif_device, subscription_id, {**good, "Action": "urn:nope"})
        assert status == 400 and "is not Renew" in body
        status, body = _raw_renew(onvif_device, subscription_id, {**good, "To": "http://x/y"})
        assert status == 400 and "not to this subscription" in body
        assert onvif_device.renewals == 0
        status, body = _raw_renew(onvif_device, subscription_id, good)
        assert status == 200 and "RenewResponse" in body
        assert onvif_device.renewals == 1
        # The agent's own Renew carries the headers.
        assert pullpoint.renew() > 0
        assert onvif_device.renewals == 2 and onvif_device.wsa_refusals == 3
        pullpoint.unsubscribe()
    finally:
        pullpoint.close()
        onvif.close()


def _cameras(
    device: FakeOnvifDevice, tmp_path: Path, index: SegmentIndex | None = None
) -> tuple[OnvifCameras, SegmentIndex]:
    config = AgentConfig.model_validate(
        {
            "site_id": "site-a",
            "data_dir": str(tmp_path),
            "cameras": [
                {
                    "id": "dome",
                    "onvif": {
                        "host": device.host,
                        "port": device.port,
                        "user": device.user,
                        "password": device.password,
                    },
                }
            ],
        }
    )
    index = index or SegmentIndex(None)
    return OnvifCameras(config, index, settings=FAST, event_settings=QUICK_EVENTS), index


def _stored(index: SegmentIndex) -> list[CameraEvent]:
    return index.events_between("dome", datetime(2000, 1, 1, tzinfo=UTC), datetime.now(UTC))


def _run(cameras: OnvifCameras, until: Callable[[], bool], what: str) -> None:
    async def run() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(cameras.run_events(stop))
        loop = asyncio.get_running_loop()
        deadline = loop.time() + GUARD
        try:
            while not until():
                assert loop.time() < deadline, f"timed out waiting for {what}"
                assert not task.done(), "the event task ended"
                await asyncio.sleep(0.05)
        finally:
            stop.set()
            await asyncio.wait_for(task, GUARD)

    asyncio.run(run())


def test_the_agent_renews_without_resubscribing_and_stores_no_duplicates(
    onvif_device: FakeOnvifDevice, tmp_path: Path
) -> None:
    onvif_device.max_termination = 2.0  # granted 2 s: a renewal every second
    onvif_device.wsa_required = {"Renew", "Unsubscribe", "PullMessages"}  # the strictest device
    onvif_device.motion = True  # motion going on when the agent subscribes
    cameras, index = _cameras(onvif_device, tmp_path)
    _run(cameras, lambda: onvif_device.renewals >= 4, "four renewals")
    cameras.close()
    assert onvif_device.count("CreatePullPointSubscription") == 1
    assert onvif_device.wsa_refusals == 0
    assert onvif_device.unsubscribed == 1
    motion = [event for event in _stored(index) if event.kind == "motion"]
    assert [(event.active, event.data["operation"]) for event in motion] == [(True, "Initialized")]


def test_a_resubscription_does_not_store_the_same_motion_again(
    onvif_device: FakeOnvifDevice, tmp_path: Path
) -> None:
    cameras, index = _cameras(onvif_device, tmp_path)
    onvif_device.push_motion(True)  # before subscribing: an Initialized "on"

    def kind(name: str) -> list[tuple[bool, str]]:
        events = [event for event in _stored(index) if event.kind == name]
        return [(event.active, event.data["operation"]) for event in events]

    async def reboot(what: str) -> None:
        """The camera reboots (forgets its subscriptions); wait for the agent's new one. Not a
        count of subscriptions: on a busy machine a PullMessages that took over 2 s makes the
        agent subscribe again on its own (its new Initialized must not be stored twice either)."""
        before = onvif_device.count("CreatePullPointSubscription")
        onvif_device.drop_subscriptions()
        await until(
            lambda: (
                onvif_device.count("CreatePullPointSubscription") > before
                and bool(onvif_device.subscriptions)
            ),
            what,
        )

    async def run() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(cameras.run_events(stop))
        try:
            await until(lambda: kind("motion") == [(True, "Initialized")], "the motion")
            await reboot("the second subscription")
            # A tamper after the new subscription's Initialized messages: once it is stored,
            # those were handled.
            onvif_device.push_tamper(True)
            await until(lambda: len(kind("tamper")) == 1, "the tamper")
            assert kind("motion") == [(True, "Initialized")]  # still on: not stored twice
            # The motion ends while nobody listens; the next subscription's Initialized says so.
            onvif_device.motion = False
            await reboot("the third subscription")
            onvif_device.push_tamper(False)
            await until(lambda: len(kind("tamper")) == 2, "the tamper's end")
            assert kind("motion") == [(True, "Initialized"), (False, "Initialized")]
            assert kind("tamper") == [(True, "Changed"), (False, "Changed")]
        finally:
            stop.set()
            await asyncio.wait_for(task, GUARD)

    asyncio.run(asyncio.wait_for(run(), GUARD * 2))
    cameras.close()


def test_an_agent_restart_does_not_store_an_ongoing_motion_again(
    onvif_device: FakeOnvifDevice, tmp_path: Path
) -> None:
    onvif_device.push_motion(True)
    first, index = _cameras(onvif_device, tmp_path)
    _run(first, lambda: len(_stored(index)) == 1, "the motion")
    first.close()
    # A new agent process on the same index: its first subscription says "motion on" again.
    second, _ = _cameras(onvif_device, tmp_path, index)

    def barrier() -> bool:
        if onvif_device.subscriptions and not onvif_device.tamper:
            onvif_device.push_tamper(True)  # after the Initialized messages: a marker
        return any(event.kind == "tamper" for event in _stored(index))

    _run(second, barrier, "the tamper after the restart")
    second.close()
    assert [(e.kind, e.active) for e in _stored(index)] == [("motion", True), ("tamper", True)]
