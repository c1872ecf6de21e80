"""Row helpers shared by the SQLite stores: one time encoding and one JSON encoding.

Times are stored as fixed-width UTC text (``2024-03-01T12:00:00.000000Z``), so that text order
is time order.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any, Final

DEFAULT_LIST_LIMIT: Final = 500


def db_time(moment: datetime) -> str:
    if moment.tzinfo is None:
        raise ValueError("naive datetime given to the database; times must be UTC-aware")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_db_time(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


def opt_time(text: str | None) -> datetime | None:
    return None if text is None else parse_db_time(text)


def json_text(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))
