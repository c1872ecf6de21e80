"""Dependencies shared by the routes, as ``Annotated`` aliases.

``CurrentUser`` is whoever the session cookie or HTTP Basic names (401 otherwise).
``require(permission)`` also checks the role against ``hub.domain.acl`` (403 when the role may not
use
that permission at all; per-item ownership is checked by the route with ``acl.may_access``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Final

from fastapi import Depends, HTTPException, Request, status

from cctv_common.wire.ids import InvalidId, validate_id
from hub.context import HubContext
from hub.domain import acl
from hub.domain.acl import Permission
from hub.domain.custody import CustodyAction
from hub.services.auth import COOKIE_NAME, LoginRefused, LoginThrottled, Principal

UI_HEADER: Final = "x-requested-with"
_SAFE_METHODS: Final = frozenset({"GET", "HEAD", "OPTIONS"})


# The dependencies below are ``async def`` although they never await: FastAPI runs a plain
# ``def`` dependency in its thread pool, a thread hop per request (measured on the job dispatch
# path under load: part of the wait between the request's arrival and its first database call).


async def get_hub(request: Request) -> HubContext:
    hub: HubContext = request.app.state.hub
    return hub


Hub = Annotated[HubContext, Depends(get_hub)]


def _unauthorized(request: Request, message: str) -> HTTPException:
    # A browser page (cookie or our fetch header) must not get the Basic login pop-up.
    browser = COOKIE_NAME in request.cookies or UI_HEADER in request.headers
    headers = None if browser else {"WWW-Authenticate": 'Basic realm="cctv-hub"'}
    return HTTPException(status.HTTP_401_UNAUTHORIZED, message, headers=headers)


def client_address(request: Request) -> str:
    """The client's address (uvicorn puts the proxy's X-Forwarded-For client here when the
    proxy is in ``http.forwarded_allow_ips``)."""
    return request.client.host if request.client is not None else ""


def throttled(exc: LoginThrottled) -> HTTPException:
    return HTTPException(
        status.HTTP_429_TOO_MANY_REQUESTS,
        str(exc),
        headers={"Retry-After": str(exc.retry_after_seconds)},
    )


def _same_origin(request: Request) -> bool:
    origin = request.headers.get("origin")
    if origin is None:
        return True
    host = request.headers.get("host", "")
    return origin.split("://", 1)[-1] == host


async def current_user(request: Request, hub: Hub) -> Principal:
    authorization = request.headers.get("authorization")
    if authorization:
        try:
            principal = await hub.auth.from_basic(authorization, client_address(request))
        except LoginThrottled as exc:
            raise throttled(exc) from exc
        except LoginRefused as exc:
            raise _unauthorized(request, str(exc)) from exc
        if principal is not None:
            return principal
    cookie = request.cookies.get(COOKIE_NAME)
    if cookie:
        principal = await hub.auth.from_cookie(cookie)
        if principal is not None:
            # A cookie rides along on cross-site requests too: refuse changes from elsewhere.
            if request.method not in _SAFE_METHODS and not _same_origin(request):
                raise HTTPException(status.HTTP_403_FORBIDDEN, "cross-origin request refused")
            return principal
        raise _unauthorized(request, "your session has ended: log in again")
    raise _unauthorized(request, "log in first (session cookie or HTTP Basic)")


CurrentUser = Annotated[Principal, Depends(current_user)]


def require(
    permission: Permission,
) -> Callable[[Principal, HubContext, Request], Awaitable[Principal]]:
    """A dependency: the current user, if their role may use ``permission`` at all."""

    async def check(user: CurrentUser, hub: Hub, request: Request) -> Principal:
        if not acl.may(user.role, permission):
            raise await forbidden(hub, user, permission, request.method, request.url.path)
        return user

    return check


async def forbidden(
    hub: HubContext, user: Principal, permission: Permission, method: str, path: str
) -> HTTPException:
    """The FORBIDDEN custody row for a role refused ``permission``, and the 403 to raise."""
    await hub.service.custody.aappend(
        user.username,
        CustodyAction.FORBIDDEN,
        f"user:{user.username}",
        {"permission": permission.value, "method": method, "path": path[:200]},
    )
    return HTTPException(
        status.HTTP_403_FORBIDDEN, f"the {user.role.value} role may not use {permission.value}"
    )


def checked_id(kind: str, value: str) -> str:
    """An id from a path, or 400 saying why it cannot be one (never a path outside the store)."""
    try:
        return validate_id(kind, value)
    except InvalidId as exc:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, str(exc)) from exc


async def clip_id_path(clip_id: str) -> str:
    return checked_id("clip", clip_id)


async def job_id_path(job_id: str) -> str:
    return checked_id("job", job_id)


async def site_id_path(site_id: str) -> str:
    return checked_id("site", site_id)


ClipIdPath = Annotated[str, Depends(clip_id_path)]
JobIdPath = Annotated[str, Depends(job_id_path)]
SiteIdPath = Annotated[str, Depends(site_id_path)]
