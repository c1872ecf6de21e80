"""Live view signalling on the hub: a browser's WebRTC offer goes to the site over MQTT.

The site's box is behind NAT, so the hub relays: :meth:`LiveBridge.offer` checks the site and
camera, publishes a ``LiveOffer`` on ``sites/{site}/live/{session}/offer`` with the hub's
STUN/TURN servers and waits for the agent's ``LiveAnswer`` on ``.../answer``. Candidates and
closes go the same way. The media itself flows browser <-> agent; the hub never sees it.

Every session is in the custody log: ``live_start`` when the site answered (who, which camera),
``live_end`` when it ended (closed by the viewer, or the hub stopping). Refusals are errors with
an HTTP status (:class:`LiveRequestError`), mapped from the agent's error text.

With several hub workers behind a load balancer with no sticky routing, the offer waits for the
site's answer on the worker that sent it (the answer topic carries its ``worker_id``), and the
session is then a row in the database (``live_sessions``): a candidate or close that reaches
another worker is published to the site from there, and ``live_end`` is written once, by
whichever worker ends it. A worker that stops ends the sessions it started; one that died ends
them when it starts again (the same ``worker_id``).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Final

from cctv_common.clock import utc_now
from cctv_common.refusals import Refusals
from cctv_common.wire.payloads import (
    IceServer,
    InvalidPayload,
    LiveAnswer,
    LiveCandidate,
    LiveClose,
    LiveOffer,
)
from cctv_common.wire.topics import LiveKind, live_topic
from hub.services.custody import CustodyAction
from hub.services.site_requests import (
    LinkReady,
    PendingReplies,
    SiteRequestError,
    check_site_camera,
)
from hub.settings import LiveSettings
from hub.storage.ports import HubStorage, UnitOfWork
from hub.storage.worker_ports import LiveSessionRecord

log = logging.getLogger(__name__)

Publish = Callable[..., None]  # (topic, payload, *, retain=False)

# The agent's refusals, by what their text says (the MQTT answer carries text only).
_ERROR_STATUS: Final[tuple[tuple[str, int], ...]] = (
    ("has no camera", 404),
    ("H.265", 415),
    ("cannot play", 415),
    ("live view forwards the camera's H.264 only", 415),
    ("live viewers", 429),
    ("did not open its stream", 502),
    ("cannot be reached", 502),
    ("ONVIF camera", 501),
    ("SDP offer", 400),
    ("does not offer H.264", 400),
    ("ICE candidate", 400),
)


LiveRequestError = SiteRequestError  # a live request that cannot be served, with its status


def status_for_error(text: str) -> int:
    """The HTTP status for an agent's refusal text (502 when it says nothing we know)."""
    for needle, status in _ERROR_STATUS:
        if needle in text:
            return status
    return 502


