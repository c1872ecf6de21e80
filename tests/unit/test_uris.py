"""Credentials out of URIs, however they were written, and into them percent-encoded."""

from __future__ import annotations

import pytest

from cctv_common.uris import has_credentials, redact_uri, with_credentials
from edge_agent.config import OnvifCameraConfig, UplinkConfig

PASSWORDS = ["pw", "Pa55:w/rd@#1", "a/b", "a?b", "a#b", "p@ss", "x:y:z", "/", "@", "12/34"]


@pytest.mark.parametrize("password", PASSWORDS)
@pytest.mark.parametrize(
    "host",
    ["10.0.0.5:554", "10.0.0.5", "cam.site.example:8554", "[fe80::1]:554", "localhost", "cam1"],
)
def test_unencoded_passwords_are_removed(password: str, host: str) -> None:
    clean = f"rtsp://{host}/Streaming/Channels/101?transportmode=unicast"
    written = f"rtsp://admin:{password}@{host}/Streaming/Channels/101?transportmode=unicast"
    assert redact_uri(written) == clean
    assert has_credentials(written)
    encoded = with_credentials(clean, "admin", password)
    assert redact_uri(encoded) == clean


@pytest.mark.parametrize(
    "uri",
    [
        "rtsp://10.0.0.5:554/Streaming/Channels/101",
        "rtsp://host/live@1",
        "rtsp://10.0.0.5:554/live@stream.sdp",
        "http://[fe80::1]/p@x",
        "rtsp://Cam.Example:554/A?b=c#d",
        "not a uri at all",
        "",
    ],
)
def test_uris_without_credentials_are_kept_as_written(uri: str) -> None:
    assert redact_uri(uri) == uri
    assert not has_credentials(uri)


def test_user_without_password_and_odd_user_names() -> None:
    assert redact_uri("rtsp://viewer@10.0.0.5/x") == "rtsp://10.0.0.5/x"
    assert redact_uri("rtsp://u%40x:p%2F@h/x") == "rtsp://h/x"
    assert redact_uri("rtsp://dom\\user:p/w@10.0.0.5/x") == "rtsp://10.0.0.5/x"


def test_over_redaction_rather_than_a_leak() -> None:
    # No host after the '@' and "admin:se" cannot be a host and port: all of it goes.
    assert redact_uri("rtsp://admin:se/cret@x") == "rtsp://x"


def test_credentials_in_rtsp_uris() -> None:
    uri = "rtsp://10.0.0.5:554/Streaming/Channels/101?transportmode=unicast"
    secret = with_credentials(uri, "admin", "Pa55:w/rd@#1")
    assert (
        secret
        == "rtsp://admin:Pa55%3Aw%2Frd%40%231@10.0.0.5:554/Streaming/Channels/101?transportmode=unicast"
    )
    assert redact_uri(secret) == uri
    assert redact_uri("rtsp://u:p@[fe80::1]:554/a") == "rtsp://[fe80::1]:554/a"
    assert (
        with_credentials(secret, "other", "x")
        == "rtsp://other:x@10.0.0.5:554/Streaming/Channels/101?transportmode=unicast"
    )
    assert with_credentials(uri, "", "ignored") == uri
    assert redact_uri(uri) == uri


def test_replacing_unencoded_credentials() -> None:
    written = "rtsp://admin:pa/ss@10.0.0.5/x"
    assert with_credentials(written, "u", "p") == "rtsp://u:p@10.0.0.5/x"


def test_config_passwords_are_not_in_repr() -> None:
    onvif = OnvifCameraConfig(host="10.0.0.6", user="admin", password="s3cret-onvif")
    uplink = UplinkConfig(password="s3cret-broker")
    for text in (repr(onvif), str(onvif), repr(uplink), str(uplink)):
        assert "s3cret" not in text
    assert onvif.password == "s3cret-onvif" and uplink.password == "s3cret-broker"
    assert onvif.model_dump()["password"] == "s3cret-onvif"
