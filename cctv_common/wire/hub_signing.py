"""What the hub tells a site, signed with the hub's own Ed25519 key: jobs, holds and clip acks.

The broker's ACL already lets only the hub write these topics; the signature is what an agent
checks, so that neither a site's broker credential nor anyone else who can reach the broker (a
misconfigured ACL, a stolen hub broker password, the broker itself) can make an agent record, pin
or cut a job the hub never sent, or delete a clip the hub never stored.

Wire form: a ``HubSigned`` payload ``{"v":1,"body":"<inner JSON>","key_id":...,"signature":...}``.
The signature is over ``b"cctv/v1 hub-signed\\n" + topic + b"\\n" + body``:

- the domain line keeps these signatures apart from anything else the hub's key signs (custody
  checkpoints), so one can never be passed off as the other;
- the topic binds the message to its site and to the job or clip in the topic, so a genuine
  message moved to another topic (another site, another clip) no longer verifies;
- the body is the inner payload's exact bytes, so nothing is re-serialised before checking.

Replay on the same topic is handled where it matters: a ``ClipAck`` names the SHA-256 of the offer
it answers (``offer_sha256``), and an agent acts only on answers to an offer it sent. A job is
idempotent on its id at the agent, so a replayed genuine job changes nothing.

There is no unsigned form: a message on these topics that is not a valid ``HubSigned`` from the
configured key is refused (``UntrustedMessage``), whatever it says.
"""

from __future__ import annotations

from typing import Final, TypeVar

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from cctv_common.evidence.signing import BadSignature, key_id, sign, verify
from cctv_common.wire.payloads import HubSigned, InvalidPayload, Payload

DOMAIN: Final = b"cctv/v1 hub-signed\n"

P = TypeVar("P", bound=Payload)


class UntrustedMessage(InvalidPayload):
    """A message on a hub-signed topic that is unsigned, or not signed by the hub's key for it."""


def signed_bytes(topic: str, body: bytes) -> bytes:
    """The exact bytes the hub signs for ``body`` published on ``topic``."""
    return DOMAIN + topic.encode("utf-8") + b"\n" + body


class HubSigner:
    """The hub's side: seals payloads for the topics they are published on."""

    def __init__(self, key: Ed25519PrivateKey) -> None:
        self._key = key
        self.key_id = key_id(key)

    def seal(self, topic: str, payload: Payload) -> bytes:
        body = payload.to_bytes()
        return HubSigned(
            body=body.decode("utf-8"),
            key_id=self.key_id,
            signature=sign(self._key, signed_bytes(topic, body)),
        ).to_bytes()


class HubVerifier:
    """The agent's side: opens sealed payloads with the hub's public key from its config.

    Without a key (``None``) every message is refused: an agent that cannot tell the hub from
    anyone else must not act on what it is told.
    """

    def __init__(self, public_key: Ed25519PublicKey | None) -> None:
        self._key = public_key
        self.key_id = None if public_key is None else key_id(public_key)

    def open(self, topic: str, data: bytes | bytearray, model: type[P]) -> P:
        """The verified inner payload, or ``InvalidPayload`` (``UntrustedMessage``) saying why."""
        try:
            envelope = HubSigned.parse(data)
        except InvalidPayload as exc:
            raise UntrustedMessage(f"not a hub-signed message ({exc})") from exc
        if self._key is None:
            raise UntrustedMessage(
                "this agent has no hub public key (uplink.hub_public_key_file), so it trusts"
                " nothing sent as the hub"
            )
        if envelope.key_id != self.key_id:
            raise UntrustedMessage(
                f"signed by key {envelope.key_id}, not by the hub's key {self.key_id}"
            )
        body = envelope.body.encode("utf-8")
        try:
            verify(self._key, signed_bytes(topic, body), envelope.signature)
        except BadSignature as exc:
            raise UntrustedMessage(
                "the signature does not verify with the hub's key for this topic"
            ) from exc
        return model.parse(body)
