"""The public upload page ``/upload/{token}``: no login, the token in the path is the
credential. A link that is unknown answers a plain 404 page, one that has expired or was
withdrawn a 410 page saying so; a live one gets ``static/upload.html`` with what the uploader
needs to know (for whom, the purpose, until when, the limits) in its JSON config block."""

from __future__ import annotations

import html
import json
import re
from functools import cache
from typing import Final

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from cctv_common.clock import iso_utc
from hub.api.deps import Hub, client_address
from hub.domain.uploads.links import LinkState, UploadRefused
from hub.domain.uploads.media import ACCEPTED
from hub.ui import STATIC_DIR

router = APIRouter(include_in_schema=False)

_CONFIG: Final = re.compile(
    r'(<script type="application/json" id="upload-config">)(.*?)(</script>)', re.S
)
_NO_STORE: Final = {"Cache-Control": "no-store"}


@cache
def _template() -> str:
    return (STATIC_DIR / "upload.html").read_text(encoding="utf-8")


def _notice(title: str, message: str, status_code: int) -> HTMLResponse:
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(title)}</title><link rel="stylesheet" href="/static/upload.css"></head>
<body><main class="upload"><h1>{html.escape(title)}</h1>
<p class="notice" role="alert" data-link-state="{status_code}">{html.escape(message)}</p>
</main></body></html>"""
    return HTMLResponse(page, status_code=status_code, headers=_NO_STORE)


@router.get("/upload/{token}")
async def upload_page(token: str, request: Request, hub: Hub) -> HTMLResponse:
    outside = hub.service.outside
    try:
        outside.gate.enter(client_address(request))
    except UploadRefused as exc:
        return _notice("Too many requests", exc.message, exc.status)
    link = await outside.links.find(token)
    if link is None:
        outside.gate.unknown_token(client_address(request))
        return _notice(
            "Upload link not found",
            "This upload link is not known. Check that the address was copied whole.",
            404,
        )
    state = link.state(hub.now())
    if state is not LinkState.ACTIVE:
        why = "was withdrawn" if state is LinkState.REVOKED else "has expired"
        return _notice(
            "Upload link closed",
            f"This upload link {why}: it takes no more files. If you still have footage to"
            " give, ask the council for a new link.",
            410,
        )
    use = await outside.links.use(link.id)
    config = {
        "recipient": link.recipient_name,
        "organisation": link.recipient_organisation,
        "purpose": link.purpose,
        "expires_at": iso_utc(link.expires_at),
        "bytes_left": max(link.max_bytes - use.bytes, 0),
        "files_left": max(link.max_files - use.files, 0),
        "accepted": ACCEPTED,
        "chunk_bytes": hub.settings.uploads.chunk_bytes,
    }
    text = json.dumps(config).replace("</", "<\\/")
    page = _CONFIG.sub(lambda m: m.group(1) + text + m.group(3), _template(), count=1)
    return HTMLResponse(page, headers=_NO_STORE)
