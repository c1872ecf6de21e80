"""Shared pytest fixtures: each real part (RTSP camera, Mosquitto, ONVIF device) has a plugin."""

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
]