class LiveBridge:
    """The hub's live sessions and the answers it is waiting for. Use on the hub's loop."""

    def __init__(
        self,
        settings: LiveSettings,
        storage: HubStorage,
        publish: Publish,
        link_ready: LinkReady,
        refusals: Refusals | None = None,
        *,
        worker: str | None = None,
        owner: str = "hub",
        now: Callable[[], datetime] = utc_now,
    ) -> None:
        self._settings = settings
        self._storage = storage
        self._publish = publish
        self._link_ready = link_ready
        self._refusals = refusals or Refusals(log)
        self._answers: PendingReplies[LiveAnswer] = PendingReplies(worker)
        self._owner = owner  # the sessions this worker started are ended when it stops
        self._now = now

    async def session(self, session_id: str) -> LiveSessionRecord | None:
        """The open session, whichever worker started it."""
        return await self._storage.aread(lambda uow: uow.live_sessions.open(session_id))

    async def sessions(self) -> list[LiveSessionRecord]:
        """The open sessions this worker started."""
        found = await self._storage.aread(lambda uow: uow.live_sessions.open_all())
        return [session for session in found if session.worker == self._owner]

    async def end_orphans(self, alive: Callable[[], Awaitable[set[str]]], actor: str) -> int:
        """End the open sessions of hub workers that are no longer running (killed, and not
        started again): their ``live_end`` rows are written here."""
        running = await alive()
        found = await self._storage.aread(lambda uow: uow.live_sessions.open_all())
        ended = 0
        for session in found:
            if session.worker not in running:
                await self.end(session, actor, f"its hub worker {session.worker} stopped")
                ended += 1
        return ended

    @property
    def ice_servers(self) -> tuple[IceServer, ...]:
        return tuple(
            IceServer(urls=s.urls, username=s.username, credential=s.credential)
            for s in self._settings.ice_servers
        )

    # -- from the browser ------------------------------------------------------------------------

    async def offer(
        self, username: str, site_id: str, camera_id: str, sdp: str
    ) -> tuple[LiveSessionRecord, str]:
        """Relay an offer to the site; the session and the site's SDP answer."""
        await self._check_site(site_id, camera_id)
        session_id = self._answers.new_id()
        try:
            offer = LiveOffer(
                session_id=session_id, camera_id=camera_id, sdp=sdp, ice_servers=self.ice_servers
            )
        except ValueError as exc:
            raise LiveRequestError(400, f"the SDP offer cannot be sent: {exc}") from exc
        log.info(
            "site=%s camera=%s session=%s live offer from %s sent to the site",
            site_id,
            camera_id,
            session_id,
            username,
        )
        timeout = self._settings.answer_timeout_seconds
        try:
            answer = await self._answers.send_and_wait(
                site_id,
                session_id,
                lambda: self._send(site_id, session_id, "offer", offer.to_bytes()),
                timeout,
            )
        except TimeoutError:
            # The site may still answer later: tell it to drop the session.
            self._send(site_id, session_id, "close", _close(session_id, "hub gave up"))
            log.warning(
                "site=%s camera=%s session=%s no live answer within %.0f s",
                site_id,
                camera_id,
                session_id,
                timeout,
            )
            raise LiveRequestError(
                504, f"site {site_id} did not answer in time ({timeout:.0f} s)"
            ) from None
        if answer.error is not None:
            log.info(
                "site=%s camera=%s session=%s live view refused by the site: %s",
                site_id,
                camera_id,
                session_id,
                answer.error,
            )
            raise LiveRequestError(status_for_error(answer.error), answer.error)
        assert answer.sdp is not None  # LiveAnswer carries sdp or error
        now = self._now()
        session = LiveSessionRecord(session_id, site_id, camera_id, username, self._owner, now)

        def started(uow: UnitOfWork) -> None:
            uow.live_sessions.add(session)
            uow.custody.append(
                username,
                CustodyAction.LIVE_START,
                session.subject,
                {"session_id": session_id, "site_id": site_id, "camera_id": camera_id},
                at=now,
            )

        await self._storage.awrite(started)
        log.info(
            "site=%s camera=%s session=%s live session started", site_id, camera_id, session_id
        )
        return session, answer.sdp

    async def candidate(
        self,
        session: LiveSessionRecord,
        candidate: str,
        sdp_mid: str | None,
        sdp_mline_index: int | None,
    ) -> None:
        try:
            payload = LiveCandidate(
                session_id=session.session_id,
                candidate=candidate,
                sdp_mid=sdp_mid,
                sdp_mline_index=sdp_mline_index,
            ).to_bytes()
        except ValueError as exc:
            raise LiveRequestError(400, f"the ICE candidate cannot be sent: {exc}") from exc
        self._send(session.site_id, session.session_id, "candidate", payload)

    async def end(self, session: LiveSessionRecord, actor: str, reason: str) -> None:
        """End ``session``: tell the site and write the ``live_end`` row (once, on whichever
        worker ends it first)."""
        now = self._now()
        seconds = round(max(0.0, (now - session.started_at).total_seconds()), 1)

        def ended(uow: UnitOfWork) -> bool:
            if not uow.live_sessions.end(session.session_id, now):
                return False
            uow.custody.append(
                actor,
                CustodyAction.LIVE_END,
                session.subject,
                {
                    "session_id": session.session_id,
                    "site_id": session.site_id,
                    "camera_id": session.camera_id,
                    "viewer": session.username,
                    "reason": reason,
                    "seconds": seconds,
                },
                at=now,
            )
            return True

        if not await self._storage.awrite(ended):
            return
        self._send(session.site_id, session.session_id, "close", _close(session.session_id, reason))
        log.info(
            "site=%s camera=%s session=%s live session ended after %.1f s (%s)",
            session.site_id,
            session.camera_id,
            session.session_id,
            seconds,
            reason,
        )

    async def close_all(self, actor: str, reason: str) -> None:
        """End the sessions this worker started (stopping, or starting after it died)."""
        for session in await self.sessions():
            await self.end(session, actor, reason)
        self._answers.cancel_all()

    # -- from the site ---------------------------------------------------------------------------

    async def handle(self, site_id: str, session_id: str, kind: LiveKind, payload: bytes) -> None:
        """A live message a site sent (``answer``; the agent sends no candidates or closes)."""
        if kind != "answer":
            log.debug("site=%s session=%s live %s from the site ignored", site_id, session_id, kind)
            return
        if not self._answers.is_mine(session_id):
            log.debug("site=%s session=%s live answer for another hub worker", site_id, session_id)
            return
        try:
            answer = LiveAnswer.parse(payload)
        except InvalidPayload as exc:
            self._refusals.refuse(
                "live", "site=%s session=%s malformed live answer: %s", site_id, session_id, exc
            )
            return
        if answer.session_id != session_id or not self._answers.deliver(
            site_id, session_id, answer
        ):
            log.info(
                "site=%s session=%s live answer for no waiting offer ignored", site_id, session_id
            )
            if answer.sdp is not None and await self.session(session_id) is None:
                # An answer that came too late: the site holds a session nobody will use.
                self._send(site_id, session_id, "close", _close(session_id, "answered too late"))

    # -- inside ----------------------------------------------------------------------------------

    async def _check_site(self, site_id: str, camera_id: str) -> None:
        await check_site_camera(self._storage, self._link_ready, site_id, camera_id, "live view")

    def _send(self, site_id: str, session_id: str, kind: LiveKind, payload: bytes) -> None:
        self._publish(live_topic(site_id, session_id, kind), payload)


def _close(session_id: str, reason: str) -> bytes:
    return LiveClose(session_id=session_id, reason=reason).to_bytes()
