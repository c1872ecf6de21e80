"""Live signalling on its own: the agent's MQTT message routing and the hub's error mapping."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from cctv_common.wire.payloads import LiveAnswer, LiveOffer
from cctv_common.wire.topics import JobTopic, LiveTopic, Topic, live_topic
from edge_agent.agent import route_messages
from edge_agent.config import AgentConfig, CameraConfig
from edge_agent.live.service import LiveService
from edge_agent.live.signalling import LiveSignalling
from hub.services.live import status_for_error

SITE = "site-1"


class Published:
    def __init__(self) -> None:
        self.messages: list[tuple[str, bytes]] = []

    async def publish(self, topic: str, payload: bytes, *, retain: bool = False) -> None:
        self.messages.append((topic, payload))


def _config(tmp_path: Path) -> AgentConfig:
    return AgentConfig(
        site_id=SITE,
        data_dir=tmp_path,
        cameras=[CameraConfig(id="gate", rtsp_url="rtsp://127.0.0.1:9/none")],
    )


def test_malformed_messages_are_dropped_and_refusals_are_answered(tmp_path: Path) -> None:
    async def scenario() -> Published:
        out = Published()
        signalling = LiveSignalling(SITE, LiveService(_config(tmp_path)), out)
        for kind in ("offer", "candidate", "close"):
            signalling.handle(LiveTopic(SITE, "s1", kind), b"{not json")
        offer = LiveOffer(session_id="s2", camera_id="yard", sdp="v=0\r\n")
        signalling.handle(LiveTopic(SITE, "other", "offer"), offer.to_bytes())  # ids differ
        signalling.handle(LiveTopic(SITE, "s2", "offer"), offer.to_bytes(), retained=True)
        signalling.handle(LiveTopic(SITE, "s2", "offer"), offer.to_bytes())
        await asyncio.sleep(0.2)
        await signalling.stop()
        return out

    out = asyncio.run(scenario())
    [(topic, payload)] = out.messages
    assert topic == live_topic(SITE, "s2", "answer")
    answer = LiveAnswer.parse(payload)
    assert answer.sdp is None and answer.error == f"site {SITE} has no camera yard"
    assert status_for_error(answer.error) == 404


def test_live_topics_go_to_signalling_and_the_rest_to_the_job_runner() -> None:
    jobs: list[Topic] = []
    live: list[LiveTopic] = []
    route = route_messages(SITE, lambda t, p, r: jobs.append(t), lambda t, p, r: live.append(t))
    route(LiveTopic(SITE, "s1", "offer"), b"", False)
    route(JobTopic(SITE, "j1"), b"", False)
    # Another site's live message is not this site's signalling: the job runner logs it.
    route(LiveTopic("site-other", "s1", "offer"), b"", False)
    assert live == [LiveTopic(SITE, "s1", "offer")]
    assert jobs == [JobTopic(SITE, "j1"), LiveTopic("site-other", "s1", "offer")]


@pytest.mark.parametrize(
    ("text", "status"),
    [
        ("site s has no camera c", 404),
        ("camera c streams H.265, which browsers cannot play live", 415),
        ("camera c already has 8 live viewers, the most this site allows", 429),
        ("camera c did not open its stream within 10 s", 502),
        ("something new", 502),
    ],
)
def test_agent_refusals_map_to_http_statuses(text: str, status: int) -> None:
    assert status_for_error(text) == status
