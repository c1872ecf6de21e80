"""Topic strings: built and parsed in one module, round-tripping exactly, refusing tricks."""

from __future__ import annotations

import pytest
from paho.mqtt.client import topic_matches_sub
from pydantic import BaseModel, ValidationError

from cctv_common.wire.ids import MAX_ID_LENGTH, CameraId, InvalidId, validate_id
from cctv_common.wire.topics import (
    HUB_CHUNK_FILTER,
    HUB_LIVE_ANSWER_FILTER,
    HUB_MANIFEST_FILTER,
    HUB_PROGRESS_FILTER,
    HUB_SNAPSHOT_REPLY_FILTER,
    HUB_STATUS_FILTER,
    HUB_SUBSCRIPTIONS,
    LIVE_KINDS,
    MAX_CHUNK_INDEX,
    SNAPSHOT_KINDS,
    AckTopic,
    ChunkTopic,
    InvalidTopic,
    JobTopic,
    LiveTopic,
    ManifestTopic,
    ProgressTopic,
    SnapshotTopic,
    StatusTopic,
    Topic,
    ack_topic,
    agent_snapshot_filter,
    agent_subscriptions,
    chunk_topic,
    hold_topic,
    job_topic,
    live_topic,
    manifest_topic,
    parse_topic,
    progress_topic,
    site_filter,
    snapshot_reply_topic,
    snapshot_request_topic,
    status_topic,
)

BAD_IDS = [
    "",
    "../x",
    "..",
    "a/b",
    "a/../b",
    "+",
    "#",
    "a+",
    "a#",
    "-leading-dash",
    "_leading",
    "has space",
    "tab\t",
    "new\nline",
    "trailing-newline\n",
    "nul\x00",
    "caf\u00e9",
    "$SYS",
    "x" * (MAX_ID_LENGTH + 1),
]

EXAMPLES: list[tuple[str, Topic]] = [
    ("cctv/v1/sites/site-a/status", StatusTopic("site-a")),
    ("cctv/v1/sites/site-a/jobs/job-1", JobTopic("site-a", "job-1")),
    ("cctv/v1/sites/site-a/jobs/job-1/progress", ProgressTopic("site-a", "job-1")),
    ("cctv/v1/sites/site-a/clips/clip_9/manifest", ManifestTopic("site-a", "clip_9")),
    ("cctv/v1/sites/site-a/clips/clip_9/chunk/0", ChunkTopic("site-a", "clip_9", 0)),
    (
        f"cctv/v1/sites/site-a/clips/clip_9/chunk/{MAX_CHUNK_INDEX}",
        ChunkTopic("site-a", "clip_9", MAX_CHUNK_INDEX),
    ),
    ("cctv/v1/sites/site-a/clips/clip_9/ack", AckTopic("site-a", "clip_9")),
    *[
        (f"cctv/v1/sites/S1/live/sess-1/{kind}", LiveTopic("S1", "sess-1", kind))
        for kind in LIVE_KINDS
    ],
    *[
        (f"cctv/v1/sites/S1/snapshots/snap-1/{kind}", SnapshotTopic("S1", "snap-1", kind))
        for kind in SNAPSHOT_KINDS
    ],
]


@pytest.mark.parametrize(("text", "topic"), EXAMPLES)
def test_topic_round_trip(text: str, topic: Topic) -> None:
    assert str(topic) == text
    assert parse_topic(text) == topic
    assert parse_topic(str(parse_topic(text))) == topic


def test_builders_match_dataclasses() -> None:
    assert status_topic("s") == "cctv/v1/sites/s/status"
    assert job_topic("s", "j") == "cctv/v1/sites/s/jobs/j"
    assert progress_topic("s", "j") == "cctv/v1/sites/s/jobs/j/progress"
    assert manifest_topic("s", "c") == "cctv/v1/sites/s/clips/c/manifest"
    assert chunk_topic("s", "c", 12) == "cctv/v1/sites/s/clips/c/chunk/12"
    assert ack_topic("s", "c") == "cctv/v1/sites/s/clips/c/ack"
    assert live_topic("s", "x", "offer") == "cctv/v1/sites/s/live/x/offer"
    assert snapshot_request_topic("s", "r") == "cctv/v1/sites/s/snapshots/r/request"
    assert snapshot_reply_topic("s", "r") == "cctv/v1/sites/s/snapshots/r/reply"


