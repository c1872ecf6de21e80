"""Files made once by whichever process comes first (cctv_common.files.create_once): the hub's
session secret and key when hub workers on one data_dir start together."""

from __future__ import annotations

import multiprocessing
import stat
from pathlib import Path

from cctv_common.files import create_once
from hub.services.auth import load_session_secret
from tests.support.hub_kit import make_settings


def test_the_first_file_made_stays_and_nothing_else_is_left(tmp_path: Path) -> None:
    target = tmp_path / "secret"
    assert create_once(target, b"first")
    assert not create_once(target, b"second")
    assert target.read_bytes() == b"first"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert [path.name for path in tmp_path.iterdir()] == ["secret"]


def _load_secret(data_dir: str, start: object, results: object) -> None:
    settings = make_settings(Path(data_dir))
    start.wait()  # type: ignore[attr-defined]
    results.put(load_session_secret(settings))  # type: ignore[attr-defined]


def test_workers_starting_together_share_one_whole_session_secret(tmp_path: Path) -> None:
    """Before: one worker read another's secret before it was written ("too short") and did
    not start. Eight processes released at once all get the same, whole secret."""
    context = multiprocessing.get_context("spawn")
    count = 8
    start = context.Barrier(count)
    results = context.Queue()
    processes = [
        context.Process(target=_load_secret, args=(str(tmp_path), start, results))
        for _ in range(count)
    ]
    for process in processes:
        process.start()
    secrets = {results.get(timeout=60) for _ in processes}
    for process in processes:
        process.join(timeout=30)
        assert process.exitcode == 0
    [secret] = secrets
    assert len(secret) >= 32
    assert secret == load_session_secret(make_settings(tmp_path))
