"""The checks that run while a clip arrives (issue 15): the running SHA-256 and the early probe.

``HubService`` in-process on a real database and store, messages handed to it as the MQTT link
would (the real-Mosquitto path is in ``test_hub_ingest``). Whatever order the chunks come in, the
whole clip's SHA-256 must still equal the signed manifest's and the clip must still decode before
it is stored; a clip whose chunks all match the offer but whose whole SHA-256 does not is still
rejected, and a session that did not see every chunk (a restart) reads the file back.
"""

from __future__ import annotations

import hashlib
import logging

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from hub.service import HubService
from hub.storage.engine import AnyDatabase
from tests.integration.test_hub_ingest import (
    CHUNK,
    eventually,
    evidence_count,
    fast_settings,
    new_job,
    offer,
    run_hub,
    send,
    stored_files,
)
from tests.support.hub_kit import RecordingLink, SignedClip, signed_clip, video_bytes

COMPLETION_LOG = "hub.services.ingest.completion"
ORDERS = {
    "in order": list(range(8)),
    "out of order": [0, 3, 4, 1, 7, 2, 6, 5],
    "duplicated": [0, 0, 2, 1, 1, 2, 3, 5, 4, 5, 6, 7, 7],
}


def checked_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if "checked in" in r.getMessage()]


@pytest.mark.parametrize("order", ORDERS)
def test_a_clip_in_any_order_is_stored_from_its_running_hash(
    tmp_path: object, order: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=COMPLETION_LOG)
    key = Ed25519PrivateKey.generate()
    settings = fast_settings(tmp_path, key)  # type: ignore[arg-type]
    data = video_bytes(7 * CHUNK + 100)

    async def scenario(service: HubService, link: RecordingLink, database: AnyDatabase) -> None:
        clip = signed_clip(key, data, job_id=await new_job(database))
        await offer(service, clip)
        await send(service, clip, ORDERS[order])
        await eventually(lambda: link.acks(clip.clip_id)[-1].state == "stored", "stored")

    run_hub(settings, scenario)
    assert stored_files(settings)[0].read_bytes() == data
    [line] = checked_lines(caplog)
    assert "SHA-256 running" in line and "probe early" in line


@pytest.mark.parametrize("order", ["in order", "out of order"])
def test_chunks_that_all_match_but_a_whole_hash_that_does_not_are_rejected(
    tmp_path: object, order: str, caplog: pytest.LogCaptureFixture
) -> None:
    """The offer's chunk hashes are those of other bytes than the clip the manifest signs."""
    caplog.set_level(logging.INFO, logger=COMPLETION_LOG)
    key = Ed25519PrivateKey.generate()
    settings = fast_settings(tmp_path, key)  # type: ignore[arg-type]
    signed = video_bytes(7 * CHUNK + 100)
    sent = bytearray(signed)
    sent[3 * CHUNK + 7] ^= 0xFF  # one byte of chunk 3 differs from what was signed

    async def scenario(service: HubService, link: RecordingLink, database: AnyDatabase) -> None:
        genuine = signed_clip(key, signed, job_id=await new_job(database))
        other = [bytes(sent[i : i + CHUNK]) for i in range(0, len(sent), CHUNK)]
        lying = genuine.offer.model_copy(
            update={"chunk_sha256": tuple(hashlib.sha256(c).hexdigest() for c in other)}
        )
        clip = SignedClip(bytes(sent), lying, other)
        await offer(service, clip)
        await send(service, clip, ORDERS[order])
        await eventually(lambda: link.acks(clip.clip_id)[-1].state == "rejected", "rejected")
        assert "every chunk matches the offer" in (link.acks(clip.clip_id)[-1].reason or "")
        assert await evidence_count(database) == 0

    run_hub(settings, scenario)
    assert stored_files(settings) == []
    [line] = checked_lines(caplog)
    assert "SHA-256 running" in line  # the running hash found it; the read-back confirmed it


def test_a_corrupt_chunk_is_dropped_and_the_clip_still_verifies(tmp_path: object) -> None:
    key = Ed25519PrivateKey.generate()
    settings = fast_settings(tmp_path, key)  # type: ignore[arg-type]
    data = video_bytes(7 * CHUNK + 100)

    async def scenario(service: HubService, link: RecordingLink, database: AnyDatabase) -> None:
        clip = signed_clip(key, data, job_id=await new_job(database))
        bad = list(clip.chunks)
        bad[2] = b"\x00" * len(bad[2])
        await offer(service, clip)
        await send(service, SignedClip(clip.data, clip.offer, bad), range(8))
        await eventually(lambda: link.acks(clip.clip_id)[-1].missing == ((2, 2),), "ask for 2")
        await send(service, clip, [2])
        await eventually(lambda: link.acks(clip.clip_id)[-1].state == "stored", "stored")

    run_hub(settings, scenario)
    assert stored_files(settings)[0].read_bytes() == data


def test_a_restarted_hub_reads_the_file_back_and_probes_it_again(
    tmp_path: object, caplog: pytest.LogCaptureFixture
) -> None:
    """A running hash never crosses a restart: the new process did not see the first chunks."""
    caplog.set_level(logging.INFO, logger=COMPLETION_LOG)
    key = Ed25519PrivateKey.generate()
    settings = fast_settings(tmp_path, key)  # type: ignore[arg-type]
    data = video_bytes(7 * CHUNK + 100)
    made: list[SignedClip] = []

    async def first(service: HubService, link: RecordingLink, database: AnyDatabase) -> None:
        made.append(signed_clip(key, data, job_id=await new_job(database)))
        await offer(service, made[0])
        await send(service, made[0], range(0, 5))

    async def second(service: HubService, link: RecordingLink, database: AnyDatabase) -> None:
        await offer(service, made[0])
        await send(service, made[0], range(5, 8))
        await eventually(lambda: link.acks(made[0].clip_id)[-1].state == "stored", "stored")

    run_hub(settings, first)
    run_hub(settings, second)
    assert stored_files(settings)[0].read_bytes() == data
    [line] = checked_lines(caplog)
    assert "SHA-256 read back" in line and "probe at end" in line
