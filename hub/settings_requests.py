"""The hub's ``[requests]`` and ``[smtp]`` settings: footage-request workflow and requester mail.

``[[requests.auto_approval]]`` rules are read by ``hub.domain.requests.auto_approval`` (unknown
keys, wrong types and repeated names refused with the rule and key named). ``[smtp]`` is optional:
without it every mail is logged (and kept in the outbox) but none is sent.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from hub.domain.requests.auto_approval import ApprovalRule, RuleConfigError, rules_from_data
from hub.domain.requests.parts import DEFAULT_PART_MINUTES
from hub.domain.requests.retention import RetentionPolicy
from hub.domain.requests.validation import RequestLimits
from hub.notifications.mailer import MailSettingsError, SmtpSecurity, SmtpSettings


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RequestSettings(_Strict):
    base_url: str = Field(
        default="http://127.0.0.1:8080",
        max_length=300,
        description="The hub's public address, for the status-page link in mails (https://...)",
    )
    operator_may_release: bool = Field(
        default=False, description="Operators may release (else supervisors only)"
    )
    max_window_hours: float = Field(
        default=24, gt=0, le=24, description="Longest window one request may ask for"
    )
    part_minutes: float = Field(
        default=DEFAULT_PART_MINUTES,
        ge=1,
        le=24 * 60,
        description="Each camera's window is cut, uploaded and stored in parts this long at most",
    )
    sweep_seconds: float = Field(
        default=2.0,
        gt=0,
        le=300,
        description="How often the hub moves requests on (holds confirmed, jobs stored)",
    )
    retention_check_hours: float = Field(
        default=24, gt=0, le=168, description="How often the retention due list is made"
    )
    expiring_notice_days: int = Field(
        default=7, ge=0, le=90, description="Mail the requester this long before deletion"
    )
    no_further_action_days: int = Field(default=31, ge=1, le=3650)
    review_after_days: int = Field(default=90, ge=1, le=3650)
    after_case_ends_days: int = Field(default=31, ge=1, le=3650)
    auto_approval: tuple[dict[str, Any], ...] = Field(
        default=(), max_length=100, description="Auto-approval rules, tried in order"
    )

    @field_validator("auto_approval")
    @classmethod
    def _rules(cls, value: tuple[dict[str, Any], ...]) -> tuple[dict[str, Any], ...]:
        try:
            rules_from_data(list(value))
        except RuleConfigError as exc:
            raise ValueError(str(exc)) from exc
        return value

    @property
    def rules(self) -> tuple[ApprovalRule, ...]:
        return rules_from_data(list(self.auto_approval))

    @property
    def part(self) -> timedelta:
        return timedelta(minutes=self.part_minutes)

    @property
    def limits(self) -> RequestLimits:
        return RequestLimits(max_window=timedelta(hours=self.max_window_hours))

    @property
    def retention(self) -> RetentionPolicy:
        return RetentionPolicy(
            no_further_action=timedelta(days=self.no_further_action_days),
            review_after=timedelta(days=self.review_after_days),
            after_case_ends=timedelta(days=self.after_case_ends_days),
        )


class SmtpSection(_Strict):
    host: str = Field(min_length=1, max_length=253, description="The mail relay")
    port: int = Field(default=587, ge=1, le=65535)
    security: Literal["starttls", "tls", "none"] = Field(
        default="starttls", description="starttls (587), tls (465), none (loopback relay only)"
    )
    from_address: str = Field(min_length=3, max_length=254, description="The sender address")
    username: str = Field(default="", max_length=254)
    password_file: Path | None = Field(
        default=None, description="File whose first line is the password (mode 0600)"
    )
    ca_file: Path | None = Field(default=None, description="The relay's CA, if not a public one")
    timeout_seconds: float = Field(default=30.0, gt=0, le=300)

    @model_validator(mode="after")
    def _usable(self) -> Self:
        try:
            self.mailer_settings()
        except MailSettingsError as exc:
            raise ValueError(str(exc)) from exc
        return self

    def mailer_settings(self) -> SmtpSettings:
        return SmtpSettings(
            host=self.host,
            from_address=self.from_address,
            port=self.port,
            security=SmtpSecurity(self.security),
            username=self.username,
            password_file=self.password_file,
            ca_file=self.ca_file,
            timeout=self.timeout_seconds,
        )
