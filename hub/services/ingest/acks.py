"""What the hub tells an agent about its clip: ``ClipAck``s, signed for the topic they go on.

Every ack names the offer it answers (``offer_sha256``, the SHA-256 of the offer payload as the
hub received it), so that an agent acts only on answers to an offer it sent itself, and is sealed
with the hub's key for ``sites/{site}/clips/{clip}/ack`` (``cctv_common.wire.hub_signing``), so
that a genuine ack cannot be moved to another site or clip. An agent deletes its copy of a clip
only on a verified ``stored`` ack naming the clip's SHA-256.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from cctv_common.wire.chunk_ranges import Range
from cctv_common.wire.hub_signing import HubSigner
from cctv_common.wire.payloads import ClipAck
from cctv_common.wire.topics import ack_topic
from hub.services.jobs import MessagePublisher


def offer_digest(payload: bytes | str) -> str:
    """The ``offer_sha256`` of an offer payload (bytes as received, or their UTF-8 text)."""
    data = payload.encode("utf-8") if isinstance(payload, str) else payload
    return hashlib.sha256(data).hexdigest()


class AckSender:
    def __init__(self, publish: MessagePublisher, signer: HubSigner) -> None:
        self.publish = publish
        self._signer = signer

    def _send(self, site_id: str, ack: ClipAck) -> None:
        topic = ack_topic(site_id, ack.clip_id)
        self.publish(topic, self._signer.seal(topic, ack))

    def receiving(
        self,
        site_id: str,
        clip_id: str,
        offer_sha256: str,
        held: Sequence[Range],
        missing: Sequence[Range],
    ) -> None:
        self._send(
            site_id,
            ClipAck(
                clip_id=clip_id,
                offer_sha256=offer_sha256,
                state="receiving",
                held=tuple(held),
                missing=tuple(missing),
            ),
        )

    def stored(
        self, site_id: str, clip_id: str, offer_sha256: str, chunk_count: int, sha256: str
    ) -> None:
        self._send(
            site_id,
            ClipAck(
                clip_id=clip_id,
                offer_sha256=offer_sha256,
                state="stored",
                held=((0, chunk_count - 1),),
                missing=(),
                evidence_sha256=sha256,
            ),
        )

    def rejected(self, site_id: str, clip_id: str, offer_sha256: str, reason: str) -> None:
        self._send(
            site_id,
            ClipAck(clip_id=clip_id, offer_sha256=offer_sha256, state="rejected", reason=reason),
        )
