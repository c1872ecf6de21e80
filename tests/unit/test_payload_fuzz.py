"""Property-based fuzzing of every MQTT payload model (hypothesis).

For every model in ``PAYLOAD_MODELS``:

- ``parse`` never raises anything but ``InvalidPayload``: not for random bytes, not for a golden
  payload with any field (or a new one) replaced by any JSON value, not for the hostile shapes an
  attacker sends on purpose (deep nesting, 5,000-digit numbers, huge strings, times out of range,
  lone surrogates), and its reason is one bounded line;
- whatever parses round-trips: ``parse(x.to_bytes()) == x`` and ``to_bytes`` is then stable;
- valid payloads built from each model's own rules parse and round-trip.

Deterministic (``derandomize``) so that a run under load finds the same cases, and without
hypothesis's per-example deadline, which is a wall-clock assertion.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import string
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, Final

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cctv_common.wire.payloads import (
    MAX_CHUNK_SIZE,
    MIN_CHUNK_SIZE,
    PAYLOAD_MODELS,
    CameraEvents,
    ClipAck,
    ClipOffer,
    HoldOrder,
    HubSigned,
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
    UplinkCap,
)
from tests.support.paths import FIXTURES

GOLDEN: Final = FIXTURES / "mqtt"
# A reason names what is wrong without echoing the input: it stays one short line.
MAX_REASON_LINE: Final = 700

FUZZ = settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def golden(model: type[Payload]) -> dict[str, Any]:
    snake = re.sub(r"(?<!^)(?=[A-Z])", "_", model.__name__).lower()
    value = json.loads((GOLDEN / f"{snake}.json").read_text(encoding="utf-8"))
    assert isinstance(value, dict)
    return value


def encode(value: Any) -> bytes:
    # ensure_ascii: a lone surrogate travels as a \ud800 escape, as a hostile sender would send it.
    return json.dumps(value, ensure_ascii=True, allow_nan=True).encode("ascii")


def check_parse(model: type[Payload], data: bytes) -> None:
    """The property: InvalidPayload (one bounded line) or a payload that round-trips."""
    try:
        parsed = model.parse(data)
    except InvalidPayload as exc:
        reason = str(exc)
        assert "\n" not in reason and len(reason) <= MAX_REASON_LINE, reason[:200]
        return
    out = parsed.to_bytes()
    again = model.parse(out)
    assert again == parsed
    assert again.to_bytes() == out


# Any JSON value, including the awkward corners of Python's json module.

json_leaves = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=2**62, max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=40)
    | st.sampled_from(
        [
            "",
            "2024-03-01T12:00:00Z",
            "2024-03-01T12:00:00",
            "0001-01-01T00:00:00+01:00",
            "9999-12-31T23:59:59-01:00",
            "a" * 64,
            "ab" * 32,
            "\ud800",
            "cam-1",
            "rejected",
            "stored",
        ]
    )
)
json_values = st.recursive(
    json_leaves,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=12,
)

# Shapes an attacker sends on purpose; spliced in as raw JSON text.
HOSTILE: Final = [
    "[" * 50_000 + "]" * 50_000,
    '{"a":' * 20_000 + "1" + "}" * 20_000,
    "9" * 5_000,
    "-" + "9" * 5_000,
    "1" + "0" * 4_400 + ".5",
    "1e400",
    "-1e400",
    "NaN",
    "Infinity",
    '"' + "x" * 300_000 + '"',
    '"' + "\\ud800" * 10 + '"',
    '"\\u0000"',
    '"0001-01-01T00:00:00+01:00"',
    '"9999-12-31T23:59:59-01:00"',
    "[]",
    "{}",
    "true",
    "null",
    "-0",
    "1.0",
]


@pytest.mark.parametrize("model", PAYLOAD_MODELS, ids=lambda m: m.__name__)
@FUZZ
@given(data=st.binary(max_size=2_000))
def test_random_bytes_never_escape(model: type[Payload], data: bytes) -> None:
    check_parse(model, data)


@pytest.mark.parametrize("model", PAYLOAD_MODELS, ids=lambda m: m.__name__)
@FUZZ
@given(data=st.data())
def test_any_field_replaced_by_any_json_never_escapes(model: type[Payload], data: Any) -> None:
    value = golden(model)
    keys = [*sorted(value), "surprise"]
    for _ in range(data.draw(st.integers(min_value=1, max_value=3))):
        key = data.draw(st.sampled_from(keys))
        value[key] = data.draw(json_values)
    check_parse(model, encode(value))


@pytest.mark.parametrize("model", PAYLOAD_MODELS, ids=lambda m: m.__name__)
@pytest.mark.parametrize("shape", range(len(HOSTILE)), ids=lambda i: HOSTILE[i][:12])
def test_hostile_shapes_in_every_field_never_escape(model: type[Payload], shape: int) -> None:
    value = golden(model)
    for key in [*sorted(value), "surprise"]:
        fields = [f"{json.dumps(k)}:{json.dumps(v)}" for k, v in value.items() if k != key]
        fields.append(f"{json.dumps(key)}:{HOSTILE[shape]}")
        check_parse(model, ("{" + ",".join(fields) + "}").encode("utf-8"))
    # ... and as the whole payload.
    check_parse(model, HOSTILE[shape].encode("utf-8"))


# Valid payloads, built from each model's rules, parse and round-trip.

ids = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}", fullmatch=True)
sha256s = st.binary(min_size=1, max_size=8).map(lambda b: hashlib.sha256(b).hexdigest())
zones = st.sampled_from(
    [UTC, timezone(timedelta(hours=5, minutes=30)), timezone(-timedelta(hours=8))]
)
moments = st.datetimes(
    min_value=datetime(1971, 1, 1), max_value=datetime(2200, 1, 1), timezones=zones
)
texts = st.text(max_size=60)
ascii_texts = st.text(string.printable, max_size=60)
signatures = st.binary(min_size=64, max_size=64).map(lambda b: base64.b64encode(b).decode())
key_ids = st.binary(min_size=8, max_size=8).map(bytes.hex)


def iso(moment: datetime) -> str:
    return moment.isoformat()


def optional(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.none() | strategy


def without_none(value: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in value.items() if v is not None}


@st.composite
def ranges(draw: st.DrawFn, last: int = 1_000) -> list[list[int]]:
    points = sorted(draw(st.sets(st.integers(0, last), max_size=8)))
    pairs = [points[i : i + 2] for i in range(0, len(points) - 1, 2)]
    return [[a, b] for a, b in pairs if a < b or a == b]


@st.composite
def camera_statuses(draw: st.DrawFn, camera_id: str) -> dict[str, Any]:
    start = draw(optional(moments))
    end = None if start is None else start + draw(st.timedeltas(timedelta(0), timedelta(days=40)))
    return without_none(
        {
            "camera_id": camera_id,
            "state": draw(st.sampled_from(["recording", "reconnecting", "stopped", "error"])),
            "buffer_start": None if start is None else iso(start),
            "buffer_end": None if end is None else iso(end),
            "codec": draw(optional(st.sampled_from(["h264", "h265", "hevc"]))),
            "width": draw(optional(st.integers(1, 16384))),
            "height": draw(optional(st.integers(1, 16384))),
            "clock_offset_seconds": draw(optional(st.floats(-3600, 3600))),
            "last_error": draw(optional(texts)),
            "live_codec": draw(optional(st.just("h264"))),
        }
    )


@st.composite
def site_statuses(draw: st.DrawFn) -> dict[str, Any]:
    camera_ids = draw(st.lists(ids, max_size=3, unique=True))
    return without_none(
        {
            "state": draw(st.sampled_from(["online", "offline"])),
            "version": draw(optional(st.text(max_size=50))),
            "sent_at": draw(optional(moments.map(iso))),
            "cameras": [draw(camera_statuses(camera)) for camera in camera_ids],
            "disk_free_bytes": draw(optional(st.integers(0, 2**63 - 1))),
            "disk_used_bytes": draw(optional(st.integers(0, 2**63 - 1))),
            "clock_offset_seconds": draw(optional(st.floats(-86400, 86400))),
            "holds": draw(optional(st.lists(held_windows(), max_size=3))),
        }
    )


@st.composite
def held_windows(draw: st.DrawFn) -> dict[str, Any]:
    start = draw(moments)
    end = start + draw(st.timedeltas(timedelta(microseconds=1), timedelta(days=2)))
    return {
        "hold_id": draw(ids),
        "camera_id": draw(ids),
        "window_start": iso(start),
        "window_end": iso(end),
    }


@st.composite
def hold_orders(draw: st.DrawFn) -> dict[str, Any]:
    held = draw(held_windows())
    return {
        **held,
        "reason_ref": draw(st.text(max_size=100)),
        "placed_at": iso(draw(moments)),
        "lifted": draw(st.booleans()),
    }


@st.composite
def uplink_caps(draw: st.DrawFn) -> dict[str, Any]:
    clock = st.builds(lambda h, m: f"{h:02d}:{m:02d}", st.integers(0, 23), st.integers(0, 59))
    window = st.fixed_dictionaries(
        {
            "days": st.sampled_from(["mon-fri", "sat,sun", "daily", "fri-mon", "wed"]),
            "start": clock,
            "end": clock,
            "mbps": st.floats(0.1, 1000),
        }
    ).filter(lambda w: w["start"] != w["end"])
    return without_none(
        {
            "max_mbps": draw(optional(st.floats(0.1, 100_000))),
            "windows": draw(st.lists(window, max_size=4)),
            "set_at": iso(draw(moments)),
            "set_by": draw(st.text(max_size=128)),
            "cleared": draw(st.booleans()),
        }
    )


@st.composite
def jobs(draw: st.DrawFn) -> dict[str, Any]:
    start = draw(moments)
    end = start + draw(st.timedeltas(timedelta(microseconds=1), timedelta(hours=24)))
    return without_none(
        {
            "job_id": draw(ids),
            "camera_id": draw(ids),
            "start": iso(start),
            "end": iso(end),
            "priority": draw(st.integers(0, 9)),
            "reason": draw(st.text(max_size=500)),
            "requested_by": draw(optional(st.text(max_size=200))),
        }
    )


@st.composite
def progresses(draw: st.DrawFn) -> dict[str, Any]:
    state = draw(st.sampled_from(["queued", "cutting", "uploading", "stored", "failed"]))
    return without_none(
        {
            "job_id": draw(ids),
            "state": state,
            "percent": draw(st.integers(0, 100)),
            "clip_id": draw(optional(ids)),
            "error": draw(st.text(min_size=1, max_size=100))
            if state == "failed"
            else draw(optional(texts)),
            "sent_at": iso(draw(moments)),
        }
    )


@st.composite
def offers(draw: st.DrawFn) -> dict[str, Any]:
    chunk_size = draw(st.integers(MIN_CHUNK_SIZE, MAX_CHUNK_SIZE))
    count = draw(st.integers(1, 5))
    clip_bytes = draw(st.integers((count - 1) * chunk_size + 1, count * chunk_size))
    return {
        "clip_id": draw(ids),
        "job_id": draw(ids),
        "manifest": draw(st.text(min_size=2, max_size=200)),
        "signature": draw(signatures),
        "key_id": draw(key_ids),
        "clip_bytes": clip_bytes,
        "clip_sha256": draw(sha256s),
        "chunk_size": chunk_size,
        "chunk_count": count,
        "chunk_sha256": [draw(sha256s) for _ in range(count)],
    }


@st.composite
def acks(draw: st.DrawFn) -> dict[str, Any]:
    state = draw(st.sampled_from(["receiving", "stored", "rejected"]))
    return without_none(
        {
            "clip_id": draw(ids),
            "offer_sha256": draw(sha256s),
            "state": state,
            "held": draw(ranges()),
            "missing": draw(optional(ranges())),
            "reason": draw(st.text(min_size=1, max_size=500)) if state == "rejected" else None,
            "evidence_sha256": draw(sha256s) if state == "stored" else draw(optional(sha256s)),
        }
    )


@st.composite
def live_offers(draw: st.DrawFn) -> dict[str, Any]:
    servers = draw(
        st.lists(
            st.builds(
                lambda urls, user, credential: without_none(
                    {"urls": urls, "username": user, "credential": credential}
                ),
                st.lists(
                    st.sampled_from(["stun:", "turn:", "turns:"]).flatmap(
                        lambda scheme: ascii_texts.map(lambda rest: scheme + rest)
                    ),
                    min_size=1,
                    max_size=3,
                ),
                optional(st.text(max_size=50)),
                optional(st.text(max_size=50)),
            ),
            max_size=3,
        )
    )
    return {
        "session_id": draw(ids),
        "camera_id": draw(ids),
        "sdp": draw(st.text(min_size=1, max_size=300)),
        "ice_servers": servers,
    }


@st.composite
def live_answers(draw: st.DrawFn) -> dict[str, Any]:
    text = draw(st.text(min_size=1, max_size=300))
    key = draw(st.sampled_from(["sdp", "error"]))
    return {"session_id": draw(ids), key: text}


@st.composite
def candidates(draw: st.DrawFn) -> dict[str, Any]:
    return without_none(
        {
            "session_id": draw(ids),
            "candidate": draw(st.text(max_size=200)),
            "sdp_mid": draw(optional(st.text(max_size=64))),
            "sdp_mline_index": draw(optional(st.integers(0, 1000))),
        }
    )


@st.composite
def closes(draw: st.DrawFn) -> dict[str, Any]:
    return without_none({"session_id": draw(ids), "reason": draw(optional(texts))})


@st.composite
def snapshot_requests(draw: st.DrawFn) -> dict[str, Any]:
    return {"request_id": draw(ids), "camera_id": draw(ids)}


@st.composite
def snapshot_replies(draw: st.DrawFn) -> dict[str, Any]:
    base = {"request_id": draw(ids), "camera_id": draw(ids)}
    if draw(st.booleans()):
        return {**base, "error": draw(st.text(min_size=0, max_size=100))}
    jpeg = b"\xff\xd8" + draw(st.binary(max_size=300))
    return {
        **base,
        "jpeg_b64": base64.b64encode(jpeg).decode(),
        "source": draw(st.sampled_from(["onvif", "rtsp-keyframe"])),
        "taken_at": iso(draw(moments)),
    }


@st.composite
def hub_signed(draw: st.DrawFn) -> dict[str, Any]:
    return {
        "body": draw(st.text(min_size=2, max_size=300)),
        "key_id": draw(key_ids),
        "signature": draw(signatures),
    }


@st.composite
def camera_events(draw: st.DrawFn) -> dict[str, Any]:
    event_ids = draw(
        st.lists(st.text("0123456789abcdef", min_size=32, max_size=32), min_size=1, max_size=5).map(
            lambda found: sorted(set(found))
        )
    )
    keys = st.text(string.ascii_letters + string.digits + "_.:-", min_size=1, max_size=64)
    return {
        "events": [
            {
                "event_id": event_id,
                "camera_id": draw(ids),
                "at": iso(draw(moments)),
                "kind": draw(st.sampled_from(["motion", "tamper"])),
                "active": draw(st.booleans()),
                "topic": draw(st.text(min_size=1, max_size=200)),
                "data": draw(st.dictionaries(keys, st.text(max_size=200), max_size=16)),
            }
            for event_id in event_ids
        ],
        "sent_at": iso(draw(moments)),
    }


VALID: Final[dict[type[Payload], st.SearchStrategy[dict[str, Any]]]] = {
    SiteStatus: site_statuses(),
    Job: jobs(),
    JobProgress: progresses(),
    ClipOffer: offers(),
    ClipAck: acks(),
    LiveOffer: live_offers(),
    LiveAnswer: live_answers(),
    LiveCandidate: candidates(),
    LiveClose: closes(),
    SnapshotRequest: snapshot_requests(),
    SnapshotReply: snapshot_replies(),
    HubSigned: hub_signed(),
    CameraEvents: camera_events(),
    HoldOrder: hold_orders(),
    UplinkCap: uplink_caps(),
}


def test_every_model_has_a_valid_strategy() -> None:
    assert set(VALID) == set(PAYLOAD_MODELS)


@pytest.mark.parametrize("model", PAYLOAD_MODELS, ids=lambda m: m.__name__)
@FUZZ
@given(data=st.data())
def test_valid_payloads_parse_and_round_trip(model: type[Payload], data: Any) -> None:
    value = data.draw(VALID[model])
    encoded = json.dumps(value, ensure_ascii=False).encode("utf-8", errors="surrogatepass")
    try:
        parsed = model.parse(encoded)
    except InvalidPayload as exc:
        # Text strategies may draw lone surrogates, which are not UTF-8: the only allowed refusal.
        assert any("\ud800" <= ch <= "\udfff" for ch in json.dumps(value)), str(exc)
        return
    out = parsed.to_bytes()
    assert model.parse(out) == parsed
    assert model.parse(out).to_bytes() == out
    # Times travel as UTC with a Z, whatever zone they were sent in.
    for moment in re.findall(rb'"(\d{4}-\d\d-\d\dT[^"]*)"', out):
        assert moment.endswith(b"Z"), moment
