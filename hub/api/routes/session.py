"""Who am I, and logging in and out from a script (the browser uses the /login form)."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request, Response, status

from hub.api.deps import CurrentUser, Hub, client_address, throttled
from hub.api.schemas import LoginIn, MeOut
from hub.domain import acl
from hub.domain.acl import Role
from hub.services.auth import COOKIE_NAME, LoginRefused, LoginThrottled

router = APIRouter(prefix="/api", tags=["session"])

# Where each role starts: police their requests, supervisors what awaits a decision, operators
# what is to fulfil, engineers fleet health (never footage), auditors the custody log.
LANDING = {
    Role.POLICE: "#requests",
    Role.SUPERVISOR: "#decisions",
    Role.OPERATOR: "#fulfil",
    Role.ENGINEER: "#fleet",
    Role.AUDITOR: "#custody",
}


def me_out(username: str, role: Role) -> MeOut:
    return MeOut(
        username=username,
        user=username,
        role=role.value,
        permissions=acl.permissions(role),
        landing=LANDING[role],
    )


def set_session_cookie(response: Response, hub: Hub, value: str) -> None:
    response.set_cookie(
        COOKIE_NAME,
        value,
        max_age=int(hub.auth.session_lifetime.total_seconds()),
        httponly=True,
        secure=hub.settings.http.cookie_secure,
        samesite="strict",
        path="/",
    )


@router.get("/me", response_model=MeOut, summary="The logged-in user and what their role may do")
async def me(user: CurrentUser) -> MeOut:
    return me_out(user.username, user.role)


@router.get(
    "/session",
    response_model=MeOut,
    summary="The session's user, role, landing page and own details (name, e-mail, force)",
)
async def current_session(user: CurrentUser, hub: Hub) -> MeOut:
    out = me_out(user.username, user.role)
    record = await hub.service.users.get(user.username)
    if record is None:  # a user from the settings file before the first sync
        return out
    return out.model_copy(
        update={
            "display_name": record.display_name,
            "email": record.email,
            "force": record.force,
            "collar_number": record.collar_number,
        }
    )


@router.post(
    "/session",
    response_model=MeOut,
    summary="Log in; sets the session cookie",
    responses={
        401: {"description": "Wrong user name or password"},
        429: {"description": "Too many failed logins: wait Retry-After seconds"},
    },
)
async def login(body: LoginIn, request: Request, response: Response, hub: Hub) -> MeOut:
    try:
        cookie, user = await hub.auth.login(
            body.username, body.password, client_address(request), "api"
        )
    except LoginThrottled as exc:
        raise throttled(exc) from exc
    except LoginRefused as exc:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, str(exc)) from exc
    set_session_cookie(response, hub, cookie)
    return me_out(user.username, user.role)


@router.delete("/session", status_code=status.HTTP_204_NO_CONTENT, summary="Log out")
async def logout(request: Request, response: Response, hub: Hub) -> None:
    cookie = request.cookies.get(COOKIE_NAME)
    if cookie:
        await hub.auth.logout(cookie)
    response.delete_cookie(COOKIE_NAME, path="/")
