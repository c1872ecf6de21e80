"""The agent as a separate process (``python -m edge_agent.cli run``), configured for site-a on a
test broker and trusting ``HUB_KEY``: SIGKILL is a real crash and a restart is a new process on the
same data_dir. The ``agents`` fixture starts them and kills what is left at the end."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Final

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from cctv_common.evidence.signing import public_key_pem
from devkit.configs import BrokerAccount, agent_toml, write_toml
from devkit.local_broker import MosquittoBroker
from devkit.waiting import WAIT_SECONDS
from tests.support.mosquitto_fixtures import SITE_A

REPO: Final = Path(__file__).resolve().parents[2]
CHUNK: Final = 64 * 1024
# The hub's key, as far as these agents know: they trust what it signs and nothing else.
HUB_KEY: Final = Ed25519PrivateKey.generate()
WAIT: Final = WAIT_SECONDS


def write_config(
    path: Path,
    broker: MosquittoBroker,
    data_dir: Path,
    *,
    cameras: Sequence[Mapping[str, Any]] = (),
    **sections: Any,
) -> Path:
    """The agent's TOML for site-a on ``broker``, trusting ``HUB_KEY``."""
    return write_toml(
        path,
        agent_toml(
            site_id=SITE_A,
            data_dir=data_dir,
            broker=BrokerAccount(broker.host, broker.port, SITE_A, broker.password(SITE_A)),
            cameras=cameras,
            hub_public_key_file=hub_key_file(path.parent),
            uplink={"keepalive_seconds": 5, "chunk_bytes": CHUNK, "status_interval_seconds": 1.0},
            **sections,
        ),
    )


def hub_key_file(folder: Path) -> Path:
    key_file = folder / "hub_public_key.pem"
    key_file.write_text(public_key_pem(HUB_KEY), encoding="ascii")
    return key_file


class AgentProcess:
    def __init__(self, config: Path, log_path: Path) -> None:
        self.config = config
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> AgentProcess:
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        env.pop("NOTIFY_SOCKET", None)
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "edge_agent.cli", "run", "--config", str(self.config)],
                cwd=REPO,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
            )
        return self

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=WAIT)

    def terminate(self) -> int:
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=WAIT)

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def stop_quietly(self) -> None:
        if self.alive:
            assert self.process is not None
            self.process.kill()
            self.process.wait(timeout=WAIT)


@pytest.fixture
def agents() -> Iterator[Callable[[Path, Path], AgentProcess]]:
    started: list[AgentProcess] = []

    def start(config: Path, log_path: Path) -> AgentProcess:
        agent = AgentProcess(config, log_path).start()
        started.append(agent)
        return agent

    yield start
    for agent in started:
        agent.stop_quietly()
