"""The mail for each step of a request: what it says, and what it must never carry."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from hub.notifications.mailer import MailSettingsError, SmtpSecurity, SmtpSettings, email_message
from hub.notifications.messages import (
    MailFacts,
    MailRefused,
    NotificationStep,
    compose,
    status_url,
)
from tests.support.request_kit import NOW

URL = status_url("https://cctv.example.gov.uk/hub/", "R-12")
FACTS = MailFacts("R-12", "CR/012345/24", "DC Jane Smith", URL)
TO = ("jane.smith@cleveland.police.uk",)


def test_status_url_is_a_plain_https_page() -> None:
    assert URL == "https://cctv.example.gov.uk/hub/requests/R-12"
    assert status_url("http://127.0.0.1:8000", "R-1") == "http://127.0.0.1:8000/requests/R-1"
    assert status_url("https://h.example", "R/../x") == "https://h.example/requests/R%2F..%2Fx"


@pytest.mark.parametrize(
    "base",
    [
        "http://cctv.example.gov.uk",
        "ftp://cctv.example.gov.uk",
        "https://user:pw@cctv.example.gov.uk",
        "https://cctv.example.gov.uk/?token=abc",
        "https://cctv.example.gov.uk/#x",
        "javascript:alert(1)",
        "",
    ],
)
def test_status_url_refuses_unsafe_bases(base: str) -> None:
    with pytest.raises(MailRefused):
        status_url(base, "R-12")


@pytest.mark.parametrize(
    ("step", "subject", "phrase"),
    [
        (NotificationStep.RECEIVED, "received", "awaiting a data controller's decision"),
        (NotificationStep.APPROVED, "approved", "has been approved"),
        (NotificationStep.PARTLY_APPROVED, "partly approved", "approved in part"),
        (NotificationStep.DECLINED, "declined", "has been declined"),
        (NotificationStep.SECURED, "footage secured", "will not be overwritten"),
        (NotificationStep.READY, "ready", "retrieved and verified"),
        (NotificationStep.RELEASED, "released", "released to you"),
        (NotificationStep.EXPIRING, "expiring", "due for deletion on Saturday 2 March 2024"),
    ],
)
def test_every_step_has_its_subject_and_the_status_link(
    step: NotificationStep, subject: str, phrase: str
) -> None:
    mail = compose(step, replace(FACTS, expires_at=NOW), TO)
    assert mail.subject == f"[CCTV] R-12 {subject} (CR/012345/24)"
    assert phrase in mail.body
    assert f"Status page: {URL}" in mail.body
    assert mail.body.startswith("Dear DC Jane Smith,\n")
    assert (mail.request, mail.step, mail.to) == ("R-12", step, TO)


def test_a_decline_carries_its_reason() -> None:
    mail = compose(
        NotificationStep.DECLINED, replace(FACTS, reason="Not proportionate.\nAsk again."), TO
    )
    assert "Reason given by the data controller:\nNot proportionate.\nAsk again.\n" in mail.body


def test_hostile_facts_cannot_add_headers_or_control_characters() -> None:
    facts = replace(
        FACTS,
        police_reference="CR1\r\nBcc: everyone@example.com",
        recipient_name="Jane\x1b[2J",
        reason="ok\x00\r\nbad",
        detail="x" * 10_000,
    )
    mail = compose(NotificationStep.DECLINED, facts, TO)
    assert "\r" not in mail.subject and "\n" not in mail.subject
    assert "\x1b" not in mail.body and "\x00" not in mail.body
    assert len(mail.body) < 2000
    message = email_message(mail, "hub@council.example.gov.uk")
    assert message["Bcc"] is None
    assert message["To"] == TO[0]


@pytest.mark.parametrize(
    "to",
    [(), ("not-an-address",), ("a@b.uk\r\nBcc: x@y.uk",), tuple(f"u{n}@x.uk" for n in range(26))],
)
def test_bad_recipients_are_refused(to: tuple[str, ...]) -> None:
    with pytest.raises(MailRefused):
        compose(NotificationStep.RECEIVED, FACTS, to)


@pytest.mark.parametrize(
    "url", ["https://h.example/requests/R-12?download=token", "https://u:p@h.example/x", "data:x"]
)
def test_a_status_url_with_a_token_is_refused(url: str) -> None:
    with pytest.raises(MailRefused, match="plain page address"):
        compose(NotificationStep.RELEASED, replace(FACTS, status_url=url), TO)


def test_smtp_settings_are_checked(tmp_path: Path) -> None:
    ok = SmtpSettings(host="relay.council.example", from_address="hub@council.example.gov.uk")
    assert ok.security is SmtpSecurity.STARTTLS and ok.port == 587
    password = tmp_path / "pw"
    cases = [
        ({"host": ""}, "host is required"),
        ({"port": 0}, "is not a port"),
        ({"from_address": "hub"}, "the sender address"),
        ({"security": SmtpSecurity.NONE}, "only to a relay on this machine"),
        (
            {"host": "127.0.0.1", "security": SmtpSecurity.NONE, "username": "u"},
            "never sent without TLS",
        ),
        ({"username": "u"}, "needs a password_file"),
        ({"retry_delays": (-1.0,)}, "must be positive"),
    ]
    for changes, message in cases:
        with pytest.raises(MailSettingsError, match=message):
            replace(ok, **changes)  # type: ignore[arg-type]
    with_user = replace(ok, username="u", password_file=password)
    assert "pw" in repr(with_user.password_file) and "secret" not in repr(with_user)
