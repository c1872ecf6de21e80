"""Users (supervisor): list, add, disable, enable, reset a password (never echoed)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, status
from pydantic import BaseModel, ConfigDict, Field

from hub.api.deps import Hub, require
from hub.domain.acl import Permission
from hub.domain.records import UserRecord
from hub.services.auth import Principal
from hub.services.users import UserChangeRefused

router = APIRouter(prefix="/api/users", tags=["users"])

Admin = Annotated[Principal, Depends(require(Permission.USERS_MANAGE))]
UserPath = Annotated[str, Field(min_length=1, max_length=64)]


class UserIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    username: str = Field(min_length=1, max_length=64)
    role: Literal["police", "operator", "supervisor", "engineer", "auditor"]
    display_name: str = Field(default="", max_length=120)
    email: str = Field(default="", max_length=254)
    force: str = Field(default="", max_length=120)
    collar_number: str = Field(default="", max_length=20)
    password: str = Field(min_length=1, max_length=1024)


class PasswordIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    password: str = Field(min_length=1, max_length=1024)


def user_out(user: UserRecord) -> dict[str, Any]:
    return {
        "username": user.username,
        "role": user.role.value,
        "display_name": user.display_name,
        "email": user.email,
        "force": user.force,
        "collar_number": user.collar_number,
        "disabled": user.disabled,
        "source": user.source,
    }


def _refused(exc: UserChangeRefused) -> HTTPException:
    return HTTPException(exc.status, exc.message)


@router.get("", summary="Every user, with role and whether disabled")
async def list_users(hub: Hub, user: Admin) -> dict[str, Any]:
    return {"users": [user_out(u) for u in await hub.service.users.all()]}


@router.post("", status_code=status.HTTP_201_CREATED, summary="Add a user")
async def add_user(body: UserIn, hub: Hub, user: Admin) -> dict[str, Any]:
    try:
        added = await hub.service.users.add(
            password=body.password,
            actor=user.username,
            username=body.username,
            role=body.role,
            display_name=body.display_name,
            email=body.email,
            force=body.force,
            collar_number=body.collar_number,
        )
    except UserChangeRefused as exc:
        raise _refused(exc) from exc
    return user_out(added)


@router.post("/{username}/disable", summary="Disable a user (their sessions end)")
async def disable(username: str, hub: Hub, user: Admin) -> dict[str, Any]:
    try:
        return user_out(await hub.service.users.set_disabled(username, True, user.username))
    except UserChangeRefused as exc:
        raise _refused(exc) from exc


@router.post("/{username}/enable", summary="Enable a disabled user again")
async def enable(username: str, hub: Hub, user: Admin) -> dict[str, Any]:
    try:
        return user_out(await hub.service.users.set_disabled(username, False, user.username))
    except UserChangeRefused as exc:
        raise _refused(exc) from exc


@router.post("/{username}/reset-password", summary="Set a new password (sessions end)")
async def reset_password(username: str, body: PasswordIn, hub: Hub, user: Admin) -> dict[str, Any]:
    try:
        changed = await hub.service.users.reset_password(username, body.password, user.username)
    except UserChangeRefused as exc:
        raise _refused(exc) from exc
    return user_out(changed)
