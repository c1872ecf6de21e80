"""Live view: the agent forwards the real test camera's H.264 to WebRTC viewers without decoding.

The viewers here are aiortc clients (they decode: they are the browser's stand-in) and, in one
test, real headless Chromium playing ``hub/static/live.html`` through a stand-in for the hub's
routes. Pure helpers (NAL units, parameter sets, the timeline, a slow viewer's queue) are tested
on bytes; the MP4 path (``h264_mp4toannexb``) on a file written into a temp folder.
"""

from __future__ import annotations

import asyncio
import fractions
import logging
import uuid
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

import av
import numpy as np
import pytest
from pydantic import BaseModel

from cctv_common.wire.payloads import LiveOffer
from devkit.testcam import TestCamera
from edge_agent.config import AgentConfig, CameraConfig, LiveConfig, OnvifCameraConfig
from edge_agent.live.bitstream import (
    NAL_IDR,
    NAL_PPS,
    NAL_SPS,
    VIDEO_TIME_BASE,
    Timeline,
    nal_unit_types,
    parameter_sets,
    parameter_sets_from_avcc,
    with_parameter_sets,
)
from edge_agent.live.errors import (
    CodecNotPlayable,
    LiveCameraUnavailable,
    LiveError,
    LiveOfferRejected,
    LiveRefused,
    UnknownLiveCamera,
    UnknownSession,
    ViewerLimitReached,
)
from edge_agent.live.sdp import defer_mdns_candidates
from edge_agent.live.service import LiveService
from edge_agent.live.source import LiveSource
from edge_agent.live.track import h264_capabilities
from edge_agent.live.viewer_queue import VIEWER_LAG_PACKETS, LivePacket, ViewerQueue
from tests.support.browser import CHROMIUM, CHROMIUM_ARGS, chromium_installed
from tests.support.paths import REPO
from tests.support.webrtc_viewer import Viewer as BaseViewer

T = TypeVar("T")
ROOT = REPO
SITE = "site-1"

SPS = b"\x67\x42\xc0\x1e\xda\x02\x80\xbf\xe5\xc0\x5a"
PPS = b"\x68\xce\x3c\x80"
IDR = b"\x65\x88\x84\x00\x33"
P_SLICE = b"\x41\x9a\x02\x00"
AUD = b"\x09\x10"
SC = b"\x00\x00\x00\x01"


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


def agent_config(tmp_path: Path, *cameras: tuple[str, str], max_viewers: int = 8) -> AgentConfig:
    return AgentConfig(
        site_id=SITE,
        data_dir=tmp_path,
        cameras=[CameraConfig(id=camera_id, rtsp_url=url) for camera_id, url in cameras],
        live=LiveConfig(max_viewers_per_camera=max_viewers),
    )


