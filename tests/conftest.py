"""Shared pytest fixtures: each real part (RTSP camera, Mosquitto, ONVIF device) has a plugin."""

import pytest

pytest_plugins = [
    "tests.support.rtsp_fixtures",
    "tests.support.mosquitto_fixtures",
    "tests.support.onvif_fixtures",
    "tests.support.seaweedfs",
    "tests.support.nvr_fixtures",
    "tests.support.smtp_server",
    "tests.support.agent_process",
    "tests.support.hub_stand_in",
    "tests.support.storage_engines",
    "tests.support.hub_engines",
]

# The modules that take longest (measured: `pytest --durations`), run first. With `-n 2 --dist
# loadfile --no-loadscope-reorder` (`make test`) each module runs whole on one worker and workers
# take modules in collection order (xdist's default order is most tests first), so
# a long module left to the end keeps one worker busy while the other is idle. Order only: a
# module's own tests keep their order, and a module missing from here runs after these.
LONGEST_FIRST = (
    "tests/integration/test_recording_faults.py",
    "tests/browser/test_requests_ui.py",
    "tests/integration/test_e2e.py",
    "tests/integration/test_netlink.py",
    "tests/browser/test_request_path.py",
    "tests/integration/test_e2e_trust.py",
    "tests/integration/test_api_fuzz.py",
    "tests/integration/test_demo.py",
    "tests/integration/test_request_e2e.py",
    "tests/browser/test_delivery_e2e.py",
    "tests/integration/test_s3_evidence_store.py",
    "tests/integration/test_edge_holds.py",
    "tests/integration/test_recorder.py",
    "tests/integration/test_onvif_agent.py",
    "tests/browser/test_onvif_hub_e2e.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    rank = {path: index for index, path in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.nodeid.split("::", 1)[0], len(rank)))
