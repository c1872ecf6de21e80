"""Nothing unverified is served: a derived item's video or an outside item's file is served only
on a passed integrity check of its stored bytes (the same check, and the same ``evidence_checks``
row, as a clip's: ``IntegrityService.fresh_check_of``, re-hashed when older than
``evidence.reverify_hours``). Damaged or missing bytes are refused 409 with a clear message, a
log line and a ``refused`` custody row (one per login session and item)."""

from __future__ import annotations

import logging
from typing import Any, NoReturn

from fastapi import HTTPException, status

from cctv_common.clock import iso_utc
from hub.context import HubContext
from hub.domain.custody import CustodyAction
from hub.services.auth import Principal

log = logging.getLogger(__name__)


async def refuse_with_row(
    hub: HubContext, user: Principal, subject: str, name: str, message: str, **named: Any
) -> NoReturn:
    if hub.refusals.is_new_view(user.session_key, name, hub.now()):
        await hub.service.custody.aappend(
            user.username, CustodyAction.REFUSED, subject, {"reason": message, **named}
        )
    raise HTTPException(status.HTTP_409_CONFLICT, message)


async def require_verified(
    hub: HubContext,
    user: Principal,
    *,
    store_key: str,
    sha256: str,
    size: int,
    what: str,
    subject: str,
    **named: Any,
) -> None:
    """Return when the bytes under ``store_key`` match ``sha256`` and ``size``; else refuse.
    ``what`` names the item in the message ("derived item DRV-..."), ``subject`` is its
    custody subject, ``named`` goes into the refused row's detail."""
    check = await hub.service.integrity.fresh_check_of(store_key, sha256, size, [what])
    if check.ok:
        return
    message = (
        f"{what} failed its integrity check at {iso_utc(check.checked_at)}: {check.problem}."
        " It is not served as evidence; a supervisor can re-check it with"
        " `cctv-hub verify-store`"
    )
    log.warning("%s refused to %s: %s", what, user.username, check.problem)
    await refuse_with_row(hub, user, subject, what, message, **named)
