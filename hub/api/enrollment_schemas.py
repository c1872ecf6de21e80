"""The enrollment API's own models: issuing a token, a box enrolling, a site's access state."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from cctv_common.wire.ids import SiteId
from hub.domain.enrollment import SiteAccess


class EnrollmentCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    site_id: SiteId
    name: str = Field(min_length=1, max_length=200, description="Human name, e.g. 'High Street'")


class EnrollmentTokenOut(BaseModel):
    site_id: str
    name: str
    token: str = Field(description="The one-time token; shown once, only its hash is kept")
    expires_at: datetime
    command: str = Field(description="What the engineer runs on the site box")


class EnrollRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    token: str = Field(min_length=20, max_length=200)
    site_id: SiteId
    public_key_pem: str = Field(
        min_length=40, max_length=4000, description="The agent's Ed25519 public key (PEM)"
    )


class EnrollGrantOut(BaseModel):
    site_id: str
    name: str
    key_id: str
    broker_host: str
    broker_port: int
    broker_username: str
    broker_password: str
    broker_ca_pem: str
    hub_public_key_pem: str


class SiteRevoke(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field(
        default="", max_length=500, description="Why the site is revoked (custody log)"
    )


class SiteAccessOut(BaseModel):
    site_id: str
    name: str
    state: str = Field(
        description="waiting (token issued), expired (token unused and out of time), enrolled"
        " or revoked"
    )
    token_expires_at: datetime
    enrolled_at: datetime | None
    revoked_at: datetime | None
    created_by: str

    @classmethod
    def of(cls, access: SiteAccess, now: datetime) -> SiteAccessOut:
        return cls(
            site_id=access.site_id,
            name=access.name,
            state=access.state_at(now),
            token_expires_at=access.token_expires_at,
            enrolled_at=access.enrolled_at,
            revoked_at=access.revoked_at,
            created_by=access.created_by,
        )
