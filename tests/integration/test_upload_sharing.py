"""Uploads sharing the site's link, through a real Mosquitto on loopback: a threat-to-life clip
overtakes a routine upload that is already running (the routine one pauses and resumes where it
was, nothing sent twice), and the site's bandwidth cap holds the uploads to its rate.

The agent side runs in this process (``Uplink`` + ``JobRunner``, the code unchanged); the hub is
the stand-in of ``tests/support/hub_stand_in.py``. The cap is set low (8 Mbit/s) so the routine
upload lasts a few seconds on loopback.
"""

from __future__ import annotations

import asyncio
import hashlib
from datetime import UTC, datetime
from pathlib import Path

import pytest

from cctv_common.evidence.signing import load_or_create_private_key
from cctv_common.wire.hub_signing import HubVerifier
from cctv_common.wire.topics import Topic
from devkit.local_broker import MosquittoBroker
from devkit.waiting import until
from edge_agent.config import AgentConfig, load_config
from edge_agent.jobs.runner import JobRunner
from edge_agent.store.outbox import ClipRecord, Outbox
from edge_agent.store.segment_index import SegmentIndex
from edge_agent.uplink.connection import Uplink
from tests.support.agent_process import CHUNK, HUB_KEY, WAIT, write_config
from tests.support.hub_stand_in import HubStandIn
from tests.support.mosquitto_fixtures import SITE_A, MqttTestClient
from tests.support.outbox_clips import put_clip

START = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
CAP_MBPS = 8.0  # 1 MB/s
CAP_BYTES = CAP_MBPS * 1e6 / 8
ROUTINE_BYTES = 80 * CHUNK  # about 5 s at the cap
URGENT_BYTES = 10 * CHUNK


def capped_config(tmp_path: Path, broker: MosquittoBroker) -> AgentConfig:
    config = load_config(write_config(tmp_path / "agent.toml", broker, tmp_path / "data"))
    uplink = config.uplink.model_copy(update={"max_mbps": CAP_MBPS})
    return config.model_copy(update={"uplink": uplink})


def test_a_threat_to_life_clip_overtakes_a_running_routine_upload_within_the_cap(
    tmp_path: Path, mosquitto_broker: MosquittoBroker, hub_client: MqttTestClient
) -> None:
    config = capped_config(tmp_path, mosquitto_broker)
    config.data_dir.mkdir(parents=True)
    outbox = Outbox(config.data_dir)
    index = SegmentIndex(config.data_dir / "index.db")
    routine = put_clip(outbox, config.data_dir, ROUTINE_BYTES, priority=5)
    hub = HubStandIn(hub_client)

    async def scenario() -> ClipRecord:
        uplink = Uplink(site_id=SITE_A, config=config.uplink)
        runner = JobRunner(
            config=config,
            outbox=outbox,
            index=index,
            key=load_or_create_private_key(config.data_dir / "agent_key.pem"),
            publisher=uplink,
            hub=HubVerifier(HUB_KEY.public_key()),
        )

        def on_message(topic: Topic, payload: bytes, retained: bool) -> None:
            runner.handle_message(topic, payload, retained)

        uplink.set_handlers(on_message=on_message, on_connect=runner.on_connected)
        await runner.start()
        await uplink.start()
        try:
            # The routine upload is under way (a fifth of it held) when the urgent clip is cut.
            await until(lambda: len(hub.arrivals) >= 16, "the routine upload to get going", WAIT)
            urgent = put_clip(outbox, config.data_dir, URGENT_BYTES, priority=9)
            runner.clip_ready(urgent)
            await until(lambda: len(hub.stored_order) == 2, "both clips stored", WAIT)
            return urgent
        finally:
            await runner.stop()
            await uplink.stop()

    try:
        urgent = asyncio.run(scenario())
    finally:
        outbox.close()
        index.close()

    assert hub.errors == []
    assert hub.stored_order == [urgent.clip_id, routine.clip_id]
    for clip in (routine, urgent):
        assert hashlib.sha256(hub.uploads[clip.clip_id].data).hexdigest() == clip.sha256
    routine_chunks = [i for _, clip_id, i, _ in hub.arrivals if clip_id == routine.clip_id]
    # Paused and resumed where it was: every routine chunk arrived once.
    assert sorted(routine_chunks) == list(range(routine.chunk_count))
    # The urgent clip went through while the routine one waited: its chunks came before the
    # routine upload's last third.
    urgent_last = max(n for n, a in enumerate(hub.arrivals) if a[1] == urgent.clip_id)
    assert urgent_last < len(hub.arrivals) - routine.chunk_count // 3

    # The cap: bytes over time from the first chunk to the last, both clips together (the
    # bucket's burst of 0.25 s is left out of the count).
    first, last = hub.arrivals[0][0], hub.arrivals[-1][0]
    total = sum(size for *_, size in hub.arrivals)
    rate = (total - CAP_BYTES * 0.25) / (last - first)
    print(f"measured {rate * 8 / 1e6:.2f} Mbit/s under a cap of {CAP_MBPS:g}")
    assert rate == pytest.approx(CAP_BYTES, rel=0.15), f"{rate * 8 / 1e6:.2f} Mbit/s"
