"""MQTT payload models: golden files round-trip, and every kind of bad input is refused clearly."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pydantic import ValidationError

from cctv_common.evidence.signing import key_id, verify
from cctv_common.wire.job_state import JobState
from cctv_common.wire.payloads import (
    MAX_CLIP_OFFER_BYTES,
    MAX_PAYLOAD_BYTES,
    MAX_SNAPSHOT_JPEG_BYTES,
    MAX_SNAPSHOT_REPLY_BYTES,
    PAYLOAD_MODELS,
    CameraStatus,
    ClipAck,
    ClipOffer,
    IceServer,
    InvalidPayload,
    Job,
    JobProgress,
    LiveAnswer,
    LiveCandidate,
    LiveClose,
    LiveOffer,
    Payload,
    SiteStatus,
    SnapshotReply,
    SnapshotRequest,
    model_for,
    offline_status,
    parse_payload,
)
from cctv_common.wire.topics import parse_topic
from tests.support.paths import FIXTURES

GOLDEN = FIXTURES / "mqtt"
T0 = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)

# How tests/fixtures/mqtt/clip_offer.json was made: this key signed the manifest, and the clip is
# these bytes cut into 64 KiB chunks.
GOLDEN_KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
GOLDEN_CLIP = bytes(i % 251 for i in range(200_000))


def golden_path(model: type[Payload]) -> Path:
    snake = re.sub(r"(?<!^)(?=[A-Z])", "_", model.__name__).lower()
    return GOLDEN / f"{snake}.json"


def golden(model: type[Payload]) -> dict[str, Any]:
    value = json.loads(golden_path(model).read_text(encoding="utf-8"))
    assert isinstance(value, dict)
    return value


def as_bytes(value: dict[str, Any]) -> bytes:
    return json.dumps(value, ensure_ascii=False).encode("utf-8")


def with_changes(model: type[Payload], **changes: Any) -> bytes:
    value = golden(model)
    value.update(changes)
    return as_bytes({k: v for k, v in value.items() if v is not ...})


def compact(data: bytes) -> bytes:
    return json.dumps(json.loads(data), separators=(",", ":"), ensure_ascii=False).encode()


# Golden files.


def test_every_payload_model_is_listed() -> None:
    def subclasses(cls: type[Payload]) -> set[type[Payload]]:
        found = set(cls.__subclasses__())
        for sub in list(found):
            found |= subclasses(sub)
        return found

    assert subclasses(Payload) == set(PAYLOAD_MODELS)


@pytest.mark.parametrize("model", PAYLOAD_MODELS, ids=lambda m: m.__name__)
def test_every_model_has_a_golden_file(model: type[Payload]) -> None:
    assert golden_path(model).is_file(), f"add {golden_path(model)}"


def test_no_stray_golden_files() -> None:
    expected = {golden_path(model).name for model in PAYLOAD_MODELS}
    assert {path.name for path in GOLDEN.glob("*.json")} == expected


@pytest.mark.parametrize("model", PAYLOAD_MODELS, ids=lambda m: m.__name__)
def test_golden_round_trip(model: type[Payload]) -> None:
    data = golden_path(model).read_bytes()
    parsed = model.parse(data)
    out = parsed.to_bytes()
    assert json.loads(out) == json.loads(data)
    assert out == compact(out), "to_bytes must be compact JSON"
    assert model.parse(out) == parsed
    assert model.parse(out).to_bytes() == out
    assert model.parse(bytearray(data)) == parsed


@pytest.mark.parametrize("model", PAYLOAD_MODELS, ids=lambda m: m.__name__)
def test_golden_files_use_every_field(model: type[Payload]) -> None:
    # A field not shown in any golden file is a field whose wire form nobody has looked at.
    # (LiveAnswer carries sdp or error, never both: error is checked in test_live_answer_error.)
    unused = set(model.model_fields) - set(golden(model))
    allowed = {
        SiteStatus: set(),
        ClipAck: {"reason", "evidence_sha256"},
        JobProgress: {"error"},
        LiveAnswer: {"error"},
        SnapshotReply: {"error"},
    }.get(model, set())
    assert unused <= allowed


def test_every_field_has_a_description() -> None:
    models: list[type[Any]] = [*PAYLOAD_MODELS, CameraStatus, IceServer]
    for model in models:
        for name, field in model.model_fields.items():
            assert field.description, f"{model.__name__}.{name} has no description"


def test_golden_clip_offer_is_real() -> None:
    offer = ClipOffer.parse(golden_path(ClipOffer).read_bytes())
    verify(GOLDEN_KEY.public_key(), offer.manifest_bytes(), offer.signature)
    assert offer.key_id == key_id(GOLDEN_KEY)
    assert offer.clip_sha256 == hashlib.sha256(GOLDEN_CLIP).hexdigest()
    chunks = [
        GOLDEN_CLIP[i * offer.chunk_size : (i + 1) * offer.chunk_size]
        for i in range(offer.chunk_count)
    ]
    assert [len(c) for c in chunks] == [offer.chunk_length(i) for i in range(offer.chunk_count)]
    assert list(offer.chunk_sha256) == [hashlib.sha256(c).hexdigest() for c in chunks]


def test_clip_offer_keeps_the_signed_bytes_exactly() -> None:
    # The manifest has non-ASCII text; whatever JSON escaping is used on the wire, the string
    # must come back as the very bytes that were signed.
    offer = ClipOffer.parse(golden_path(ClipOffer).read_bytes())
    assert "\u2013" in offer.manifest
    again = ClipOffer.parse(offer.to_bytes())
    assert again.manifest_bytes() == offer.manifest_bytes()
    escaped = json.dumps(json.loads(offer.to_bytes()), ensure_ascii=True).encode("ascii")
    assert ClipOffer.parse(escaped).manifest_bytes() == offer.manifest_bytes()
    verify(GOLDEN_KEY.public_key(), again.manifest_bytes(), again.signature)


# Construction in Python and the last will.


def test_offline_status_is_the_minimal_last_will() -> None:
    will = offline_status("0.1.0")
    status = SiteStatus.parse(will)
    assert status.state == "offline"
    assert status.version == "0.1.0"
    assert status.sent_at is None
    assert SiteStatus.parse(offline_status()).version is None


@pytest.mark.parametrize("data", [b'{"v":1,"state":"offline"}', b'{"state":"offline"}'])
def test_bare_offline_status_parses(data: bytes) -> None:
    assert SiteStatus.parse(data).state == "offline"


def test_times_are_written_in_utc_with_z() -> None:
    plus_one = timezone(timedelta(hours=1))
    progress = JobProgress(
        job_id="j", state=JobState.QUEUED, sent_at=datetime(2024, 3, 1, 14, 0, tzinfo=plus_one)
    )
    assert json.loads(progress.to_bytes())["sent_at"] == "2024-03-01T13:00:00Z"
    parsed = JobProgress.parse(
        b'{"job_id":"j","state":"queued","sent_at":"2024-03-01T14:00:00+01:00"}'
    )
    assert parsed.sent_at == datetime(2024, 3, 1, 13, 0, tzinfo=UTC)
    assert json.loads(parsed.to_bytes())["sent_at"] == "2024-03-01T13:00:00Z"


def test_naive_datetimes_are_refused_in_python_too() -> None:
    with pytest.raises(ValidationError, match="time zone"):
        Job(
            job_id="j",
            camera_id="c",
            start=datetime(2024, 3, 1, 12, 0),
            end=datetime(2024, 3, 1, 12, 5),
            reason="r",
        )


def test_models_are_frozen() -> None:
    status = SiteStatus.parse(offline_status())
    with pytest.raises(ValidationError):
        status.state = "online"


def test_turn_credential_is_not_in_repr() -> None:
    offer = LiveOffer.parse(golden_path(LiveOffer).read_bytes())
    assert "example-not-a-secret" not in repr(offer)
    assert "example-not-a-secret" in offer.to_bytes().decode()


def test_model_for_topic() -> None:
    site = "cctv/v1/sites/site-a"
    assert model_for(parse_topic(f"{site}/status")) is SiteStatus
    assert model_for(parse_topic(f"{site}/jobs/j")) is Job
    assert model_for(parse_topic(f"{site}/jobs/j/progress")) is JobProgress
    assert model_for(parse_topic(f"{site}/clips/c/manifest")) is ClipOffer
    assert model_for(parse_topic(f"{site}/clips/c/ack")) is ClipAck
    assert model_for(parse_topic(f"{site}/clips/c/chunk/3")) is None
    assert model_for(parse_topic(f"{site}/live/s/offer")) is LiveOffer
    assert model_for(parse_topic(f"{site}/live/s/answer")) is LiveAnswer
    assert model_for(parse_topic(f"{site}/live/s/candidate")) is LiveCandidate
    assert model_for(parse_topic(f"{site}/live/s/close")) is LiveClose
    assert model_for(parse_topic(f"{site}/snapshots/r/request")) is SnapshotRequest
    assert model_for(parse_topic(f"{site}/snapshots/r/reply")) is SnapshotReply
    assert parse_payload(parse_topic(f"{site}/status"), offline_status()) == SiteStatus(
        state="offline"
    )
    with pytest.raises(InvalidPayload, match="raw chunk bytes"):
        parse_payload(parse_topic(f"{site}/clips/c/chunk/3"), b"{}")


# Refusals common to every model.


@pytest.mark.parametrize("model", PAYLOAD_MODELS, ids=lambda m: m.__name__)
@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "not UTF-8 JSON"),
        (b"{", "not UTF-8 JSON"),
        (b"\xff\xfe{}", "not UTF-8 JSON"),
        (b"[]", "not a JSON object"),
        (b'"offline"', "not a JSON object"),
        (b"null", "not a JSON object"),
        (b'{"v":2}', "version 2 is not supported"),
        (b'{"v":0}', "version 0 is not supported"),
        (b'{"v":"1"}', "version '1' is not supported"),
        (b'{"v":1.0}', "version 1.0 is not supported"),
        (b'{"v":true}', "version True is not supported"),
    ],
)
def test_bad_envelopes_are_refused(model: type[Payload], data: bytes, reason: str) -> None:
    with pytest.raises(InvalidPayload, match=re.escape(reason)) as caught:
        model.parse(data)
    assert str(caught.value).startswith(model.__name__)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(
    "data",
    [
        b'{"state":"online","state":"offline"}',
        b'{"state":"online","cameras":[{"camera_id":"a","camera_id":"b","state":"stopped"}]}',
    ],
)
def test_duplicate_keys_are_refused(data: bytes) -> None:
    with pytest.raises(InvalidPayload, match="twice"):
        SiteStatus.parse(data)


@pytest.mark.parametrize("model", PAYLOAD_MODELS, ids=lambda m: m.__name__)
def test_extra_fields_are_refused(model: type[Payload]) -> None:
    with pytest.raises(InvalidPayload, match="surprise: Extra inputs are not permitted"):
        model.parse(with_changes(model, surprise=1))


@pytest.mark.parametrize("model", PAYLOAD_MODELS, ids=lambda m: m.__name__)
def test_oversized_payloads_are_refused_before_parsing(model: type[Payload]) -> None:
    data = b" " * (model.MAX_BYTES + 1)
    with pytest.raises(InvalidPayload, match=f"{model.MAX_BYTES + 1} bytes, over"):
        model.parse(data)


def test_size_limits() -> None:
    assert SiteStatus.MAX_BYTES == MAX_PAYLOAD_BYTES == 256 * 1024
    assert ClipOffer.MAX_BYTES == MAX_CLIP_OFFER_BYTES
    assert SnapshotReply.MAX_BYTES == MAX_SNAPSHOT_REPLY_BYTES == 8 * 1024 * 1024
    assert SnapshotRequest.MAX_BYTES == MAX_PAYLOAD_BYTES
    padded = with_changes(LiveClose, reason="x" * 400)
    assert LiveClose.parse(padded + b" " * (MAX_PAYLOAD_BYTES - len(padded))).reason


@pytest.mark.parametrize(
    ("model", "field", "value"),
    [
        (SiteStatus, "sent_at", "2024-03-01T12:00:00"),
        (Job, "start", "2024-03-01T11:00:00"),
        (Job, "end", "2024-03-01 12:05:00"),
        (JobProgress, "sent_at", "2024-03-01T12:06:03"),
    ],
)
def test_naive_times_are_refused(model: type[Payload], field: str, value: str) -> None:
    with pytest.raises(InvalidPayload, match=f"{field}: time must carry a time zone"):
        model.parse(with_changes(model, **{field: value}))


@pytest.mark.parametrize("value", [1709294400, "yesterday", "2024-13-01T00:00:00Z", None])
def test_times_must_be_iso_strings(value: object) -> None:
    with pytest.raises(InvalidPayload, match="sent_at"):
        JobProgress.parse(with_changes(JobProgress, sent_at=value))


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("percent", "50"),
        ("percent", 50.0),
        ("percent", 101),
        ("percent", -1),
        ("percent", True),
        ("state", "done"),
        ("job_id", 42),
    ],
)
def test_field_types_are_strict(field: str, value: object) -> None:
    with pytest.raises(InvalidPayload, match=field):
        JobProgress.parse(with_changes(JobProgress, **{field: value}))


@pytest.mark.parametrize("bad", ["../x", "a/b", "+", "#", "", "x" * 65, "a b", "a\n"])
@pytest.mark.parametrize(
    ("model", "field"),
    [
        (Job, "job_id"),
        (Job, "camera_id"),
        (JobProgress, "clip_id"),
        (ClipOffer, "clip_id"),
        (ClipAck, "clip_id"),
        (LiveOffer, "session_id"),
        (LiveOffer, "camera_id"),
        (LiveClose, "session_id"),
        (SnapshotRequest, "request_id"),
        (SnapshotRequest, "camera_id"),
        (SnapshotReply, "request_id"),
        (SnapshotReply, "camera_id"),
    ],
)
def test_path_tricks_in_ids_are_refused(model: type[Payload], field: str, bad: str) -> None:
    with pytest.raises(InvalidPayload, match=f"{field}: .* id .* is not allowed"):
        model.parse(with_changes(model, **{field: bad}))


def test_bad_camera_id_in_status_names_the_path() -> None:
    status = golden(SiteStatus)
    status["cameras"][1]["camera_id"] = "../cam"
    with pytest.raises(InvalidPayload, match=r"cameras\.1\.camera_id: camera id '\.\./cam'"):
        SiteStatus.parse(as_bytes(status))


# Site status.


def test_status_refuses_duplicate_cameras_and_reversed_buffers() -> None:
    status = golden(SiteStatus)
    status["cameras"][1]["camera_id"] = status["cameras"][0]["camera_id"]
    with pytest.raises(InvalidPayload, match="more than once"):
        SiteStatus.parse(as_bytes(status))
    status = golden(SiteStatus)
    status["cameras"][0]["buffer_start"] = "2024-03-02T00:00:00Z"
    with pytest.raises(InvalidPayload, match="buffer_end is before buffer_start"):
        SiteStatus.parse(as_bytes(status))


@pytest.mark.parametrize("value", ["NaN", "Infinity", "1e400"])
def test_status_refuses_non_finite_offsets(value: str) -> None:
    data = b'{"state":"online","clock_offset_seconds":' + value.encode() + b"}"
    with pytest.raises(InvalidPayload, match="clock_offset_seconds"):
        SiteStatus.parse(data)


def test_status_refuses_negative_disk() -> None:
    with pytest.raises(InvalidPayload, match="disk_free_bytes"):
        SiteStatus.parse(with_changes(SiteStatus, disk_free_bytes=-1))


# Jobs.


def test_job_defaults() -> None:
    job = Job.parse(with_changes(Job, priority=..., requested_by=...))
    assert job.priority == 5
    assert job.requested_by is None


@pytest.mark.parametrize("priority", [-1, 10])
def test_job_priority_bounds(priority: int) -> None:
    with pytest.raises(InvalidPayload, match="priority"):
        Job.parse(with_changes(Job, priority=priority))


def test_job_window_must_not_be_empty_or_reversed() -> None:
    with pytest.raises(InvalidPayload, match="end 2024-03-01T12:00:00Z is not after start"):
        Job.parse(with_changes(Job, end="2024-03-01T12:00:00Z"))
    with pytest.raises(InvalidPayload, match="is not after start"):
        Job.parse(with_changes(Job, end="2024-03-01T11:00:00Z"))


def test_job_window_at_most_24_hours() -> None:
    assert Job.parse(with_changes(Job, end="2024-03-02T12:00:00Z"))
    with pytest.raises(InvalidPayload, match="over the 24 h limit"):
        Job.parse(with_changes(Job, end="2024-03-02T12:00:01Z"))


def test_job_reason_length() -> None:
    assert Job.parse(with_changes(Job, reason="r" * 500))
    with pytest.raises(InvalidPayload, match="reason"):
        Job.parse(with_changes(Job, reason="r" * 501))


def test_failed_progress_needs_an_error() -> None:
    with pytest.raises(InvalidPayload, match="must say why"):
        JobProgress.parse(with_changes(JobProgress, state="failed"))
    failed = JobProgress.parse(with_changes(JobProgress, state="failed", error="no footage"))
    assert failed.error == "no footage"


# Clip offer.


def test_chunk_count_must_match_clip_size() -> None:
    with pytest.raises(InvalidPayload, match=r"does not match ceil\(clip_bytes / chunk_size\) = 4"):
        ClipOffer.parse(with_changes(ClipOffer, chunk_count=3))


def test_chunk_hash_list_must_match_count() -> None:
    hashes = golden(ClipOffer)["chunk_sha256"]
    with pytest.raises(InvalidPayload, match="chunk_sha256 has 3 entries, chunk_count is 4"):
        ClipOffer.parse(with_changes(ClipOffer, chunk_sha256=hashes[:3]))


@pytest.mark.parametrize("chunk_size", [64 * 1024 - 1, 8 * 1024 * 1024 + 1])
def test_chunk_size_bounds(chunk_size: int) -> None:
    with pytest.raises(InvalidPayload, match="chunk_size"):
        ClipOffer.parse(with_changes(ClipOffer, chunk_size=chunk_size))


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("clip_sha256", "E24BC62381F1224FBBB74688663F8F9743B9680B193EDD666835E97B06E730EB"),
        ("clip_sha256", "e24bc6"),
        ("chunk_sha256", ["zz" * 32] * 4),
        ("clip_bytes", 0),
        ("key_id", "not-hex"),
        ("signature", "not base64!"),
        ("signature", base64.b64encode(b"short").decode()),
    ],
)
def test_clip_offer_field_checks(field: str, value: object) -> None:
    with pytest.raises(InvalidPayload, match=field):
        ClipOffer.parse(with_changes(ClipOffer, **{field: value}))


def test_chunk_length() -> None:
    offer = ClipOffer.parse(golden_path(ClipOffer).read_bytes())
    assert offer.chunk_length(0) == 65536
    assert offer.chunk_length(3) == 200_000 - 3 * 65536
    with pytest.raises(IndexError):
        offer.chunk_length(4)


# Clip ack.


@pytest.mark.parametrize(
    "held",
    [[[3, 1]], [[0, 2], [2, 3]], [[5, 6], [0, 1]], [[-1, 0]], [[0, 1_000_001]], [[0, 1, 2]], [0]],
)
def test_ack_refuses_bad_ranges(held: object) -> None:
    with pytest.raises(InvalidPayload, match="held"):
        ClipAck.parse(with_changes(ClipAck, held=held))


def test_ack_rules() -> None:
    with pytest.raises(InvalidPayload, match="must say why"):
        ClipAck.parse(with_changes(ClipAck, state="rejected"))
    with pytest.raises(InvalidPayload, match="evidence_sha256"):
        ClipAck.parse(with_changes(ClipAck, state="stored"))
    stored = ClipAck.parse(
        with_changes(ClipAck, state="stored", held=[[0, 3]], missing=..., evidence_sha256="a" * 64)
    )
    assert stored.missing is None
    assert stored.held == ((0, 3),)


# Live signalling.


def test_live_answer_error() -> None:
    answer = LiveAnswer.parse(b'{"session_id":"s","error":"camera busy"}')
    assert answer.sdp is None
    with pytest.raises(InvalidPayload, match="either sdp or error"):
        LiveAnswer.parse(b'{"session_id":"s"}')
    with pytest.raises(InvalidPayload, match="either sdp or error"):
        LiveAnswer.parse(b'{"session_id":"s","sdp":"v=0","error":"x"}')


def test_ice_server_urls_are_checked() -> None:
    with pytest.raises(InvalidPayload, match=r"ice_servers\.0\.urls\.0"):
        LiveOffer.parse(with_changes(LiveOffer, ice_servers=[{"urls": ["http://x"]}]))
    with pytest.raises(InvalidPayload, match=r"ice_servers\.0\.urls"):
        LiveOffer.parse(with_changes(LiveOffer, ice_servers=[{"urls": []}]))


def test_end_of_candidates_is_an_empty_candidate() -> None:
    end = LiveCandidate.parse(b'{"session_id":"s","candidate":""}')
    assert end.candidate == ""
    assert end.sdp_mid is None


# Snapshots.


def test_snapshot_reply_carries_the_jpeg() -> None:
    reply = SnapshotReply.parse(golden_path(SnapshotReply).read_bytes())
    image = reply.jpeg()
    assert image is not None and image.startswith(b"\xff\xd8")
    made = SnapshotReply.with_image(
        reply.request_id,
        reply.camera_id,
        image,
        "onvif",
        datetime(2024, 3, 1, 12, 0, 3, tzinfo=UTC),
    )
    assert made == reply
    assert made.to_bytes() == compact(golden_path(SnapshotReply).read_bytes())


def test_snapshot_reply_error() -> None:
    reply = SnapshotReply.parse(
        b'{"request_id":"r","camera_id":"c","error":"camera c does not answer"}'
    )
    assert reply.jpeg() is None and reply.source is None
    with pytest.raises(InvalidPayload, match="either jpeg_b64 or error"):
        SnapshotReply.parse(b'{"request_id":"r","camera_id":"c"}')
    with pytest.raises(InvalidPayload, match="either jpeg_b64 or error"):
        SnapshotReply.parse(with_changes(SnapshotReply, error="x"))


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"jpeg_b64": "not base64!"}, "not base64"),
        ({"jpeg_b64": base64.b64encode(b"GIF89a....").decode()}, "not a JPEG"),
        ({"source": ...}, "must say its source"),
        ({"taken_at": ...}, "must say its source and taken_at"),
        ({"source": "file"}, "source"),
        ({"taken_at": "2024-03-01T12:00:03"}, "time zone"),
    ],
)
def test_snapshot_reply_checks(changes: dict[str, Any], reason: str) -> None:
    with pytest.raises(InvalidPayload, match=reason):
        SnapshotReply.parse(with_changes(SnapshotReply, **changes))


def test_snapshot_reply_size_limits() -> None:
    big = b"\xff\xd8" + bytes(MAX_SNAPSHOT_JPEG_BYTES - 2)
    at = datetime(2024, 3, 1, tzinfo=UTC)
    largest = SnapshotReply.with_image("r", "c", big, "rtsp-keyframe", at)
    data = largest.to_bytes()
    assert MAX_PAYLOAD_BYTES < len(data) <= MAX_SNAPSHOT_REPLY_BYTES
    assert SnapshotReply.parse(data) == largest
    with pytest.raises(ValidationError, match="over"):
        SnapshotReply.with_image("r", "c", big + b"\x00", "onvif", at)
