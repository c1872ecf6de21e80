"""Times and durations written for people: UK local time (Europe/London), minutes rather than
seconds, and the date only when it is not the day the reader is already looking at.

The wire and the evidence stay in UTC (cctv_common.clock); this module is for messages, mail and
pages only. On the two changeover days a year the zone is named ("01:30 BST", "01:30 GMT"), so an
hour that happens twice is never ambiguous.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Final
from zoneinfo import ZoneInfo

LONDON: Final = ZoneInfo("Europe/London")


def local(moment: datetime) -> datetime:
    """``moment`` (aware) in UK local time."""
    return moment.astimezone(LONDON)


def local_day(moment: datetime) -> date:
    return local(moment).date()


def _changeover_day(day: date) -> bool:
    start = datetime(day.year, day.month, day.day, tzinfo=LONDON)
    end = start + timedelta(days=1)
    return start.utcoffset() != end.utcoffset()


def clock_time(moment: datetime, *, on: date | None = None) -> str:
    """``06:24`` when ``moment`` falls on local day ``on``; ``06:24 on Sat 2 Mar 2024`` otherwise.

    ``on=None`` always writes the date. Seconds are shown only when they are not zero.
    """
    when = local(moment)
    text = when.strftime("%H:%M:%S" if when.second else "%H:%M")
    if _changeover_day(when.date()):
        text += f" {when.tzname()}"
    if on is None or when.date() != on:
        text += f" on {when.strftime('%a')} {when.day} {when.strftime('%b %Y')}"
    return text


def day_and_time(moment: datetime) -> str:
    """``06:24 on Sat 2 Mar 2024`` (UK local time)."""
    return clock_time(moment)


def long_date(moment: datetime) -> str:
    """``Saturday 2 March 2024`` (UK local date)."""
    when = local(moment)
    return f"{when.strftime('%A')} {when.day} {when.strftime('%B %Y')}"


def span(start: datetime, end: datetime) -> str:
    """``06:00-06:30 on Sat 2 Mar 2024``, or both dates when the span crosses midnight."""
    first = local_day(start)
    if local_day(end) == first:
        return f"{clock_time(start, on=first)}-{clock_time(end)}"
    return f"{clock_time(start)} - {clock_time(end)}"


def duration(length: timedelta) -> str:
    """``45 s``, ``20 min``, ``1 h 5 min``, ``3 days 2 h``: whole units, rounded to the nearest
    minute from one minute up (a 20 min 40 s gap reads "21 min")."""
    seconds = round(abs(length).total_seconds())
    if seconds < 60:
        return f"{seconds} s"
    minutes = round(seconds / 60)
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    days, hours = divmod(hours, 24)
    return f"{days} days {hours} h" if hours else f"{days} days"


def is_aware(moment: datetime) -> bool:
    return moment.tzinfo is not None and moment.utcoffset() is not None


def as_utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC)