def test_max_length_id_is_allowed() -> None:
    long_id = "a" * MAX_ID_LENGTH
    assert parse_topic(status_topic(long_id)) == StatusTopic(long_id)


@pytest.mark.parametrize("bad", BAD_IDS)
def test_validate_id_refuses(bad: str) -> None:
    with pytest.raises(InvalidId, match=r"camera id .* is not allowed: use letters, digits"):
        validate_id("camera", bad)


def test_invalid_id_message_is_clear() -> None:
    with pytest.raises(InvalidId) as caught:
        validate_id("camera", "a/../b")
    assert str(caught.value).startswith("camera id 'a/../b' is not allowed: use letters, digits")


def test_invalid_id_message_does_not_echo_huge_values() -> None:
    with pytest.raises(InvalidId) as caught:
        validate_id("site", "x" * 100_000)
    assert len(str(caught.value)) < 300


@pytest.mark.parametrize("bad", BAD_IDS)
def test_id_type_in_models_refuses(bad: str) -> None:
    class Model(BaseModel):
        camera_id: CameraId

    with pytest.raises(ValidationError, match="camera id"):
        Model(camera_id=bad)


@pytest.mark.parametrize("bad", BAD_IDS)
def test_builders_refuse_bad_ids(bad: str) -> None:
    with pytest.raises(InvalidTopic):
        status_topic(bad)
    with pytest.raises(InvalidTopic):
        job_topic("site-a", bad)
    with pytest.raises(InvalidTopic):
        chunk_topic("site-a", bad, 0)
    with pytest.raises(InvalidTopic):
        live_topic("site-a", bad, "offer")
    with pytest.raises(InvalidTopic):
        site_filter(bad)
    with pytest.raises(InvalidTopic):
        snapshot_request_topic("site-a", bad)
    with pytest.raises(InvalidTopic):
        snapshot_reply_topic(bad, "r")
    with pytest.raises(InvalidTopic):
        agent_snapshot_filter(bad)


@pytest.mark.parametrize("index", [-1, MAX_CHUNK_INDEX + 1, True, 1.0])
def test_chunk_index_bounds(index: object) -> None:
    with pytest.raises(InvalidTopic, match="chunk index"):
        chunk_topic("site-a", "clip", index)  # type: ignore[arg-type]


def test_live_kind_is_checked() -> None:
    with pytest.raises(InvalidTopic, match="live message kind"):
        live_topic("site-a", "sess", "hangup")  # type: ignore[arg-type]


def test_snapshot_kind_is_checked() -> None:
    with pytest.raises(InvalidTopic, match="snapshot message kind"):
        SnapshotTopic("site-a", "r", "image")  # type: ignore[arg-type]
    with pytest.raises(InvalidTopic, match="snapshot request id"):
        SnapshotTopic("site-a", "a/b", "request")


@pytest.mark.parametrize(
    "text",
    [
        "",
        "cctv/v1",
        "cctv/v1/sites",
        "cctv/v1/sites/",
        "cctv/v2/sites/site-a/status",
        "/cctv/v1/sites/site-a/status",
        "cctv/v1/sites/site-a/status/",
        "cctv/v1/sites/site-a/status/extra",
        "cctv/v1/sites//status",
        "cctv/v1/sites/+/status",
        "cctv/v1/sites/#",
        "cctv/v1/sites/site-a/#",
        "cctv/v1/sites/../status",
        "cctv/v1/sites/site-a/jobs",
        "cctv/v1/sites/site-a/jobs/",
        "cctv/v1/sites/site-a/jobs/job-1/progress/x",
        "cctv/v1/sites/site-a/jobs/../progress",
        "cctv/v1/sites/site-a/clips/c/manifests",
        "cctv/v1/sites/site-a/clips/c/chunk",
        "cctv/v1/sites/site-a/clips/c/chunk/",
        "cctv/v1/sites/site-a/clips/c/chunk/-1",
        "cctv/v1/sites/site-a/clips/c/chunk/+1",
        "cctv/v1/sites/site-a/clips/c/chunk/01",
        "cctv/v1/sites/site-a/clips/c/chunk/1.0",
        "cctv/v1/sites/site-a/clips/c/chunk/\u0661",
        f"cctv/v1/sites/site-a/clips/c/chunk/{MAX_CHUNK_INDEX + 1}",
        "cctv/v1/sites/site-a/clips/c/chunk/" + "9" * 400,
        "cctv/v1/sites/site-a/live/sess/hangup",
        "cctv/v1/sites/site-a/live/sess",
        "cctv/v1/sites/site-a/snapshots/r",
        "cctv/v1/sites/site-a/snapshots/r/image",
        "cctv/v1/sites/site-a/snapshots/r/request/x",
        "cctv/v1/sites/site-a/snapshots/+/request",
        "cctv/v1/sites/site-a/snapshots//reply",
        "cctv/v1/sites/site-a/unknown",
        "$SYS/broker/uptime",
    ],
)
def test_bad_topics_are_refused(text: str) -> None:
    with pytest.raises(InvalidTopic):
        parse_topic(text)


