"""The browser pages: the login form, the main page and its static files (no CDN).

The login form is a plain HTML form (no JavaScript needed); its body is parsed here with the
standard library, so the hub needs no multipart package. Pages carry a strict
Content-Security-Policy that allows nothing but the hub itself.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import logging
import re
from functools import cache
from pathlib import Path
from typing import Final
from urllib.parse import parse_qs

from fastapi import APIRouter, Request, Response, status
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse

from hub.api.deps import Hub, client_address
from hub.api.routes.session import set_session_cookie
from hub.services.auth import COOKIE_NAME, LoginRefused, LoginThrottled

log = logging.getLogger(__name__)

STATIC_DIR: Final = Path(__file__).parent / "static"
MAX_FORM_BYTES: Final = 8 * 1024
CONTENT_SECURITY_POLICY: Final = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:;"
    " media-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none';"
    " frame-ancestors 'none'; form-action 'self'"
)
_MESSAGE_MARK: Final = "<!--message-->"
_LIVE_CONFIG = re.compile(
    r'(<script type="application/json" id="live-config">)(.*?)(</script>)', re.S
)
_STYLE = re.compile(r"<style>(.*?)</style>", re.S)
# Where to go after logging in: a page of the hub's own ("#request/R-2026-0001"), nothing else.
_NEXT_PAGE = re.compile(r"#[A-Za-z0-9/_-]{1,100}")
_REFERENCE = re.compile(r"R-[0-9]{4}-[0-9]{4,6}")

router = APIRouter(include_in_schema=False)


@cache
def _login_template() -> str:
    # Read once (a package file), so the event loop does not read it on every request.
    return (STATIC_DIR / "login.html").read_text(encoding="utf-8")


def _login_page(message: str | None = None, status_code: int = 200) -> HTMLResponse:
    page = _login_template()
    shown = "" if message is None else f'<p class="error" role="alert">{html.escape(message)}</p>'
    return HTMLResponse(page.replace(_MESSAGE_MARK, shown), status_code=status_code)


@router.get("/")
async def index(request: Request, hub: Hub) -> Response:
    cookie = request.cookies.get(COOKIE_NAME)
    if not cookie or await hub.auth.from_cookie(cookie) is None:
        return RedirectResponse("/login", status_code=status.HTTP_303_SEE_OTHER)
    return FileResponse(STATIC_DIR / "index.html", media_type="text/html")


@router.get("/requests/{reference}")
async def request_link(reference: str) -> Response:
    """The link in a requester's mail (``notifications.messages.status_url``): the request's
    status page, ``/#request/R-2026-0001``. Logged out, ``/`` sends the browser to the login
    form, which keeps the ``#request/...`` part and opens it after login."""
    if not _REFERENCE.fullmatch(reference):
        return RedirectResponse("/", status_code=status.HTTP_303_SEE_OTHER)
    return RedirectResponse(f"/#request/{reference}", status_code=status.HTTP_303_SEE_OTHER)


def live_page(ice_servers: list[dict[str, object]]) -> tuple[str, str]:
    """``live.html`` as the hub serves it, and its Content-Security-Policy.

    The page's config block gets the hub's STUN/TURN servers, its script is loaded from
    ``/static/``, and its one inline ``<style>`` is allowed by hash (nothing else inline is).
    """
    page = (STATIC_DIR / "live.html").read_text(encoding="utf-8")
    config = json.dumps({"apiBase": "", "iceServers": ice_servers}).replace("</", "<\\/")
    page = _LIVE_CONFIG.sub(lambda m: m.group(1) + config + m.group(3), page, count=1)
    page = page.replace(
        '<script src="live.js"></script>', '<script src="/static/live.js"></script>'
    )
    policy = CONTENT_SECURITY_POLICY
    style = _STYLE.search(page)
    if style is not None:
        digest = base64.b64encode(hashlib.sha256(style.group(1).encode()).digest()).decode()
        policy = policy.replace("style-src 'self'", f"style-src 'self' 'sha256-{digest}'")
    return page, policy


@router.get("/live")
async def live(request: Request, hub: Hub) -> Response:
    """The live view page: ``/live?site=S&camera=C``, or ``?cam=S/C&cam=S2/C2`` for a grid."""
    cookie = request.cookies.get(COOKIE_NAME)
    if not cookie or await hub.auth.from_cookie(cookie) is None:
        return RedirectResponse("/login", status_code=status.HTTP_303_SEE_OTHER)
    servers: list[dict[str, object]] = [
        {
            "urls": list(server.urls),
            **({"username": server.username} if server.username is not None else {}),
            **({"credential": server.credential} if server.credential is not None else {}),
        }
        for server in hub.settings.live.ice_servers
    ]
    page, policy = live_page(servers)
    return HTMLResponse(
        page, headers={"Content-Security-Policy": policy, "Cache-Control": "no-store"}
    )


@router.get("/login")
async def login_form() -> HTMLResponse:
    return _login_page()


@router.post("/login")
async def login(request: Request, hub: Hub) -> Response:
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        return _login_page("The form is too large.", status.HTTP_413_CONTENT_TOO_LARGE)
    fields = parse_qs(body.decode("utf-8", errors="replace"), max_num_fields=10)
    username = (fields.get("username") or [""])[0].strip()
    next_page = (fields.get("next") or [""])[0]
    password = (fields.get("password") or [""])[0]
    if not username or not password:
        return _login_page("Give your user name and password.", status.HTTP_400_BAD_REQUEST)
    try:
        cookie, _user = await hub.auth.login(username, password, client_address(request), "form")
    except LoginThrottled as exc:
        page = _login_page(f"Not logged in: {exc}.", status.HTTP_429_TOO_MANY_REQUESTS)
        page.headers["Retry-After"] = str(exc.retry_after_seconds)
        return page
    except LoginRefused as exc:
        return _login_page(f"Not logged in: {exc}.", status.HTTP_401_UNAUTHORIZED)
    target = "/" + next_page if _NEXT_PAGE.fullmatch(next_page) else "/"
    response = RedirectResponse(target, status_code=status.HTTP_303_SEE_OTHER)
    set_session_cookie(response, hub, cookie)
    return response


@router.post("/logout")
async def logout(request: Request, hub: Hub) -> Response:
    cookie = request.cookies.get(COOKIE_NAME)
    if cookie:
        await hub.auth.logout(cookie)
    response = RedirectResponse("/login", status_code=status.HTTP_303_SEE_OTHER)
    response.delete_cookie(COOKIE_NAME, path="/")
    return response
