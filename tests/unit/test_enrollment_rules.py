"""Enrollment as pure rules and text: tokens, refusals, Mosquitto's password lines and ACL,
the generated broker config; the deploy examples loaded by the real config loaders."""

from __future__ import annotations

import base64
import hashlib
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from cctv_common.loopback import is_loopback_host, plain_mqtt_refusal
from cctv_common.wire.acl import acl_text
from edge_agent.config import load_config
from hub.domain.broker_logins import passwd_text, password_hash
from hub.domain.enrollment import (
    EnrollmentRefused,
    RefusalReason,
    SiteAccess,
    check_enrollment,
    new_token,
    token_hash,
)
from hub.domain.mosquitto_conf import BrokerFiles, BrokerPathError, mosquitto_conf
from hub.settings import load_settings
from tests.support.paths import REPO

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def access_for(token: str, **changes: object) -> SiteAccess:
    fields: dict[str, object] = {
        "site_id": token.rpartition(".")[0],
        "name": "High Street",
        "token_hash": token_hash(token),
        "token_expires_at": NOW + timedelta(hours=24),
        "created_at": NOW,
        "created_by": "supervisor",
    }
    fields.update(changes)
    return SiteAccess(**fields)  # type: ignore[arg-type]


def refusal(access: SiteAccess | None, token: str, site: str, now: datetime) -> RefusalReason:
    with pytest.raises(EnrollmentRefused) as refused:
        check_enrollment(access, token, site, now)
    return refused.value.reason


def test_a_fresh_token_opens_its_site_once_and_only_in_time() -> None:
    token = new_token("high-street")
    assert token.startswith("high-street.") and len(token) > 50
    assert check_enrollment(access_for(token), token, "high-street", NOW).site_id == "high-street"
    used = access_for(token, enrolled_at=NOW)
    assert refusal(used, token, "high-street", NOW) is RefusalReason.USED
    late = NOW + timedelta(hours=24)
    assert refusal(access_for(token), token, "high-street", late) is RefusalReason.EXPIRED
    revoked = access_for(token, revoked_at=NOW)
    assert refusal(revoked, token, "high-street", NOW) is RefusalReason.REVOKED


def test_altered_other_site_and_malformed_tokens_are_refused() -> None:
    token = new_token("high-street")
    altered = token[:-1] + ("A" if token[-1] != "A" else "B")
    assert refusal(None, altered, "high-street", NOW) is RefusalReason.UNKNOWN
    assert refusal(access_for(token), token, "market-sq", NOW) is RefusalReason.OTHER_SITE
    assert refusal(None, "not-a-token", "high-street", NOW) is RefusalReason.MALFORMED
    # Only the hash is kept, and it is not the token.
    assert token not in token_hash(token)


def test_password_lines_are_mosquittos_pbkdf2_sha512_form() -> None:
    salt = bytes(range(12))
    line = password_hash("s3cret", salt)
    _, kind, rounds, salt_text, digest = line.split("$")
    assert (kind, rounds) == ("7", "101")
    assert base64.b64decode(salt_text) == salt
    assert base64.b64decode(digest) == hashlib.pbkdf2_hmac("sha512", b"s3cret", salt, 101)
    assert passwd_text({"b": "$7$x", "a": "$7$y"}) == "a:$7$y\nb:$7$x\n"
    with pytest.raises(ValueError, match="cannot go into"):
        passwd_text({"a:b": "$7$x"})


def test_the_generated_acl_has_the_deploy_acls_rules() -> None:
    def rules(text: str) -> list[str]:
        return [line for line in text.splitlines() if line and not line.startswith("#")]

    deploy = (REPO / "deploy" / "mosquitto" / "acl").read_text(encoding="utf-8")
    assert rules(acl_text(["hub"], "a test")) == rules(deploy)


def test_the_broker_config_listens_on_tls_only_with_the_hubs_files(tmp_path: Path) -> None:
    files = BrokerFiles(
        broker_dir=tmp_path,
        listen_address="0.0.0.0",
        listen_port=8883,
        ca_cert=tmp_path / "ca.crt",
        server_cert=tmp_path / "server.crt",
        server_key=tmp_path / "server.key",
        passwd=tmp_path / "passwd",
        acl=tmp_path / "acl",
        pid_file=tmp_path / "mosquitto.pid",
        run_as="cctv-hub",
    )
    text = mosquitto_conf(files)
    assert text.count("listener ") == 1 and "listener 8883 0.0.0.0" in text
    for line in ("allow_anonymous false", "use_username_as_clientid true", "tls_version tlsv1.2"):
        assert line in text
    assert f"password_file {tmp_path / 'passwd'}" in text
    with pytest.raises(BrokerPathError):
        mosquitto_conf(BrokerFiles(**{**files.__dict__, "broker_dir": Path("/a b")}))


def test_plain_mqtt_only_to_loopback() -> None:
    assert is_loopback_host("127.0.0.1") and is_loopback_host("::1")
    assert is_loopback_host("localhost") and not is_loopback_host("10.0.0.1")
    assert plain_mqtt_refusal("10.0.0.1", tls=True) is None
    assert plain_mqtt_refusal("127.0.0.1", tls=False) is None
    refusal_text = plain_mqtt_refusal("mqtt.example.org", tls=False)
    assert refusal_text is not None and "in the clear" in refusal_text


def test_the_deploy_examples_load_with_the_real_loaders(tmp_path: Path) -> None:
    hub = load_settings(REPO / "deploy" / "hub.example.toml")
    text = (REPO / "deploy" / "hub.example.toml").read_text(encoding="utf-8")
    for section in (hub.alerts, hub.metrics):
        for name in type(section).model_fields:
            assert f"{name} =" in text, f"{name} is not in the hub's example"
    assert hub.alerts.engineer_emails and hub.metrics.token_file is None
    assert hub.enrollment is not None and hub.broker is not None
    assert hub.broker.tls and hub.broker.ca_file == hub.enrollment.ca_cert_path
    assert hub.enrollment.site_host == "mqtt.example.org"
    assert hub.enrollment.broker_dir == Path("/var/lib/cctv-hub/broker")  # the broker unit's
    (tmp_path / "cam-2.password").write_text("camera-password\n")
    (tmp_path / "cam-2.password").chmod(0o600)
    agent = load_config(
        REPO / "deploy" / "agent.example.toml", environ={"CREDENTIALS_DIRECTORY": str(tmp_path)}
    )
    assert agent.uplink.tls and agent.uplink.ca_file is not None


def test_state_at_says_expired_for_an_unused_token_out_of_time() -> None:
    token = new_token("high-street")
    waiting = access_for(token)
    assert waiting.state_at(NOW) == "waiting"
    assert waiting.state_at(NOW + timedelta(hours=24)) == "expired"
    enrolled = access_for(token, enrolled_at=NOW)
    assert enrolled.state_at(NOW + timedelta(days=9)) == "enrolled"
    revoked = access_for(token, revoked_at=NOW)
    assert revoked.state_at(NOW + timedelta(days=9)) == "revoked"
