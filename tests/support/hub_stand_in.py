"""A hub stand-in for agent tests, with paho on a real broker, following docs/upload-protocol.md:
it answers an offer with what it holds and wants, checks every chunk's SHA-256, acks every 16
chunks and 0.5 s after the last one, and acks ``stored`` once the whole clip's SHA-256 matches. It
can drop chosen chunks the first time they arrive (to force resends) and can stop taking chunks
half-way (so the agent can be killed mid-upload). It keeps every status the site publishes, and
signs what it sends with ``HUB_KEY``, whose public half the test agents trust."""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

import paho.mqtt.client as mqtt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from cctv_common.evidence.signing import BadSignature, verify
from cctv_common.wire.chunk_ranges import missing, to_ranges
from cctv_common.wire.hub_signing import HubSigner
from cctv_common.wire.payloads import (
    ClipAck,
    ClipOffer,
    InvalidPayload,
    JobProgress,
    Payload,
    SiteStatus,
)
from cctv_common.wire.topics import (
    ChunkTopic,
    ManifestTopic,
    ProgressTopic,
    StatusTopic,
    ack_topic,
    job_topic,
    parse_topic,
)
from tests.support.agent_process import HUB_KEY
from tests.support.mosquitto_fixtures import SITE_A, MqttClientFactory, MqttTestClient

HUB = HubSigner(HUB_KEY)


def sealed(topic: str, payload: Payload, signer: HubSigner = HUB) -> bytes:
    return signer.seal(topic, payload)


@dataclass
class HubUpload:
    offer: ClipOffer
    offer_sha256: str
    data: bytearray
    held: set[int] = field(default_factory=set)
    since_ack: int = 0
    timer: threading.Timer | None = None
    stored: bool = False


