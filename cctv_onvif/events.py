"""Camera events: one blocking PullPoint subscription, and `EventStream`, the state machine that
keeps one alive for the asyncio agent (subscribe, pull, renew, back off and restart)."""

from __future__ import annotations

import asyncio
import enum
import logging
from collections import deque
from collections.abc import Callable
from types import TracebackType
from typing import Any, TypeVar

from cctv_common.uris import redact_uri
from cctv_onvif.client import OnvifClient
from cctv_onvif.parse import granted_seconds, parse_pull_messages, parse_subscription
from cctv_onvif.types import (
    EventSettings,
    OnvifError,
    OnvifEvent,
    OnvifUnreachable,
    OnvifUnsupported,
    PullBatch,
)

log = logging.getLogger(__name__)

T = TypeVar("T")


class PullPoint:
    """One PullPoint subscription on one camera, blocking: subscribe, pull, renew, unsubscribe."""

    def __init__(self, client: OnvifClient, settings: EventSettings) -> None:
        self.client = client
        self.settings = settings
        self.address: str | None = None
        # The HTTP read timeout outlasts the long poll.
        self._channel = client.soap.subscription_channel(
            settings.pull_timeout + client.settings.timeout
        )

    @property
    def where(self) -> str:
        return self.client.target.where

    def subscribe(self) -> float:
        """Create the subscription; return the seconds the camera granted."""
        self.client.connect()
        answer = self._channel.create(self.settings.termination)
        address, reference, granted = self.client.parse(
            parse_subscription, answer, "CreatePullPointSubscription"
        )
        self._channel.attach(address, reference)
        self.address = address
        log.info(
            "%s: event subscription %s for %.0f s", self.where, redact_uri(address), granted or 0
        )
        return granted if granted and granted > 0 else self.settings.termination

    def pull(self, timeout: float, limit: int | None = None) -> PullBatch:
        envelope = self._channel.pull(timeout, limit or self.settings.message_limit)
        batch = self.client.parse(parse_pull_messages, envelope, "PullMessages")
        for problem in batch.problems:
            log.warning("%s: skipped an event notification: %s", self.where, problem)
        return batch

    def renew(self) -> float:
        """Extend the subscription; return the seconds the camera granted."""
        answer = self._channel.renew(self.settings.termination) or {}
        granted = granted_seconds(answer.get("CurrentTime"), answer.get("TerminationTime"))
        return granted if granted and granted > 0 else self.settings.termination

    def unsubscribe(self) -> None:
        self._channel.unsubscribe()

    def close(self) -> None:
        self._channel.close()


class SubscriptionState(enum.Enum):
    STOPPED = "stopped"
    SUBSCRIBING = "subscribing"
    PULLING = "pulling"
    RENEWING = "renewing"
    BACKOFF = "backoff"
    CLOSED = "closed"