async def eventually(check: Callable[[], bool], what: str, limit: float = 20.0) -> None:
    """Poll ``check`` until true; the limit only stops a broken test from hanging."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit
    while not check() and loop.time() < deadline:  # noqa: ASYNC110 - state of other objects
        await asyncio.sleep(0.05)
    assert check(), what


class Viewer(BaseViewer):
    """A viewer that talks to a LiveService directly (no hub, no MQTT)."""

    def __init__(self, codecs: str = "any") -> None:
        super().__init__(codecs)
        self.session_id = uuid.uuid4().hex[:16]

    async def offer(self, camera_id: str) -> LiveOffer:
        sdp = await self.offer_sdp()
        return LiveOffer(session_id=self.session_id, camera_id=camera_id, sdp=sdp)

    async def connect(self, service: LiveService, camera_id: str) -> None:
        await self.apply(await service.handle_offer(await self.offer(camera_id)))


# ---------------------------------------------------------------------------------------------
# Through the real RTSP test camera.


@pytest.mark.slow
def test_viewer_decodes_the_cameras_own_picture(
    rtsp_camera: TestCamera, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="edge_agent")

    async def scenario() -> None:
        service = LiveService(agent_config(tmp_path, ("gate", rtsp_camera.url)))
        viewer = Viewer()
        offer = await viewer.offer("gate")
        # The same offer delivered twice (MQTT QoS 1), during and after the first answer, gets
        # the same answer, not a second session.
        answer, again = await asyncio.gather(
            service.handle_offer(offer), service.handle_offer(offer)
        )
        assert again == answer
        assert await service.handle_offer(offer) == answer
        assert service.viewer_counts() == {"gate": 1}
        assert "H264" in answer and "a=candidate:" in answer  # vanilla ICE: candidates inside
        await viewer.apply(answer)
        frames = await viewer.wait_frames(25)
        assert {(f.width, f.height) for f in frames} == {(rtsp_camera.width, rtsp_camera.height)}
        # The picture is the camera's and it moves: the clock overlay changes between frames.
        first, last = frames[0].to_ndarray(format="gray"), frames[-1].to_ndarray(format="gray")
        assert first.shape == (rtsp_camera.height, rtsp_camera.width)
        assert not np.array_equal(first, last)
        assert service.open_sources == 1
        assert service.viewer_counts() == {"gate": 1}

        assert await service.close(viewer.session_id)
        assert not await service.close(viewer.session_id)  # twice is harmless
        assert service.open_sources == 0
        assert service.viewer_counts() == {}
        await viewer.close()
        await service.close_all()

    run(scenario())
    lines = [r.getMessage() for r in caplog.records if r.name.startswith("edge_agent.live")]
    assert lines
    assert all(f"site={SITE} camera=gate" in line for line in lines)


@pytest.mark.slow
def test_two_viewers_share_one_camera_connection(rtsp_camera: TestCamera, tmp_path: Path) -> None:
    async def scenario() -> None:
        service = LiveService(agent_config(tmp_path, ("gate", rtsp_camera.url)))
        first, second = Viewer(), Viewer()
        await first.connect(service, "gate")
        await first.wait_frames(5)
        source = service.source("gate")
        assert source is not None
        # The second viewer joins the open connection mid-GOP and starts from the cached GOP.
        await second.connect(service, "gate")
        both = await asyncio.gather(first.wait_frames(10), second.wait_frames(10))
        for frames in both:
            assert {(f.width, f.height) for f in frames} == {(640, 360)}
        assert service.open_sources == 1
        assert service.source("gate") is source
        assert source.connections == 1
        assert source.subscriber_count == 2
        assert service.viewer_counts() == {"gate": 2}

        await service.close(first.session_id)
        assert service.open_sources == 1
        assert source.is_open
        await second.wait_frames(5)  # the remaining viewer keeps its picture

        await service.close(second.session_id)
        assert service.open_sources == 0
        assert not source.is_open
        assert service.source("gate") is None
        await asyncio.gather(first.close(), second.close())

        # A later viewer opens a new connection.
        third = Viewer()
        await third.connect(service, "gate")
        await third.wait_frames(3)
        assert service.open_sources == 1
        await service.close_all()
        assert service.open_sources == 0
        await third.close()

    run(scenario())


@pytest.mark.slow
def test_viewer_that_goes_away_is_cleaned_up(rtsp_camera: TestCamera, tmp_path: Path) -> None:
    async def scenario() -> None:
        service = LiveService(agent_config(tmp_path, ("gate", rtsp_camera.url)))
        viewer = Viewer()
        await viewer.connect(service, "gate")
        await viewer.wait_frames(3)
        await viewer.close()  # no close message: the browser tab just went away
        await eventually(lambda: service.session_ids() == [], "session cleaned up")
        await eventually(lambda: service.open_sources == 0, "camera connection closed")
        await service.close_all()

    run(scenario())


@pytest.mark.slow
def test_session_that_never_connects_is_given_up(rtsp_camera: TestCamera, tmp_path: Path) -> None:
    async def scenario() -> None:
        service = LiveService(
            agent_config(tmp_path, ("gate", rtsp_camera.url)), connect_timeout=0.5
        )
        viewer = Viewer()
        await service.handle_offer(await viewer.offer("gate"))  # the answer is never applied
        assert service.viewers("gate") == 1
        # Trickled candidates are accepted (here ones that lead nowhere), then end-of-candidates.
        await service.add_candidate(
            viewer.session_id, "a=candidate:1 1 udp 2122260223 192.0.2.1 9 typ host", "0", 0
        )
        await service.add_candidate(viewer.session_id, "")
        with pytest.raises(LiveOfferRejected):
            await service.add_candidate(viewer.session_id, "candidate:garbage", "0", 0)
        await eventually(lambda: service.viewers("gate") == 0, "unconnected session dropped")
        await eventually(lambda: service.open_sources == 0, "camera connection closed")
        await viewer.close()
        await service.close_all()

    run(scenario())


@pytest.mark.slow
def test_viewers_keep_watching_across_a_camera_restart(
    rtsp_camera: TestCamera, tmp_path: Path
) -> None:
    async def scenario() -> None:
        config = agent_config(tmp_path, ("gate", rtsp_camera.url))
        config = config.model_copy(
            update={
                "recorder": config.recorder.model_copy(
                    update={"reconnect_initial_seconds": 0.2, "stall_timeout_seconds": 3.0}
                )
            }
        )
        service = LiveService(config)
        viewer = Viewer()
        await viewer.connect(service, "gate")
        await viewer.wait_frames(5)
        source = service.source("gate")
        assert source is not None
        await asyncio.to_thread(rtsp_camera.restart)
        await eventually(lambda: source.connections == 2, "source reconnected")
        frames = await viewer.wait_frames(10)
        assert frames[-1].width == 640
        # One continuous timeline: the viewer never sees time go backwards.
        times = [f.pts or 0 for f in viewer.frames]
        assert times == sorted(times)
        assert service.open_sources == 1
        await service.close_all()
        await viewer.close()

    run(scenario())


# ---------------------------------------------------------------------------------------------
# Refusals.


def test_unknown_camera_is_refused(tmp_path: Path) -> None:
    async def scenario() -> None:
        service = LiveService(agent_config(tmp_path, ("gate", "rtsp://127.0.0.1:9/none")))
        viewer = Viewer()
        with pytest.raises(UnknownLiveCamera, match=f"site {SITE} has no camera yard") as caught:
            await service.handle_offer(await viewer.offer("yard"))
        assert isinstance(caught.value, LiveRefused)
        assert caught.value.code == "unknown_camera"
        assert service.open_sources == 0
        assert service.session_ids() == []
        with pytest.raises(UnknownSession):
            await service.add_candidate("nope", "candidate:1 1 udp 1 127.0.0.1 9 typ host")
        await viewer.close()

    run(scenario())


def test_camera_that_cannot_be_reached_is_reported(tmp_path: Path) -> None:
    async def scenario() -> None:
        # Port 9 (discard) refuses at once: nothing listens there on loopback.
        service = LiveService(agent_config(tmp_path, ("gate", "rtsp://127.0.0.1:9/cam")))
        viewer = Viewer()
        with pytest.raises(
            LiveCameraUnavailable, match="camera gate cannot be opened for live view"
        ):
            await service.handle_offer(await viewer.offer("gate"))
        assert not isinstance(LiveCameraUnavailable("x"), LiveRefused)
        assert service.session_ids() == []
        await eventually(lambda: service.open_sources == 0, "camera connection closed")
        await viewer.close()

    run(scenario())


def test_onvif_camera_needs_a_resolver(tmp_path: Path) -> None:
    onvif = CameraConfig(id="dome", onvif=OnvifCameraConfig(host="192.0.2.10"))
    config = AgentConfig(site_id=SITE, data_dir=tmp_path, cameras=[onvif])
    asked: list[str] = []

    async def resolve(camera: CameraConfig) -> str:
        asked.append(camera.id)
        return "rtsp://127.0.0.1:9/sub"

    async def scenario() -> None:
        viewer = Viewer()
        offer = await viewer.offer("dome")
        with pytest.raises(LiveRefused, match="live_rtsp_url"):
            await LiveService(config).handle_offer(offer)
        with pytest.raises(LiveCameraUnavailable):
            await LiveService(config, url_resolver=resolve).handle_offer(offer)
        assert asked == ["dome"]
        await viewer.close()

    run(scenario())


@pytest.mark.slow
def test_h265_camera_is_refused_with_the_reason(
    rtsp_camera_factory: Callable[..., TestCamera], tmp_path: Path
) -> None:
    camera = rtsp_camera_factory(codec="h265")

    async def scenario() -> None:
        service = LiveService(agent_config(tmp_path, ("lobby", camera.url)))
        viewer = Viewer()
        with pytest.raises(CodecNotPlayable) as caught:
            await service.handle_offer(await viewer.offer("lobby"))
        message = str(caught.value)
        assert "H.265" in message
        assert "cannot play" in message
        assert "live_rtsp_url" in message
        assert isinstance(caught.value, LiveRefused)
        assert service.session_ids() == []
        await eventually(lambda: service.open_sources == 0, "camera connection closed")
        await viewer.close()

    run(scenario())


@pytest.mark.slow
def test_viewer_limit_per_camera(rtsp_camera: TestCamera, tmp_path: Path) -> None:
    async def scenario() -> None:
        service = LiveService(agent_config(tmp_path, ("gate", rtsp_camera.url), max_viewers=1))
        first, second, third = Viewer(), Viewer(), Viewer()
        await first.connect(service, "gate")
        with pytest.raises(ViewerLimitReached, match="1 live viewers"):
            await service.handle_offer(await second.offer("gate"))
        assert service.viewers("gate") == 1
        await service.close(first.session_id)
        await third.connect(service, "gate")  # the slot is free again
        await third.wait_frames(3)
        await service.close_all()
        await asyncio.gather(first.close(), second.close(), third.close())

    run(scenario())


@pytest.mark.slow
def test_offer_without_h264_is_rejected(rtsp_camera: TestCamera, tmp_path: Path) -> None:
    async def scenario() -> None:
        service = LiveService(agent_config(tmp_path, ("gate", rtsp_camera.url)))
        viewer = Viewer(codecs="vp8")
        with pytest.raises(LiveOfferRejected, match=r"does not offer H\.264"):
            await service.handle_offer(await viewer.offer("gate"))
        assert service.session_ids() == []
        await eventually(lambda: service.open_sources == 0, "camera connection closed")
        await viewer.close()

    run(scenario())


def test_answer_offers_h264_packetization_mode_1_only() -> None:
    codecs = h264_capabilities()
    video = [c for c in codecs if c.mimeType != "video/rtx"]
    assert video
    assert all(c.mimeType == "video/H264" for c in video)
    assert all(c.parameters["packetization-mode"] == "1" for c in video)
    assert video[0].parameters["profile-level-id"] == "42e01f"


# ---------------------------------------------------------------------------------------------
# Pure helpers.


def test_nal_unit_types_and_parameter_sets() -> None:
    data = SC + AUD + SC + SPS + b"\x00\x00\x01" + PPS + SC + IDR
    assert nal_unit_types(data) == [9, NAL_SPS, NAL_PPS, NAL_IDR]
    assert parameter_sets(data) == SC + SPS + SC + PPS
    assert parameter_sets(SC + SPS) == b""  # an SPS alone is not enough


def test_parameter_sets_from_avcc_record() -> None:
    avcc = (
        bytes([1, 0x42, 0xC0, 0x1E, 0xFF, 0xE1])
        + len(SPS).to_bytes(2, "big")
        + SPS
        + b"\x01"
        + len(PPS).to_bytes(2, "big")
        + PPS
    )
    assert parameter_sets_from_avcc(avcc) == SC + SPS + SC + PPS
    assert parameter_sets(avcc) == SC + SPS + SC + PPS
    assert parameter_sets_from_avcc(avcc[:-2]) == b""  # truncated


def test_parameter_sets_go_before_a_keyframe_that_lacks_them() -> None:
    sets = SC + SPS + SC + PPS
    keyframe = SC + AUD + SC + IDR
    fixed = with_parameter_sets(keyframe, nal_unit_types(keyframe), sets)
    assert fixed == SC + AUD + SC + SPS + SC + PPS + SC + IDR  # the AUD stays first
    bare = SC + IDR
    assert with_parameter_sets(bare, nal_unit_types(bare), sets) == sets + bare
    inter = SC + P_SLICE
    assert with_parameter_sets(inter, nal_unit_types(inter), sets) is inter
    complete = sets + SC + IDR
    assert with_parameter_sets(complete, nal_unit_types(complete), sets) is complete


CHROMIUM_OFFER = "\r\n".join(
    [
        "v=0",
        "o=- 1 2 IN IP4 127.0.0.1",
        "s=-",
        "t=0 0",
        "a=group:BUNDLE 0",
        "m=video 9 UDP/TLS/RTP/SAVPF 96",
        "c=IN IP4 0.0.0.0",
        "a=mid:0",
        "a=candidate:1 1 udp 2122260223 0f6c2b1e-aaaa.local 50000 typ host generation 0",
        "a=candidate:2 1 udp 1686052607 203.0.113.7 50001 typ srflx raddr 0.0.0.0 rport 0",
        "a=end-of-candidates",
        "a=recvonly",
        "",
    ]
)


def test_mdns_candidates_are_added_after_the_answer() -> None:
    sdp, deferred, ended = defer_mdns_candidates(CHROMIUM_OFFER)
    assert ".local" not in sdp
    assert "203.0.113.7 50001 typ srflx" in sdp  # other candidates stay in the offer
    assert "a=end-of-candidates" not in sdp  # signalled after the deferred ones instead
    assert [(c.sdp_mid, c.sdp_mline_index) for c in deferred] == [("0", 0)]
    assert deferred[0].line.startswith("candidate:1 1 udp")
    assert ended == [0]
    assert defer_mdns_candidates(sdp) == (sdp, [], [])


def test_timeline_is_continuous_across_connections() -> None:
    timeline = Timeline()
    timeline.new_connection(3600)
    assert [timeline.stamp(t) for t in (None, 3600, 7200)] == [0, 3600, 7200]
    timeline.new_connection(3600)  # the camera came back with its clock restarted
    assert [timeline.stamp(t) for t in (900_000, 903_600)] == [10_800, 14_400]
    assert timeline.stamp(None) == 18_000


def _item(keyframe: bool, pts: int) -> LivePacket:
    packet = av.Packet(SC + (IDR if keyframe else P_SLICE))
    packet.pts = pts
    packet.time_base = VIDEO_TIME_BASE
    return LivePacket(packet, keyframe, packet.size)


def test_a_slow_viewer_drops_to_the_next_keyframe() -> None:
    async def scenario() -> None:
        source = LiveSource(
            site_id=SITE, camera_id="gate", url="rtsp://x", loop=asyncio.get_running_loop()
        )
        viewer = source.subscribe()
        viewer.offer(_item(False, 0))  # a new viewer starts on a keyframe
        assert viewer.dropped == 1
        pts = 3600
        viewer.offer(_item(True, pts))
        for _ in range(VIEWER_LAG_PACKETS + 10):  # nobody reads: the queue fills up
            pts += 3600
            viewer.offer(_item(False, pts))
        assert viewer._queue.qsize() <= VIEWER_LAG_PACKETS
        viewer.offer(_item(True, 999_000))
        packet = await viewer.get()
        assert packet is not None and packet.pts == 999_000  # resumes on the keyframe
        viewer.close()
        assert await viewer.get() is None
        assert source.subscriber_count == 0

    run(scenario())


def test_a_late_viewer_gets_the_current_gop_restamped() -> None:
    async def scenario() -> None:
        source = LiveSource(
            site_id=SITE, camera_id="gate", url="rtsp://x", loop=asyncio.get_running_loop()
        )
        source._dispatch(_item(False, 0))
        source._dispatch(_item(True, 3600))
        for i in range(2, 6):
            source._dispatch(_item(False, 3600 * i))
        late: ViewerQueue = source.subscribe()
        got = [await late.get() for _ in range(5)]
        assert [nal_unit_types(bytes(p))[0] for p in got if p is not None] == [5, 1, 1, 1, 1]
        # A tick apart, ending at the newest packet's time, so it is shown at once.
        assert [p.pts for p in got if p is not None] == [17_996, 17_997, 17_998, 17_999, 18_000]

    run(scenario())


# ---------------------------------------------------------------------------------------------
# An MP4 source: length-prefixed H.264 goes through h264_mp4toannexb.


def _write_mp4(path: Path, frames: int = 30) -> None:
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = 320, 240, "yuv420p"
        stream.options = {"g": "10", "bf": "0"}
        for i in range(frames):
            image = np.full((240, 320, 3), (i * 8) % 256, dtype=np.uint8)
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            frame.pts = i
            frame.time_base = fractions.Fraction(1, 25)
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))


def test_mp4_source_is_sent_as_annexb_with_parameter_sets(tmp_path: Path) -> None:
    path = tmp_path / "clip.mp4"
    _write_mp4(path)
    with av.open(str(path)) as check:
        extradata = check.streams.video[0].codec_context.extradata or b""
        assert extradata[:1] == b"\x01"  # avcC: the packets are length-prefixed

    async def scenario() -> list[av.Packet]:
        source = LiveSource(
            site_id=SITE, camera_id="file", url=str(path), loop=asyncio.get_running_loop()
        )
        viewer = source.subscribe()
        source.start()
        info = await source.wait_ready(10)
        assert (info.codec, info.width, info.height) == ("h264", 320, 240)
        packets = []
        for _ in range(12):
            packet = await viewer.get()
            assert packet is not None
            packets.append(packet)
        source.stop()
        await source.wait_closed()
        assert not source.is_open
        return packets

    packets = run(scenario())
    first = nal_unit_types(bytes(packets[0]))
    assert bytes(packets[0]).startswith((b"\x00\x00\x01", SC))
    assert NAL_SPS in first and NAL_PPS in first and NAL_IDR in first
    assert first.index(NAL_SPS) < first.index(NAL_IDR)
    assert all(bytes(p).startswith((b"\x00\x00\x01", SC)) for p in packets)
    assert all(p.time_base == VIDEO_TIME_BASE for p in packets)
    stamps = [p.pts or 0 for p in packets]
    assert stamps == sorted(stamps)
    assert stamps[1] - stamps[0] == 3600  # 25 fps in 90 kHz


# ---------------------------------------------------------------------------------------------
# Real Chromium playing hub/static/live.html, through a stand-in for the hub's live routes.

STATUS_FOR_CODE = {
    "unknown_camera": 404,
    "codec_not_playable": 415,
    "viewer_limit": 429,
    "bad_offer": 400,
    "camera_unavailable": 502,
}


class OfferBody(BaseModel):
    sdp: str


def _stand_in_hub(service: LiveService) -> Any:
    """The two routes live.js calls, answered by the agent's LiveService directly (the real hub
    relays them over MQTT). Another site id plays a site that is offline."""
    from fastapi import FastAPI, HTTPException
    from fastapi.staticfiles import StaticFiles

    app = FastAPI()

    @app.post("/api/live/{site}/{camera}/offer")
    async def offer(site: str, camera: str, body: OfferBody) -> dict[str, str]:
        if site != SITE:
            raise HTTPException(503, f"site {site} is offline")
        session_id = uuid.uuid4().hex
        try:
            sdp = await service.handle_offer(
                LiveOffer(session_id=session_id, camera_id=camera, sdp=body.sdp)
            )
        except LiveError as exc:
            raise HTTPException(STATUS_FOR_CODE.get(exc.code, 400), str(exc)) from exc
        return {"session_id": session_id, "sdp": sdp}

    @app.delete("/api/live/{site}/{camera}/sessions/{session_id}")
    async def close(site: str, camera: str, session_id: str) -> dict[str, bool]:
        return {"closed": await service.close(session_id)}

    app.mount("/static", StaticFiles(directory=ROOT / "hub" / "static"), name="static")
    return app


async def _serve(app: Any) -> tuple[Any, asyncio.Task[None], int]:
    import uvicorn

    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
    task = asyncio.ensure_future(server.serve())
    await eventually(lambda: server.started, "stand-in hub started")
    port = server.servers[0].sockets[0].getsockname()[1]
    return server, task, port


async def _video_state(page: Any, index: int = 0) -> dict[str, Any]:
    result: dict[str, Any] = await page.evaluate(
        """(i) => {
            const tile = document.querySelectorAll('.tile')[i];
            const v = tile.querySelector('video');
            return {w: v.videoWidth, h: v.videoHeight, t: v.currentTime,
                    state: tile.dataset.state,
                    message: tile.querySelector('.message').textContent};
        }""",
        index,
    )
    return result


async def _until(
    page: Any, index: int, check: Callable[[dict[str, Any]], bool], what: str
) -> dict[str, Any]:
    async with asyncio.timeout(30):
        while True:
            state = await _video_state(page, index)
            if check(state):
                return state
            await asyncio.sleep(0.1)
    raise AssertionError(what)


@pytest.mark.slow
@pytest.mark.skipif(not chromium_installed(), reason="Debian chromium is not installed")
def test_chromium_plays_the_live_page(rtsp_camera: TestCamera, tmp_path: Path) -> None:
    from playwright.async_api import async_playwright

    async def scenario() -> None:
        service = LiveService(agent_config(tmp_path, ("gate", rtsp_camera.url)))
        server, task, port = await _serve(_stand_in_hub(service))
        base = f"http://127.0.0.1:{port}/static/live.html"
        try:
            async with async_playwright() as playwright:
                browser = await playwright.chromium.launch(
                    executable_path=CHROMIUM, args=CHROMIUM_ARGS
                )
                page = await browser.new_page()
                # A grid: the camera, an unknown camera, and a camera of a site that is offline.
                await page.goto(f"{base}?cam={SITE}/gate&cam={SITE}/yard&cam=site-9/gate")
                playing = await _until(page, 0, lambda s: s["w"] > 0, "video has a size")
                assert (playing["w"], playing["h"]) == (640, 360)
                start = playing["t"]
                moved = await _until(page, 0, lambda s: s["t"] > start + 0.5, "video plays")
                assert moved["state"] == "live"

                unknown = await _until(page, 1, lambda s: s["state"] == "error", "error shown")
                assert "has no camera yard" in unknown["message"]
                offline = await _until(
                    page, 2, lambda s: "offline" in s["message"], "offline shown"
                )
                assert offline["state"] == "retrying"

                assert service.viewer_counts() == {"gate": 1}
                await page.close()  # pagehide: the page ends its session
                await eventually(lambda: service.session_ids() == [], "session deleted")
                await eventually(lambda: service.open_sources == 0, "camera connection closed")
                await browser.close()
        finally:
            await service.close_all()
            server.should_exit = True
            await task

    run(scenario())
