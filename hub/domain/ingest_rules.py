"""The decisions of clip ingest, without I/O: is an offer acceptable, is a chunk good, when to ack.

``check_offer`` turns a ``ClipOffer`` into the verified ``Manifest`` or raises
``UploadOfferRefused``
with the reason the agent is told (``OfferUnverified`` when the offer is not provably the
site's). ``ChunkBook`` is the hub's bookkeeping for one upload: which chunks it holds, whether a
received chunk is the right size and hash, what is missing, and when an ack is due (every
``ack_every`` chunks; the caller runs the "0.5 s after the last chunk" timer).
See docs/upload-protocol.md.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Final

from cctv_common.clock import iso_utc
from cctv_common.evidence.manifest import Manifest
from cctv_common.evidence.signing import KeyFileError, load_public_key
from cctv_common.evidence.verify import EvidenceMismatch, verify_signed_manifest
from cctv_common.wire.chunk_ranges import Range, validate_ranges
from cctv_common.wire.payloads import ClipOffer
from hub.domain.records import ClipJob

MAX_REASON_CHARS: Final = 500


class UploadOfferRefused(Exception):
    """The offer is refused; ``reason`` is what the agent is told in ``ClipAck(rejected)``.

    Raised as such, the offer is a real one (signed by the site's key, for this site and clip)
    and its rejection is a custody event; ``OfferUnverified`` is an offer nobody is known to have
    made, which is counted and logged but never recorded as evidence of anything.
    """

    def __init__(self, reason: str) -> None:
        self.reason = reason[:MAX_REASON_CHARS]
        super().__init__(self.reason)


class OfferUnverified(UploadOfferRefused):
    """The offer does not verify as the site's: unknown site, bad signature, wrong ids."""


def verify_offer(
    *,
    site_id: str,
    clip_id: str,
    offer: ClipOffer,
    site_public_key_pem: str | None,
) -> Manifest:
    """The offer's manifest, verified as the site's for this clip, or ``OfferUnverified``.

    ``site_id`` and ``clip_id`` come from the topic (the broker's ACL ties the site to its login).
    The offer's own fields (size, SHA-256, key id, job) must say what the signed manifest says.
    """
    if offer.clip_id != clip_id:
        raise OfferUnverified(
            f"offer names clip {offer.clip_id} but came on the topic of clip {clip_id}"
        )
    if site_public_key_pem is None:
        raise OfferUnverified(f"site {site_id} is not registered at this hub")
    try:
        public_key = load_public_key(site_public_key_pem)
    except KeyFileError as exc:
        raise OfferUnverified(f"site {site_id} has no usable public key: {exc}") from exc
    try:
        manifest = verify_signed_manifest(offer.manifest_bytes(), offer.signature, public_key)
    except EvidenceMismatch as exc:
        raise OfferUnverified(
            f"manifest does not verify against site {site_id}'s key: {exc}"
        ) from exc
    mismatches = [
        f"{what} {said!r} in the manifest but {expected!r} in the offer"
        for what, said, expected in (
            ("clip id", manifest.clip_id, offer.clip_id),
            ("site id", manifest.site_id, site_id),
            ("job id", manifest.job_id, offer.job_id),
            ("SHA-256", manifest.sha256, offer.clip_sha256),
            ("size", manifest.bytes, offer.clip_bytes),
            ("key id", manifest.key_id, offer.key_id),
        )
        if said != expected
    ]
    if mismatches:
        raise OfferUnverified("manifest and offer disagree: " + "; ".join(mismatches))
    return manifest


def check_against_job(
    *,
    site_id: str,
    offer: ClipOffer,
    manifest: Manifest,
    job: ClipJob | None,
    max_clip_bytes: int,
) -> None:
    """A verified offer must answer a job this hub sent to this site: same camera, and footage
    that overlaps the job's window. Raises ``UploadOfferRefused`` with the reason."""
    if offer.clip_bytes > max_clip_bytes:
        raise UploadOfferRefused(
            f"clip is {offer.clip_bytes} bytes, over this hub's limit of {max_clip_bytes}"
        )
    if job is None:
        raise UploadOfferRefused(f"job {offer.job_id} is not a job this hub dispatched")
    if job.site_id != site_id:
        raise UploadOfferRefused(f"job {job.id} was sent to site {job.site_id}, not {site_id}")
    if job.camera_id != manifest.camera.id:
        raise UploadOfferRefused(
            f"job {job.id} asked for camera {job.camera_id}; the clip is from {manifest.camera.id}"
        )
    delivered = manifest.delivered
    if delivered.end <= delivered.start:
        raise UploadOfferRefused(
            f"the clip's delivered window {iso_utc(delivered.start)} to {iso_utc(delivered.end)}"
            " is empty or reversed"
        )
    if delivered.end <= job.start or delivered.start >= job.end:
        raise UploadOfferRefused(
            f"the clip covers {iso_utc(delivered.start)} to {iso_utc(delivered.end)}, outside"
            f" job {job.id}'s window {iso_utc(job.start)} to {iso_utc(job.end)}"
        )


def check_offer(
    *,
    site_id: str,
    clip_id: str,
    offer: ClipOffer,
    site_public_key_pem: str | None,
    job: ClipJob | None,
    max_clip_bytes: int,
) -> Manifest:
    """Everything about an offer that can be checked before any chunk arrives: ``verify_offer``
    then ``check_against_job``. The content itself is probed once it has arrived
    (``hub.services.ingest.clip_probe``)."""
    manifest = verify_offer(
        site_id=site_id, clip_id=clip_id, offer=offer, site_public_key_pem=site_public_key_pem
    )
    check_against_job(
        site_id=site_id, offer=offer, manifest=manifest, job=job, max_clip_bytes=max_clip_bytes
    )
    return manifest


class ChunkVerdict(Enum):
    ACCEPTED = "accepted"
    DUPLICATE = "duplicate"  # already held: nothing to do
    BAD_INDEX = "bad index"
    WRONG_SIZE = "wrong size"
    WRONG_HASH = "wrong hash"


@dataclass(frozen=True)
class ChunkCheck:
    verdict: ChunkVerdict
    reason: str | None = None

    @property
    def ok(self) -> bool:
        return self.verdict is ChunkVerdict.ACCEPTED


class ChunkBook:
    """Which chunks of one clip the hub holds, and the checks each new chunk must pass."""

    def __init__(
        self,
        *,
        clip_bytes: int,
        chunk_size: int,
        chunk_sha256: Sequence[str],
        held: Iterable[Sequence[int]] = (),
        ack_every: int = 16,
    ) -> None:
        count = len(chunk_sha256)
        if clip_bytes < 1 or chunk_size < 1 or count != -(-clip_bytes // chunk_size):
            raise ValueError(
                f"{count} chunk hashes do not fit {clip_bytes} bytes in chunks of {chunk_size}"
            )
        if ack_every < 1:
            raise ValueError("ack_every must be at least 1")
        self.clip_bytes = clip_bytes
        self.chunk_size = chunk_size
        self.chunk_count = count
        self._sha256 = tuple(chunk_sha256)
        self._held = bytearray(count)  # one byte per chunk: 1 = held and verified
        self._held_count = 0
        self._ack_every = ack_every
        self._since_ack = 0
        for first, last in validate_ranges(held, count):
            self._held[first : last + 1] = b"\x01" * (last - first + 1)
            self._held_count += last - first + 1

    @classmethod
    def for_offer(
        cls, offer: ClipOffer, held: Iterable[Sequence[int]] = (), ack_every: int = 16
    ) -> ChunkBook:
        return cls(
            clip_bytes=offer.clip_bytes,
            chunk_size=offer.chunk_size,
            chunk_sha256=offer.chunk_sha256,
            held=held,
            ack_every=ack_every,
        )

    # Chunks.

    def expected_length(self, index: int) -> int:
        return min(self.chunk_size, self.clip_bytes - index * self.chunk_size)

    def offset(self, index: int) -> int:
        return index * self.chunk_size

    def is_held(self, index: int) -> bool:
        return 0 <= index < self.chunk_count and self._held[index] == 1

    def precheck(self, index: int, length: int) -> ChunkCheck:
        """Checks that need no hashing: index in range, not yet held, right size."""
        if not 0 <= index < self.chunk_count:
            return ChunkCheck(
                ChunkVerdict.BAD_INDEX,
                f"chunk {index} is outside 0..{self.chunk_count - 1}",
            )
        if self._held[index]:
            return ChunkCheck(ChunkVerdict.DUPLICATE)
        expected = self.expected_length(index)
        if length != expected:
            return ChunkCheck(
                ChunkVerdict.WRONG_SIZE, f"chunk {index} is {length} bytes, expected {expected}"
            )
        return ChunkCheck(ChunkVerdict.ACCEPTED)

    def check_digest(self, index: int, length: int, sha256_hex: str) -> ChunkCheck:
        """The full check, given the chunk's length and SHA-256 (hashed by the caller)."""
        check = self.precheck(index, length)
        if not check.ok:
            return check
        if sha256_hex != self._sha256[index]:
            return ChunkCheck(
                ChunkVerdict.WRONG_HASH,
                f"chunk {index} has SHA-256 {sha256_hex[:16]}..., the offer says"
                f" {self._sha256[index][:16]}...",
            )
        return ChunkCheck(ChunkVerdict.ACCEPTED)

    def check(self, index: int, data: bytes) -> ChunkCheck:
        """The full check of a chunk's bytes."""
        check = self.precheck(index, len(data))
        if not check.ok:
            return check
        return self.check_digest(index, len(data), hashlib.sha256(data).hexdigest())

    def expected_sha256(self, index: int) -> str:
        return self._sha256[index]

    def mark_held(self, index: int) -> None:
        if not 0 <= index < self.chunk_count:
            raise IndexError(f"chunk {index} is outside 0..{self.chunk_count - 1}")
        if not self._held[index]:
            self._held[index] = 1
            self._held_count += 1

    def merge(self, ranges: Iterable[Sequence[int]]) -> int:
        """Count as held the chunks another hub process recorded; how many were new here."""
        before = self._held_count
        for first, last in ranges:
            for index in range(max(first, 0), min(last, self.chunk_count - 1) + 1):
                self.mark_held(index)
        return self._held_count - before

    def drop(self, index: int) -> None:
        """Forget a chunk (its bytes on disk turned out to be wrong); it is asked for again."""
        if 0 <= index < self.chunk_count and self._held[index]:
            self._held[index] = 0
            self._held_count -= 1

    # State.

    @property
    def held_count(self) -> int:
        return self._held_count

    @property
    def is_complete(self) -> bool:
        return self._held_count == self.chunk_count

    @property
    def percent(self) -> int:
        return self._held_count * 100 // self.chunk_count

    def held_ranges(self) -> list[Range]:
        return self._runs(1)

    def missing_ranges(self) -> list[Range]:
        return self._runs(0)

    def _runs(self, value: int) -> list[Range]:
        # bytearray.find is C-speed: this costs one call per run, not one per chunk.
        this, other = bytes([value]), bytes([1 - value])
        runs: list[Range] = []
        position = self._held.find(this)
        while position != -1:
            end = self._held.find(other, position)
            last = (self.chunk_count if end == -1 else end) - 1
            runs.append((position, last))
            if end == -1:
                break
            position = self._held.find(this, end)
        return runs

    # Acks.

    def note_received(self) -> bool:
        """Count a received chunk (good or bad); True when an ack is due."""
        self._since_ack += 1
        return self._since_ack >= self._ack_every

    def note_acked(self) -> None:
        self._since_ack = 0


def upload_percent(held: int, chunk_count: int) -> int:
    """A clip job's percent while its clip uploads, from the chunks the hub holds: 100 only once
    the clip is verified and stored, so at most 99 here."""
    if chunk_count <= 0:
        return 0
    return min(99, held * 100 // chunk_count)
