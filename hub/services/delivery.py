"""The delivery of stored clips, read from their signed manifests (rules in ``delivery_rules``).

Evidence rows hold the manifest exactly as signed and verified at ingest. For one item the
manifest is parsed (``of_manifest_text``); for a list of jobs, which the UI polls every second,
storage reads only the windows, gaps and frame count of each manifest
(``for_clips``), so a 24-hour clip's list of thousands of source segments is not parsed in Python
every second. A stored manifest never changes, so each clip's delivery is worked out once and
kept (``_CACHE``, bounded); later lists only check that the clip is still stored.
"""

from __future__ import annotations

import json
import logging
import threading
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any, Final

from cctv_common.clock import NoTimeZone, parse_iso
from cctv_common.evidence.manifest import GapCause
from hub.domain.delivery_rules import Delivery, GapFact, assess, source_words
from hub.domain.records import StoredClipKey
from hub.storage.ports import UnitOfWork

log = logging.getLogger(__name__)


class UnreadableManifest(ValueError):
    """A stored manifest lacks the windows a delivery needs (it cannot happen for verified ones)."""


def _time(value: Any, where: str) -> datetime:
    if not isinstance(value, str):
        raise UnreadableManifest(f"{where} is not a time")
    try:
        return parse_iso(value)
    except NoTimeZone as exc:
        raise UnreadableManifest(f"{where} has no time zone") from exc
    except ValueError as exc:
        raise UnreadableManifest(f"{where} is not a time: {value[:40]!r}") from exc


def _window(value: Any, where: str) -> tuple[datetime, datetime]:
    if not isinstance(value, Mapping):
        raise UnreadableManifest(f"{where} is missing")
    return _time(value.get("start"), f"{where}.start"), _time(value.get("end"), f"{where}.end")


def _cause(value: Any) -> GapCause | None:
    try:
        return None if value is None else GapCause(value)
    except ValueError:
        return None  # a cause this hub does not know yet: the reason says it in words


def of_fields(requested: Any, delivered: Any, gaps: Any, frames: Any, nvr: Any = None) -> Delivery:
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
        source=source_words(nvr),
    )


def of_item(clip_id: str, sha256: str, job_id: str, manifest: str) -> Delivery | None:
    """The delivery of one evidence item, from the cache or its manifest (None if unreadable)."""
    key = StoredClipKey(clip_id, sha256, job_id)
    cached = _CACHE.get(key)
    if cached is not None:
        return cached
    delivery = of_manifest_text(manifest)
    if delivery is not None:
        _CACHE.put(key, delivery)
    return delivery


def of_manifest_text(manifest: str) -> Delivery | None:
    """The delivery of one stored manifest; None (and a log line) if it cannot be read."""
    try:
        raw = json.loads(manifest)
        if not isinstance(raw, dict):
            raise UnreadableManifest("not a JSON object")
        return of_fields(
            raw.get("requested"),
            raw.get("delivered"),
            raw.get("gaps"),
            raw.get("frames"),
            raw.get("nvr"),
        )
    except (ValueError, UnreadableManifest) as exc:
        log.error("a stored manifest has no readable delivery: %s", exc)
        return None


# (clip id, clip SHA-256, job id): the columns stored before the manifest, so reading them does
# not walk through a large manifest's pages.
_Key = StoredClipKey


class _Cache:
    """Deliveries of stored manifests, most recent last, at most ``size`` (a memo of immutable
    facts: an evidence item's manifest never changes)."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._items: OrderedDict[_Key, Delivery] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: _Key) -> Delivery | None:
        with self._lock:
            found = self._items.get(key)
            if found is not None:
                self._items.move_to_end(key)
            return found

    def put(self, key: _Key, delivery: Delivery) -> None:
        with self._lock:
            self._items[key] = delivery
            self._items.move_to_end(key)
            while len(self._items) > self._size:
                self._items.popitem(last=False)


_CACHE: Final = _Cache(20_000)


def for_clips(uow: UnitOfWork, clip_ids: Iterable[str]) -> dict[str, Delivery]:
    """The delivery of each stored clip among ``clip_ids`` (clips not stored are left out)."""
    found: dict[str, Delivery] = {}
    missing: dict[str, _Key] = {}
    for key in uow.evidence.stored_keys(sorted(set(clip_ids))):
        cached = _CACHE.get(key)
        if cached is None:
            missing[key.clip_id] = key
        else:
            found[key.clip_id] = cached
    for facts in uow.evidence.delivery_facts(sorted(missing)):
        try:
            delivery = of_fields(
                facts.requested, facts.delivered, facts.gaps, facts.frames, facts.nvr
            )
        except (ValueError, UnreadableManifest) as exc:
            log.error(
                "clip %s: the stored manifest has no readable delivery: %s", facts.clip_id, exc
            )
            continue
        _CACHE.put(missing[facts.clip_id], delivery)
        found[facts.clip_id] = delivery
    return found
