"""The mailer against a real SMTP server (aiosmtpd): STARTTLS or TLS, AUTH, retries while the relay
is down, giving up on a wrong password, and never a password in the log."""

from __future__ import annotations

import logging
import time
from dataclasses import replace
from pathlib import Path

import pytest

from hub.notifications.mailer import Mailer, MailNotSent, SmtpSecurity, SmtpSettings, deliver
from hub.notifications.messages import MailFacts, NotificationStep, RequestMail, compose
from tests.support.smtp_server import (
    SMTP_PASSWORD,
    SMTP_USER,
    TestSmtpServer,
    free_port,
)

FACTS = MailFacts(
    reference="R-12",
    police_reference="CR/012345/24",
    recipient_name="DC Jane Smith",
    status_url="https://cctv.example.gov.uk/requests/R-12",
    reason="cam-1 faces a private garden",
)


def mail(step: NotificationStep = NotificationStep.PARTLY_APPROVED) -> RequestMail:
    return compose(step, FACTS, ("jane.smith@cleveland.police.uk", "dc.brown@cleveland.police.uk"))


def settings(server: TestSmtpServer, password_file: Path, **changes: object) -> SmtpSettings:
    base = SmtpSettings(
        host="127.0.0.1",
        port=server.port,
        from_address="cctv-hub@council.example.gov.uk",
        username=SMTP_USER,
        password_file=password_file,
        ca_file=server.ca_file,
        timeout=5.0,
        retry_delays=(0.2, 0.2, 0.2),
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def wait_until(condition: object, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.05)


def test_starttls_and_auth_deliver_the_mail(
    smtp_server: TestSmtpServer, smtp_password_file: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    mailer = Mailer(settings(smtp_server, smtp_password_file))
    mailer.start()
    try:
        mailer.send(mail())
        (got,) = smtp_server.wait_for(1)
        wait_until(lambda: mailer.sent == 1 and mailer.pending() == 0)
    finally:
        mailer.close()
    assert got.mail_from == "cctv-hub@council.example.gov.uk"
    assert got.rcpt_tos == ("jane.smith@cleveland.police.uk", "dc.brown@cleveland.police.uk")
    message = got.message
    assert message["Subject"] == "[CCTV] R-12 partly approved (CR/012345/24)"
    assert message["Auto-Submitted"] == "auto-generated"
    assert message["Message-ID"].endswith("@council.example.gov.uk>")
    body = message.get_content()
    assert "Status page: https://cctv.example.gov.uk/requests/R-12" in body
    assert "cam-1 faces a private garden" in body
    assert SMTP_PASSWORD not in caplog.text
    assert "mail for R-12 (partly_approved) sent to 2 recipients" in caplog.text


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
def test_implicit_tls(tmp_path: Path, smtp_password_file: Path) -> None:
    server = TestSmtpServer(tmp_path / "certs", free_port(), implicit_tls=True)
    server.start()
    try:
        deliver(settings(server, smtp_password_file, security=SmtpSecurity.TLS), mail())
        assert len(server.wait_for(1)) == 1
    finally:
        server.stop()


def test_a_relay_that_is_down_is_retried_until_it_is_back(
    tmp_path: Path, smtp_password_file: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    server = TestSmtpServer(tmp_path / "certs", free_port())  # not started yet
    mailer = Mailer(settings(server, smtp_password_file, retry_delays=(0.3,) * 20))
    mailer.start()
    try:
        mailer.send(mail(NotificationStep.READY))  # returns at once, relay down
        wait_until(lambda: "not sent (attempt 2)" in caplog.text)
        assert mailer.sent == 0 and mailer.pending() == 1
        server.start()
        try:
            (got,) = server.wait_for(1)
            wait_until(lambda: mailer.sent == 1)
        finally:
            server.stop()
    finally:
        mailer.close()
    assert got.message["Subject"] == "[CCTV] R-12 ready (CR/012345/24)"
    assert "ConnectionRefusedError" in caplog.text


def test_a_wrong_password_is_logged_retried_and_given_up_without_crashing(
    smtp_server: TestSmtpServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    wrong = tmp_path / "wrong.password"
    wrong.write_text("not-the-password-7c1e\n", encoding="utf-8")
    gave_up: list[tuple[str, str]] = []
    mailer = Mailer(
        settings(smtp_server, wrong, retry_delays=(0.1, 0.1)),
        on_gave_up=lambda m, why: gave_up.append((m.request, why)),
    )
    mailer.start()
    try:
        mailer.send(mail())
        wait_until(lambda: mailer.given_up == 1)
    finally:
        mailer.close()
    assert smtp_server.received == []
    assert gave_up and gave_up[0][0] == "R-12" and gave_up[0][1].startswith("the relay said 535")
    assert "not sent (attempt 1)" in caplog.text and "not sent (attempt 2)" in caplog.text
    assert "not sent after 3 attempts, given up" in caplog.text
    assert "not-the-password-7c1e" not in caplog.text


def test_an_untrusted_relay_certificate_is_refused(
    smtp_server: TestSmtpServer, smtp_password_file: Path
) -> None:
    with pytest.raises(MailNotSent, match=r"CERTIFICATE_VERIFY_FAILED|certificate verify failed"):
        deliver(settings(smtp_server, smtp_password_file, ca_file=None), mail())
    assert smtp_server.received == []


def test_a_missing_password_file_is_a_clear_failure(
    smtp_server: TestSmtpServer, tmp_path: Path
) -> None:
    with pytest.raises(MailNotSent, match="cannot read the SMTP password file"):
        deliver(settings(smtp_server, tmp_path / "absent"), mail())


def test_send_after_close_is_logged_not_raised(
    smtp_server: TestSmtpServer, smtp_password_file: Path, caplog: pytest.LogCaptureFixture
) -> None:
    mailer = Mailer(settings(smtp_server, smtp_password_file))
    mailer.start()
    mailer.close()
    mailer.send(mail())
    assert "not queued: mailer stopped" in caplog.text
