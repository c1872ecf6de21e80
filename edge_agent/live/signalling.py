"""Live view signalling on the agent: MQTT live messages in, :class:`LiveService` calls out.

The hub relays a viewer's offer on ``sites/{site}/live/{session}/offer``; the agent answers on
``.../answer`` with a :class:`~cctv_common.wire.payloads.LiveAnswer` that carries the SDP answer, or
``error`` with the reason live view was refused (unknown camera, H.265, viewer limit, camera
unavailable). Candidates and closes from the hub are handed to the service. A malformed message
is logged and dropped; nothing here can stop the uplink's message handling.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Coroutine
from typing import Any, Final, Protocol

from cctv_common.wire.payloads import (
    InvalidPayload,
    LiveAnswer,
    LiveCandidate,
    LiveClose,
    LiveOffer,
)
from cctv_common.wire.topics import LiveTopic, live_topic
from edge_agent.live.service import LiveError, LiveService, UnknownSession

log = logging.getLogger(__name__)

MAX_ERROR_CHARS: Final = 500  # LiveAnswer.error's limit


class LivePublisher(Protocol):
    """What signalling needs of the uplink (``Uplink.publish`` fits)."""

    def publish(self, topic: str, payload: bytes, *, retain: bool = False) -> Awaitable[None]: ...


class LiveSignalling:
    """Routes one site's live messages to its :class:`LiveService`. Use on the agent's loop."""

    def __init__(self, site_id: str, service: LiveService, publisher: LivePublisher) -> None:
        self.site_id = site_id
        self._service = service
        self._publisher = publisher
        self._tasks: set[asyncio.Task[Any]] = set()
        self._stopping = False

    def handle(self, topic: LiveTopic, payload: bytes, retained: bool = False) -> None:
        """One live message (topic already parsed and checked to be this site's)."""
        if self._stopping:
            return
        if retained:
            # Signalling is never retained; an old offer must not open a session nobody watches.
            log.warning(
                "site=%s session=%s retained live %s ignored",
                self.site_id,
                topic.session,
                topic.kind,
            )
            return
        match topic.kind:
            case "offer":
                self._offer(topic.session, payload)
            case "candidate":
                self._candidate(topic.session, payload)
            case "close":
                self._close(topic.session, payload)
            case _:
                log.debug(
                    "site=%s session=%s live %s not for the agent",
                    self.site_id,
                    topic.session,
                    topic.kind,
                )

    async def stop(self) -> None:
        """Stop taking messages, let running offers finish their answer, close every session."""
        self._stopping = True
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._service.close_all()

    # -- messages --------------------------------------------------------------------------------

    def _offer(self, session: str, payload: bytes) -> None:
        try:
            offer = LiveOffer.parse(payload)
        except InvalidPayload as exc:
            log.warning(
                "site=%s session=%s malformed live offer ignored: %s", self.site_id, session, exc
            )
            return
        if offer.session_id != session:
            log.warning(
                "site=%s session=%s live offer ignored: its payload names session %s",
                self.site_id,
                session,
                offer.session_id,
            )
            return
        log.info(
            "site=%s camera=%s session=%s live offer from the hub",
            self.site_id,
            offer.camera_id,
            session,
        )
        self._spawn(self._answer(offer))

    async def _answer(self, offer: LiveOffer) -> None:
        try:
            sdp = await self._service.handle_offer(offer)
            answer = LiveAnswer(session_id=offer.session_id, sdp=sdp)
        except LiveError as exc:
            log.info(
                "site=%s camera=%s session=%s live view refused (%s): %s",
                self.site_id,
                offer.camera_id,
                offer.session_id,
                exc.code,
                exc,
            )
            answer = LiveAnswer(session_id=offer.session_id, error=_error_text(str(exc)))
        except Exception as exc:  # a bug must still answer, or the viewer waits for nothing
            log.exception(
                "site=%s camera=%s session=%s live offer failed",
                self.site_id,
                offer.camera_id,
                offer.session_id,
            )
            answer = LiveAnswer(
                session_id=offer.session_id,
                error=_error_text(
                    f"camera {offer.camera_id}: live view failed at the site ({exc})"
                ),
            )
        topic = live_topic(self.site_id, offer.session_id, "answer")
        try:
            await self._publisher.publish(topic, answer.to_bytes())
        except Exception as exc:
            log.warning(
                "site=%s camera=%s session=%s live answer not sent: %s",
                self.site_id,
                offer.camera_id,
                offer.session_id,
                exc,
            )
            if answer.sdp is not None:
                await self._service.close(offer.session_id, "answer could not be sent")

    def _candidate(self, session: str, payload: bytes) -> None:
        try:
            candidate = LiveCandidate.parse(payload)
        except InvalidPayload as exc:
            log.warning(
                "site=%s session=%s malformed live candidate ignored: %s",
                self.site_id,
                session,
                exc,
            )
            return
        if candidate.session_id != session:
            log.warning(
                "site=%s session=%s live candidate ignored: its payload names session %s",
                self.site_id,
                session,
                candidate.session_id,
            )
            return
        self._spawn(self._add_candidate(candidate))

    async def _add_candidate(self, candidate: LiveCandidate) -> None:
        try:
            await self._service.add_candidate(
                candidate.session_id,
                candidate.candidate,
                candidate.sdp_mid,
                candidate.sdp_mline_index,
            )
        except UnknownSession:
            log.debug(
                "site=%s session=%s candidate for a session that is gone",
                self.site_id,
                candidate.session_id,
            )
        except LiveError as exc:
            log.warning(
                "site=%s session=%s live candidate not used: %s",
                self.site_id,
                candidate.session_id,
                exc,
            )

    def _close(self, session: str, payload: bytes) -> None:
        try:
            close = LiveClose.parse(payload)
        except InvalidPayload as exc:
            log.warning(
                "site=%s session=%s malformed live close; closing the session anyway: %s",
                self.site_id,
                session,
                exc,
            )
            close = LiveClose(session_id=session, reason="closed by the hub")
        if close.session_id != session:
            log.warning(
                "site=%s session=%s live close ignored: its payload names session %s",
                self.site_id,
                session,
                close.session_id,
            )
            return
        self._spawn(self._service.close(session, close.reason or "closed by viewer"))

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error(
                "site=%s live signalling task failed",
                self.site_id,
                exc_info=task.exception(),
            )


def _error_text(text: str) -> str:
    return text if len(text) <= MAX_ERROR_CHARS else text[: MAX_ERROR_CHARS - 3] + "..."
