"""Hub-signed messages: only the hub's key, for this very topic, opens them; no unsigned form."""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import UTC, datetime, timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from cctv_common.evidence.signing import key_id, verify
from cctv_common.wire.hub_signing import (
    DOMAIN,
    HubSigner,
    HubVerifier,
    UntrustedMessage,
    signed_bytes,
)
from cctv_common.wire.payloads import ClipAck, HubSigned, InvalidPayload, Job
from cctv_common.wire.topics import ack_topic, job_topic
from tests.support.paths import FIXTURES

GOLDEN = FIXTURES / "mqtt"
# How tests/fixtures/mqtt/hub_signed.json was made: this key sealed job.json (before its
# "source" field) for site high-street.
GOLDEN_HUB_KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32, 64)))
HUB_KEY = Ed25519PrivateKey.generate()
T0 = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)
SHA = "ab" * 32


def job(job_id: str = "job-1") -> Job:
    return Job(
        job_id=job_id,
        camera_id="cam-1",
        start=T0,
        end=T0 + timedelta(minutes=1),
        reason="crime ref 1",
    )


def ack(clip_id: str = "clip-1", state: str = "stored") -> ClipAck:
    return ClipAck.model_validate(
        {
            "clip_id": clip_id,
            "offer_sha256": SHA,
            "state": state,
            "held": ((0, 3),),
            "evidence_sha256": SHA if state == "stored" else None,
            "reason": "bad" if state == "rejected" else None,
        }
    )


def test_golden_hub_signed_is_a_real_signature() -> None:
    data = (GOLDEN / "hub_signed.json").read_bytes()
    opened = HubVerifier(GOLDEN_HUB_KEY.public_key()).open(
        job_topic("high-street", "job-0042"), data, Job
    )
    # The golden was sealed before jobs could name their source: an older hub's job still opens.
    fields = json.loads((GOLDEN / "job.json").read_bytes())
    del fields["source"]
    assert opened == Job.parse(json.dumps(fields).encode())


def test_seal_and_open_round_trip() -> None:
    topic = job_topic("site-a", "job-1")
    sealed = HubSigner(HUB_KEY).seal(topic, job())
    assert HubVerifier(HUB_KEY.public_key()).open(topic, sealed, Job) == job()
    envelope = HubSigned.parse(sealed)
    assert envelope.key_id == key_id(HUB_KEY)
    # What is signed: the domain line, the topic, the body's exact bytes.
    verify(
        HUB_KEY.public_key(), DOMAIN + topic.encode() + b"\n" + job().to_bytes(), envelope.signature
    )
    assert signed_bytes(topic, job().to_bytes()).startswith(b"cctv/v1 hub-signed\n")


@pytest.mark.parametrize(
    "other_topic",
    [
        job_topic("site-b", "job-1"),  # the same job moved to another site
        job_topic("site-a", "job-2"),  # ... or to another job
    ],
)
def test_a_genuine_job_moved_to_another_topic_is_refused(other_topic: str) -> None:
    sealed = HubSigner(HUB_KEY).seal(job_topic("site-a", "job-1"), job())
    with pytest.raises(UntrustedMessage, match="does not verify"):
        HubVerifier(HUB_KEY.public_key()).open(other_topic, sealed, Job)


def test_a_genuine_stored_ack_for_one_clip_does_not_open_for_another() -> None:
    sealed = HubSigner(HUB_KEY).seal(ack_topic("site-a", "clip-1"), ack("clip-1"))
    with pytest.raises(UntrustedMessage):
        HubVerifier(HUB_KEY.public_key()).open(ack_topic("site-a", "clip-2"), sealed, ClipAck)


def test_unsigned_old_format_messages_are_refused() -> None:
    verifier = HubVerifier(HUB_KEY.public_key())
    with pytest.raises(UntrustedMessage, match="not a hub-signed message"):
        verifier.open(job_topic("site-a", "job-1"), job().to_bytes(), Job)
    with pytest.raises(UntrustedMessage, match="not a hub-signed message"):
        verifier.open(ack_topic("site-a", "clip-1"), ack().to_bytes(), ClipAck)


def test_a_message_signed_by_another_key_is_refused() -> None:
    forger = Ed25519PrivateKey.generate()
    topic = ack_topic("site-a", "clip-1")
    sealed = HubSigner(forger).seal(topic, ack())
    with pytest.raises(UntrustedMessage, match="not by the hub's key"):
        HubVerifier(HUB_KEY.public_key()).open(topic, sealed, ClipAck)
    # Claiming the hub's key id does not help: the signature is checked with the hub's key.
    envelope = json.loads(sealed)
    envelope["key_id"] = key_id(HUB_KEY)
    with pytest.raises(UntrustedMessage, match="does not verify"):
        HubVerifier(HUB_KEY.public_key()).open(topic, json.dumps(envelope).encode(), ClipAck)


def test_an_edited_body_is_refused() -> None:
    topic = ack_topic("site-a", "clip-1")
    envelope = json.loads(HubSigner(HUB_KEY).seal(topic, ack(state="rejected")))
    envelope["body"] = ack(state="stored").to_bytes().decode()
    with pytest.raises(UntrustedMessage, match="does not verify"):
        HubVerifier(HUB_KEY.public_key()).open(topic, json.dumps(envelope).encode(), ClipAck)


def test_an_agent_without_the_hub_key_trusts_nothing() -> None:
    topic = job_topic("site-a", "job-1")
    sealed = HubSigner(HUB_KEY).seal(topic, job())
    with pytest.raises(UntrustedMessage, match="no hub public key"):
        HubVerifier(None).open(topic, sealed, Job)


def test_a_signed_body_of_the_wrong_model_is_invalid() -> None:
    topic = job_topic("site-a", "job-1")
    sealed = HubSigner(HUB_KEY).seal(topic, ack())
    with pytest.raises(InvalidPayload, match="Job payload"):
        HubVerifier(HUB_KEY.public_key()).open(topic, sealed, Job)


def test_a_bad_signature_field_is_invalid() -> None:
    envelope = json.loads(HubSigner(HUB_KEY).seal(job_topic("s", "j"), job()))
    envelope["signature"] = base64.b64encode(b"x" * 63).decode()
    with pytest.raises(InvalidPayload, match="63 bytes"):
        HubSigned.parse(json.dumps(envelope).encode())


def test_ack_names_the_offer_it_answers() -> None:
    offer = (GOLDEN / "clip_offer.json").read_bytes()
    golden_ack = ClipAck.parse((GOLDEN / "clip_ack.json").read_bytes())
    assert golden_ack.offer_sha256 == hashlib.sha256(offer).hexdigest()
    with pytest.raises(InvalidPayload, match="offer_sha256"):
        ClipAck.parse(b'{"clip_id":"c","state":"receiving"}')
