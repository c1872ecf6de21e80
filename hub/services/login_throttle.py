"""Login throttling: an exponential delay per client address and per user, kept in the database.

The rules (pure, ``ThrottlePolicy`` and ``refusal``):

- Each client address (an IPv6 address counts by its /64) and each *existing* user name has a
  count of recent failed logins. After ``free_failures`` the next try must wait
  ``first_delay * 2^(n-1)`` (n = failures beyond the free ones), at most ``max_delay``; a failure
  older than ``forget_after`` starts the count again. A try during the delay is refused (HTTP
  429 with Retry-After) without looking at the password.
- The address delay binds every try from that address. The user delay binds tries from
  addresses that have failed before; an address with no failures may still try, so an attacker
  who fails against someone's name cannot keep its owner out, and each new guess against that
  user costs the attacker a fresh address.
- A successful login clears its address and its user.

Bounded: user rows exist only for real users (junk names count against the address alone), and
at most ``max_tracked_addresses`` address rows are kept, the longest idle forgotten first, so
10,000 junk names or addresses neither clear the table nor make it grow without end.

``FailureLog`` decides which failures become custody rows: a failure whose address count or user
count reaches a power of two (1, 2, 4, 8, ...), so n failures from one place write about log2(n)
rows, each carrying the counts; and no more than ``MAX_FAILURE_ROWS_PER_HOUR`` in all, the rest
counted into the next row written (and a log line at most once a minute).
"""

from __future__ import annotations

import ipaddress
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from hub.domain.records import ThrottleEntry
from hub.settings import LoginSettings

log = logging.getLogger(__name__)

MAX_FAILURE_ROWS_PER_HOUR: Final = 120
UNKNOWN_ADDRESS: Final = "unknown"
MAX_KEY_CHARS: Final = 64


@dataclass(frozen=True)
class ThrottlePolicy:
    free_failures: int
    first_delay: timedelta
    max_delay: timedelta
    forget_after: timedelta
    max_tracked_addresses: int

    @classmethod
    def of(cls, settings: LoginSettings) -> ThrottlePolicy:
        return cls(
            free_failures=settings.free_failures,
            first_delay=timedelta(seconds=settings.first_delay_seconds),
            max_delay=timedelta(seconds=settings.max_delay_seconds),
            forget_after=timedelta(hours=settings.forget_after_hours),
            max_tracked_addresses=settings.max_tracked_addresses,
        )

    def delay_after(self, failures: int) -> timedelta:
        beyond = failures - self.free_failures
        if beyond <= 0:
            return timedelta(0)
        # 2^40 s is far beyond any cap; avoid building huge numbers for huge counts.
        factor = 2 ** min(beyond - 1, 40)
        return min(self.first_delay * factor, self.max_delay)

    def current(self, entry: ThrottleEntry | None, now: datetime) -> ThrottleEntry | None:
        """The entry, or None when its failures are old enough to forget."""
        if entry is None or now - entry.last_failure > self.forget_after:
            return None
        return entry

    def after_failure(
        self, entry: ThrottleEntry | None, kind: str, key: str, now: datetime
    ) -> ThrottleEntry:
        kept = self.current(entry, now)
        failures = 1 if kept is None else kept.failures + 1
        return ThrottleEntry(kind, key, failures, now, now + self.delay_after(failures))


def refusal(
    policy: ThrottlePolicy,
    address: ThrottleEntry | None,
    user: ThrottleEntry | None,
    now: datetime,
) -> timedelta | None:
    """How long this try must wait (it is refused), or None when it may go ahead."""
    address = policy.current(address, now)
    user = policy.current(user, now)
    waits = []
    if address is not None and address.next_allowed > now:
        waits.append(address.next_allowed - now)
    if user is not None and user.next_allowed > now and address is not None:
        waits.append(user.next_allowed - now)
    return max(waits) if waits else None


def address_key(host: str | None) -> str:
    """The throttled unit for a client address: IPv4 as is, IPv6 by its /64."""
    if not host:
        return UNKNOWN_ADDRESS
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host[:MAX_KEY_CHARS]
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)


def is_power_of_two(number: int) -> bool:
    return number > 0 and number & (number - 1) == 0


class FailureLog:
    """Which failed logins become custody rows (see the module docstring). In memory."""

    def __init__(self, max_rows_per_hour: int = MAX_FAILURE_ROWS_PER_HOUR) -> None:
        self._max = max_rows_per_hour
        self._window_start: datetime | None = None
        self._rows_in_window = 0
        self.unrecorded = 0  # failures (and refused tries) not in any row yet
        self._last_warning: datetime | None = None

    def should_record(
        self, address_failures: int, user_failures: int | None, now: datetime
    ) -> bool:
        milestone = is_power_of_two(address_failures) or (
            user_failures is not None and is_power_of_two(user_failures)
        )
        if not milestone:
            self.unrecorded += 1
            return False
        if self._window_start is None or now - self._window_start >= timedelta(hours=1):
            self._window_start, self._rows_in_window = now, 0
        if self._rows_in_window >= self._max:
            self.unrecorded += 1
            if self._last_warning is None or now - self._last_warning >= timedelta(minutes=1):
                self._last_warning = now
                log.warning(
                    "failed logins: over %s custody rows this hour; %s failure(s) counted but"
                    " not written one by one",
                    self._max,
                    self.unrecorded,
                )
            return False
        self._rows_in_window += 1
        return True

    def take_unrecorded(self) -> int:
        count, self.unrecorded = self.unrecorded, 0
        return count

    def refused(self) -> None:
        """A try refused during a delay: counted into the next row."""
        self.unrecorded += 1
