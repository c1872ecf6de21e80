"""The delivery of stored clips, read from their signed manifests (rules in ``delivery_rules``).

Evidence rows hold the manifest exactly as signed and verified at ingest. For one item the
manifest is parsed (``of_manifest_text``); for a list of jobs, which the UI polls every second,
SQLite's ``json_extract`` reads only the windows, gaps and frame count of each manifest
(``for_clips``), so a 24-hour clip's list of thousands of source segments is not parsed in Python
every second.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any, Final

from sqlite_utils import Database

from cctv_common.manifest import GapCause
from hub.delivery_rules import Delivery, GapFact, assess

log = logging.getLogger(__name__)

# SQLite's default limit on host parameters is far higher; lists of jobs are at most 1000 long.
_BATCH: Final = 500
_FACTS_SQL: Final = (
    "SELECT clip_id, json_extract(manifest, '$.requested') AS requested,"
    " json_extract(manifest, '$.delivered') AS delivered,"
    " json_extract(manifest, '$.gaps') AS gaps,"
    " json_extract(manifest, '$.frames') AS frames FROM evidence_items"
)


class UnreadableManifest(ValueError):
    """A stored manifest lacks the windows a delivery needs (it cannot happen for verified ones)."""


def _time(value: Any, where: str) -> datetime:
    if not isinstance(value, str):
        raise UnreadableManifest(f"{where} is not a time")
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise UnreadableManifest(f"{where} is not a time: {value[:40]!r}") from exc
    if moment.tzinfo is None:
        raise UnreadableManifest(f"{where} has no time zone")
    return moment


def _window(value: Any, where: str) -> tuple[datetime, datetime]:
    if not isinstance(value, Mapping):
        raise UnreadableManifest(f"{where} is missing")
    return _time(value.get("start"), f"{where}.start"), _time(value.get("end"), f"{where}.end")


def _cause(value: Any) -> GapCause | None:
    try:
        return None if value is None else GapCause(value)
    except ValueError:
        return None  # a cause this hub does not know yet: the reason says it in words


def of_fields(requested: Any, delivered: Any, gaps: Any, frames: Any) -> Delivery:
    """A delivery from the manifest's fields as parsed JSON (UnreadableManifest if malformed)."""
    facts = []
    for number, gap in enumerate(gaps or ()):
        if not isinstance(gap, Mapping):
            raise UnreadableManifest(f"gaps[{number}] is not an object")
        start, end = _window(gap, f"gaps[{number}]")
        facts.append(GapFact(start, end, str(gap.get("reason") or ""), _cause(gap.get("cause"))))
    return assess(
        _window(requested, "requested"),
        _window(delivered, "delivered"),
        facts,
        frames if isinstance(frames, int) and not isinstance(frames, bool) else None,
    )


def of_manifest_text(manifest: str) -> Delivery | None:
    """The delivery of one stored manifest; None (and a log line) if it cannot be read."""
    try:
        raw = json.loads(manifest)
        if not isinstance(raw, dict):
            raise UnreadableManifest("not a JSON object")
        return of_fields(
            raw.get("requested"), raw.get("delivered"), raw.get("gaps"), raw.get("frames")
        )
    except (ValueError, UnreadableManifest) as exc:
        log.error("a stored manifest has no readable delivery: %s", exc)
        return None


def for_clips(db: Database, clip_ids: Iterable[str]) -> dict[str, Delivery]:
    """The delivery of each stored clip among ``clip_ids`` (clips not stored are left out)."""
    wanted = sorted(set(clip_ids))
    found: dict[str, Delivery] = {}
    for first in range(0, len(wanted), _BATCH):
        batch = wanted[first : first + _BATCH]
        marks = ", ".join("?" * len(batch))
        rows = db.query(f"{_FACTS_SQL} WHERE clip_id IN ({marks})", batch)
        for row in rows:
            try:
                found[row["clip_id"]] = of_fields(
                    json.loads(row["requested"] or "null"),
                    json.loads(row["delivered"] or "null"),
                    json.loads(row["gaps"] or "[]"),
                    row["frames"],
                )
            except (ValueError, UnreadableManifest) as exc:
                log.error(
                    "clip %s: the stored manifest has no readable delivery: %s", row["clip_id"], exc
                )
    return found