class EventStream:
    """A camera's events as an async iterator, from a PullPoint subscription kept alive.

    States: STOPPED -> SUBSCRIBING -> PULLING <-> RENEWING; any error -> BACKOFF -> SUBSCRIBING
    (with the clock measured again, since a camera that rebooted may have a new time); aclose()
    -> CLOSED. A camera without an events service raises OnvifUnsupported and closes the stream.
    Why the timings (EventSettings) are what they are:

    - termination 60 s: asked for in Create and Renew. Short, so that a subscription we abandon
      (power cut, crash) lapses on the camera within a minute: cameras hold only a handful of
      subscriptions and refuse new ones when full.
    - renew at half the time granted: leaves the other half for a renewal that fails and for the
      restart that follows, before the camera drops the subscription.
    - pull timeout 10 s, and never past the renewal time: events come back at once whatever the
      timeout; the long poll only bounds how often an idle camera is asked, and waking in time to
      renew matters more. The HTTP read timeout is this plus OnvifSettings.timeout.
    - backoff 1 s doubling to 60 s: a rebooting camera takes 30-90 s to come back, and asking it
      for subscriptions faster does not bring it back sooner.
    """

    def __init__(self, client: OnvifClient, settings: EventSettings | None = None) -> None:
        self.client = client
        self.settings = settings or EventSettings()
        self.state = SubscriptionState.STOPPED
        self.renewals = 0
        self.restarts = 0
        self.last_error: str | None = None
        self._pending: deque[OnvifEvent] = deque()
        self._pullpoint: PullPoint | None = None
        self._renew_at = 0.0
        self._backoff = self.settings.backoff_initial

    def __aiter__(self) -> EventStream:
        return self

    async def __aenter__(self) -> EventStream:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def __anext__(self) -> OnvifEvent:
        while not self._pending:
            if self.state is SubscriptionState.CLOSED:
                raise StopAsyncIteration
            await self.step()
        return self._pending.popleft()

    def _backstop(self, seconds: float) -> float:
        # The blocking call has its own HTTP timeouts; this guards against one slipping past them.
        return seconds + 2 * self.client.settings.timeout + 1.0

    async def _run(self, seconds: float, function: Callable[..., T], *args: Any) -> T:
        try:
            return await asyncio.wait_for(
                asyncio.to_thread(function, *args), self._backstop(seconds)
            )
        except TimeoutError as exc:
            raise OnvifUnreachable(
                f"{self.client.target.where} does not answer: events call stuck",
                self.client.target.camera_id,
            ) from exc

    async def step(self) -> None:
        """One transition of the state machine."""
        loop = asyncio.get_running_loop()
        state = self.state
        try:
            if state in (SubscriptionState.STOPPED, SubscriptionState.SUBSCRIBING):
                self.state = SubscriptionState.SUBSCRIBING
                pullpoint = PullPoint(self.client, self.settings)
                self._pullpoint = pullpoint
                # Subscribing may first connect (clock and services): two more exchanges.
                granted = await self._run(2 * self.client.settings.timeout, pullpoint.subscribe)
                self._renew_at = loop.time() + granted * self.settings.renew_fraction
                self._backoff = self.settings.backoff_initial
                self.last_error = None
                self.state = SubscriptionState.PULLING
            elif state is SubscriptionState.PULLING:
                if loop.time() >= self._renew_at:
                    self.state = SubscriptionState.RENEWING
                    return
                wait = min(
                    self.settings.pull_timeout,
                    max(self._renew_at - loop.time(), self.settings.min_pull),
                )
                assert self._pullpoint is not None
                batch = await self._run(wait, self._pullpoint.pull, wait)
                self._pending.extend(batch.events)
            elif state is SubscriptionState.RENEWING:
                assert self._pullpoint is not None
                granted = await self._run(0, self._pullpoint.renew)
                self._renew_at = loop.time() + granted * self.settings.renew_fraction
                self.renewals += 1
                self.state = SubscriptionState.PULLING
            elif state is SubscriptionState.BACKOFF:
                await asyncio.sleep(self._backoff)
                self._backoff = min(self._backoff * 2, self.settings.backoff_max)
                await self._run(0, self.client.get_system_date_and_time)
                self.state = SubscriptionState.SUBSCRIBING
        except OnvifUnsupported:
            await self.aclose()
            raise
        except OnvifError as exc:
            self.last_error = str(exc)
            log.warning(
                "%s: event subscription failed while %s: %s; again in %g s",
                self.client.target.where,
                state.value,
                exc,
                self._backoff,
            )
            await self._drop_subscription()
            self.restarts += 1
            self.state = SubscriptionState.BACKOFF

    async def _drop_subscription(self) -> None:
        pullpoint, self._pullpoint = self._pullpoint, None
        if pullpoint is None:
            return
        try:
            await self._run(0, pullpoint.unsubscribe)
        except OnvifError as exc:
            log.info(
                "%s: could not unsubscribe (%s); it lapses on its own",
                self.client.target.where,
                exc,
            )
        finally:
            pullpoint.close()

    async def aclose(self) -> None:
        if self.state is not SubscriptionState.CLOSED:
            self.state = SubscriptionState.CLOSED
            await self._drop_subscription()
