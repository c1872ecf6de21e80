"""The agent's uplink when the broker goes away, through a real Mosquitto on loopback: it keeps
trying at the paced rate (jittered waits of 0.5-1 s, then 1-2 s: never a storm of attempts,
never a long silence) and is back, with its session, once the broker is.

Nothing asserts on how long anything took: the counted attempts are checked against what the
pacing rule allows for the time the broker was measured to be down.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from devkit.local_broker import MosquittoBroker
from devkit.waiting import until
from edge_agent.config import load_config
from edge_agent.uplink.connection import RECONNECT_MIN_SECONDS, Uplink
from tests.support.agent_process import WAIT, write_config
from tests.support.mosquitto_fixtures import SITE_A

DOWN_SECONDS = 6.0


def test_the_uplink_retries_a_stopped_broker_at_a_paced_rate_and_comes_back_with_it(
    tmp_path: Path, mosquitto_broker: MosquittoBroker
) -> None:
    config = load_config(write_config(tmp_path / "agent.toml", mosquitto_broker, tmp_path / "d"))

    async def scenario() -> tuple[int, float, int]:
        uplink = Uplink(site_id=SITE_A, config=config.uplink)
        await uplink.start()
        try:
            await asyncio.wait_for(uplink.wait_connected(), WAIT)
            assert uplink.connect_attempts == 1
            started = time.monotonic()
            await asyncio.to_thread(mosquitto_broker.stop)
            await until(lambda: not uplink.connected, "the uplink to see the broker gone", WAIT)
            await asyncio.sleep(DOWN_SECONDS)
            attempts_while_down = uplink.connect_attempts - 1
            await asyncio.to_thread(mosquitto_broker.start)
            down = time.monotonic() - started
            await until(lambda: uplink.connects == 2, "the uplink to reconnect", WAIT)
            return attempts_while_down, down, uplink.connects
        finally:
            await uplink.stop()

    attempts, down, connects = asyncio.run(scenario())
    assert connects == 2
    # Every wait is at least half of RECONNECT_MIN_SECONDS: no storm against a broker that is down
    # (a refused connection fails at once, so only the pacing spaces the attempts).
    assert attempts <= down / (RECONNECT_MIN_SECONDS / 2) + 1, (attempts, down)
    # ... and the waits stay within 2 s while the outage is short: it kept trying.
    assert attempts >= 3, (attempts, down)
    print(f"{attempts} connect attempts in {down:.1f} s with the broker down")