class HubStandIn:
    """Enough of the hub's side of the protocol to drive an agent, with faults on request."""

    def __init__(
        self,
        client: MqttTestClient,
        *,
        public_key: Ed25519PublicKey | None = None,
        drop_first: Iterable[int] = (),
        pause_after: int | None = None,
    ) -> None:
        self.client = client
        self.paho = client.paho
        self.public_key = public_key
        self.drop_first = set(drop_first)
        self.dropped: list[int] = []
        self.pause_after = pause_after
        self.paused = threading.Event()
        self.lock = threading.RLock()
        self.uploads: dict[str, HubUpload] = {}
        self.offers: list[str] = []
        self.received: list[int] = []
        self.progress: list[JobProgress] = []
        self.statuses: list[SiteStatus] = []
        self.stored = threading.Event()
        # (monotonic time, clip id, chunk index, bytes) of every good chunk, and clips stored.
        self.arrivals: list[tuple[float, str, int, int]] = []
        self.stored_order: list[str] = []
        # What the last receiving ack for each clip said the hub held.
        self.acked_held: dict[str, set[int]] = {}
        self.errors: list[str] = []
        self.paho.on_message = self._on_message
        site = SITE_A
        for topic_filter in (
            f"cctv/v1/sites/{site}/status",
            f"cctv/v1/sites/{site}/jobs/+/progress",
            f"cctv/v1/sites/{site}/clips/+/manifest",
            f"cctv/v1/sites/{site}/clips/+/chunk/+",
        ):
            client.subscribe(topic_filter)

    def resume(self) -> None:
        with self.lock:
            self.pause_after = None
            self.paused.clear()

    def upload(self) -> HubUpload:
        with self.lock:
            assert len(self.uploads) == 1, list(self.uploads)
            return next(iter(self.uploads.values()))

    def progress_states(self) -> list[str]:
        with self.lock:
            return [p.state for p in self.progress]

    # paho's network thread.

    def _on_message(self, client: mqtt.Client, userdata: object, message: mqtt.MQTTMessage) -> None:
        try:
            topic = parse_topic(message.topic)
        except ValueError as exc:
            self.errors.append(str(exc))
            return
        payload = bytes(message.payload)
        with self.lock:
            try:
                if isinstance(topic, StatusTopic) and payload:
                    self.statuses.append(SiteStatus.parse(payload))
                elif isinstance(topic, ProgressTopic):
                    self.progress.append(JobProgress.parse(payload))
                elif isinstance(topic, ManifestTopic):
                    self._offer(ClipOffer.parse(payload), hashlib.sha256(payload).hexdigest())
                elif isinstance(topic, ChunkTopic):
                    self._chunk(topic.clip, topic.index, payload)
            except InvalidPayload as exc:
                self.errors.append(str(exc))

    def _ack(self, clip_id: str, ack: ClipAck) -> None:
        topic = ack_topic(SITE_A, clip_id)
        self.paho.publish(topic, sealed(topic, ack), qos=1)

    def _receiving(self, upload: HubUpload) -> None:
        self.acked_held[upload.offer.clip_id] = set(upload.held)
        count = upload.offer.chunk_count
        held = to_ranges(upload.held, count)
        self._ack(
            upload.offer.clip_id,
            ClipAck(
                clip_id=upload.offer.clip_id,
                offer_sha256=upload.offer_sha256,
                state="receiving",
                held=tuple(held),
                missing=tuple(missing(count, held)),
            ),
        )

    def _offer(self, offer: ClipOffer, digest: str) -> None:
        self.offers.append(offer.clip_id)
        if self.paused.is_set():
            return
        if self.public_key is not None:
            try:
                verify(self.public_key, offer.manifest_bytes(), offer.signature)
            except BadSignature as exc:
                no = ClipAck(
                    clip_id=offer.clip_id, offer_sha256=digest, state="rejected", reason=str(exc)
                )
                self._ack(offer.clip_id, no)
                return
        upload = self.uploads.get(offer.clip_id)
        if upload is None:
            upload = HubUpload(offer, digest, bytearray(offer.clip_bytes))
            self.uploads[offer.clip_id] = upload
        upload.offer_sha256 = digest
        if upload.stored:
            self._stored_ack(upload)
        else:
            self._receiving(upload)

    def _chunk(self, clip_id: str, index: int, data: bytes) -> None:
        upload = self.uploads.get(clip_id)
        if upload is None or upload.stored or self.paused.is_set():
            return
        offer = upload.offer
        if index in self.drop_first:
            self.drop_first.discard(index)
            self.dropped.append(index)
            return
        if index >= offer.chunk_count or len(data) != offer.chunk_length(index):
            self.errors.append(f"chunk {index} has {len(data)} bytes")
            return
        if hashlib.sha256(data).hexdigest() != offer.chunk_sha256[index]:
            self.errors.append(f"chunk {index} has the wrong SHA-256")
            return
        self.received.append(index)
        self.arrivals.append((time.monotonic(), clip_id, index, len(data)))
        upload.data[index * offer.chunk_size : index * offer.chunk_size + len(data)] = data
        upload.held.add(index)
        upload.since_ack += 1
        if upload.timer is not None:
            upload.timer.cancel()
            upload.timer = None
        if len(upload.held) == offer.chunk_count:
            if hashlib.sha256(upload.data).hexdigest() == offer.clip_sha256:
                upload.stored = True
                self.stored_order.append(clip_id)
                self._stored_ack(upload)
                # The hub clears the retained job once it has ended.
                self.paho.publish(job_topic(SITE_A, offer.job_id), b"", qos=1, retain=True)
                self.stored.set()
            else:
                self.errors.append("whole-clip SHA-256 mismatch")
            return
        if self.pause_after is not None and len(upload.held) >= self.pause_after:
            self.paused.set()
            return
        if upload.since_ack >= 16:
            upload.since_ack = 0
            self._receiving(upload)
        upload.timer = threading.Timer(0.5, self._quiet, args=(upload,))
        upload.timer.daemon = True
        upload.timer.start()

    def _quiet(self, upload: HubUpload) -> None:
        with self.lock:
            if not upload.stored and not self.paused.is_set():
                upload.since_ack = 0
                self._receiving(upload)

    def _stored_ack(self, upload: HubUpload) -> None:
        self._ack(
            upload.offer.clip_id,
            ClipAck(
                clip_id=upload.offer.clip_id,
                offer_sha256=upload.offer_sha256,
                state="stored",
                held=((0, upload.offer.chunk_count - 1),),
                missing=(),
                evidence_sha256=upload.offer.clip_sha256,
            ),
        )


@pytest.fixture
def hub_client(mqtt_client: MqttClientFactory) -> MqttTestClient:
    return mqtt_client("hub", client_id="hub-test")