def test_bad_topic_message_names_the_topic() -> None:
    with pytest.raises(InvalidTopic, match="cctv/v1/sites/site-a/unknown"):
        parse_topic("cctv/v1/sites/site-a/unknown")


def test_site_filter() -> None:
    assert site_filter("site-a") == "cctv/v1/sites/site-a/#"
    for text, topic in EXAMPLES:
        assert topic_matches_sub(site_filter(topic.site), text)
        assert not topic_matches_sub(site_filter("other"), text)


def test_hub_filters_match_what_agents_send_and_nothing_else() -> None:
    hub_filters = [sub.filter for sub in HUB_SUBSCRIPTIONS]
    for site in ("site-a", "site-b"):
        sent_by_agent = [
            status_topic(site),
            progress_topic(site, "j"),
            manifest_topic(site, "c"),
            chunk_topic(site, "c", 7),
            live_topic(site, "x", "answer"),
            live_topic(site, "x", "candidate"),
            live_topic(site, "x", "close"),
            snapshot_reply_topic(site, "r"),
        ]
        for topic in sent_by_agent:
            assert any(topic_matches_sub(f, topic) for f in hub_filters), topic
        sent_by_hub = (
            job_topic(site, "j"),
            ack_topic(site, "c"),
            live_topic(site, "x", "offer"),
            snapshot_request_topic(site, "r"),
        )
        for topic in sent_by_hub:
            assert not any(topic_matches_sub(f, topic) for f in hub_filters), topic
    assert topic_matches_sub(HUB_STATUS_FILTER, status_topic("s"))
    assert topic_matches_sub(HUB_PROGRESS_FILTER, progress_topic("s", "j"))
    assert topic_matches_sub(HUB_MANIFEST_FILTER, manifest_topic("s", "c"))
    assert topic_matches_sub(HUB_CHUNK_FILTER, chunk_topic("s", "c", 3))
    assert topic_matches_sub(HUB_LIVE_ANSWER_FILTER, live_topic("s", "x", "answer"))
    assert topic_matches_sub(HUB_SNAPSHOT_REPLY_FILTER, snapshot_reply_topic("s", "r"))


def test_agent_filters_match_only_its_own_site() -> None:
    filters = [sub.filter for sub in agent_subscriptions("site-a")]
    mine = [
        job_topic("site-a", "j"),
        ack_topic("site-a", "c"),
        hold_topic("site-a", "h"),
        live_topic("site-a", "x", "offer"),
        live_topic("site-a", "x", "candidate"),
        live_topic("site-a", "x", "close"),
        snapshot_request_topic("site-a", "r"),
    ]
    for topic in mine:
        assert any(topic_matches_sub(f, topic) for f in filters), topic
        other = topic.replace("site-a", "site-b")
        assert not any(topic_matches_sub(f, other) for f in filters), other
    own_output = (
        progress_topic("site-a", "j"),
        status_topic("site-a"),
        snapshot_reply_topic("site-a", "r"),
    )
    for topic in own_output:
        assert not any(topic_matches_sub(f, topic) for f in filters), topic
    assert agent_snapshot_filter("site-a") == "cctv/v1/sites/site-a/snapshots/+/request"
    for sub_filter in filters:
        assert sub_filter.startswith("cctv/v1/sites/site-a/")


def test_both_way_live_topics_are_subscribed_no_local() -> None:
    subs = [*HUB_SUBSCRIPTIONS, *agent_subscriptions("site-a")]
    both_ways = {sub.filter for sub in subs if sub.filter.endswith(("/candidate", "/close"))}
    assert both_ways
    assert all(sub.no_local for sub in subs if sub.filter in both_ways)
    assert not any(sub.no_local for sub in subs if sub.filter not in both_ways)


def test_topic_objects_are_frozen() -> None:
    topic = StatusTopic("site-a")
    with pytest.raises(AttributeError):
        topic.site = "site-b"  # type: ignore[misc]
