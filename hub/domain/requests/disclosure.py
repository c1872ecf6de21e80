"""The disclosure log: every release of footage, numbered in sequence, exportable as CSV.

Following the ICO's guidance on disclosing CCTV footage to third parties, an entry records when,
to whom (person and organisation), for what purpose and on what lawful basis, and which items,
each with its SHA-256 so the copy the recipient holds can be matched to the evidence item. Only
items the hub has stored and verified can be released.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from cctv_common.clock import iso_utc
from hub.domain.requests import text, wording
from hub.domain.requests.csv_text import Cell, csv_bytes
from hub.domain.requests.request import IncidentWindow, LawfulBasis

SHA256_RE: Final = re.compile(r"[0-9a-f]{64}")
MAX_FIELD: Final = 300
COLUMNS: Final = (
    "entry",
    "disclosed_at_utc",
    "disclosed_local",
    "request",
    "recipient",
    "organisation",
    "also_to",
    "purpose",
    "lawful_basis",
    "disclosed_by",
    "item",
    "camera",
    "footage_start_utc",
    "footage_end_utc",
    "sha256",
)


class DisclosureRefused(ValueError):
    """A release that cannot be logged as given (unverified items, a missing recipient...)."""


@dataclass(frozen=True)
class ReleaseItem:
    """An evidence item offered for release, as the hub holds it."""

    item_id: str
    sha256: str
    camera: str  # the camera's label, e.g. "town-centre/cam-1"
    window: IncidentWindow
    verified: bool  # stored and its signature and hash checked at the hub


@dataclass(frozen=True)
class DisclosedItem:
    item_id: str
    sha256: str
    camera: str
    window: IncidentWindow


@dataclass(frozen=True)
class DisclosureEntry:
    number: int  # 1, 2, 3... with no gaps
    disclosed_at: datetime
    request: str
    recipient_name: str
    recipient_organisation: str
    also_to: tuple[str, ...]  # named colleagues who may also view it
    purpose: str
    lawful_basis: LawfulBasis
    disclosed_by: str
    items: tuple[DisclosedItem, ...]


def _item_problems(items: Sequence[ReleaseItem]) -> list[str]:
    if not items:
        return ["a release needs at least one evidence item"]
    problems = []
    for item in items:
        if not item.verified:
            problems.append(
                f"evidence item {text.shown(item.item_id)} has not been verified at the hub; "
                "it cannot be released"
            )
        if SHA256_RE.fullmatch(item.sha256) is None:
            problems.append(
                f"evidence item {text.shown(item.item_id)} has no SHA-256 (64 lower-case hex)"
            )
    ids = [item.item_id for item in items]
    if len(set(ids)) != len(ids):
        problems.append("an evidence item is listed twice")
    return problems


def new_entry(
    previous: int,
    *,
    disclosed_at: datetime,
    request: str,
    recipient_name: str,
    recipient_organisation: str,
    purpose: str,
    lawful_basis: LawfulBasis,
    disclosed_by: str,
    items: Sequence[ReleaseItem],
    also_to: Sequence[str] = (),
) -> DisclosureEntry:
    """The entry after number ``previous`` (0 for the first), or ``DisclosureRefused``."""
    fields = (
        ("the recipient's name", recipient_name),
        ("the recipient's organisation", recipient_organisation),
        ("the purpose", purpose),
        ("the request", request),
    )
    problems = [
        problem
        for name, value in fields
        if (problem := text.one_line(name, value.strip(), max_length=MAX_FIELD))
    ]
    problems += [p for p in (text.username_problem("the releasing user", disclosed_by),) if p]
    problems += [p for name in also_to if (p := text.username_problem("colleague", name))]
    problems += _item_problems(items)
    if previous < 0:
        problems.append(f"the previous entry number {previous} is not a number of the log")
    if problems:
        raise DisclosureRefused("; ".join(problems))
    return DisclosureEntry(
        number=previous + 1,
        disclosed_at=wording.as_utc(disclosed_at),
        request=request.strip(),
        recipient_name=recipient_name.strip(),
        recipient_organisation=recipient_organisation.strip(),
        also_to=tuple(also_to),
        purpose=purpose.strip(),
        lawful_basis=lawful_basis,
        disclosed_by=disclosed_by,
        items=tuple(DisclosedItem(i.item_id, i.sha256, i.camera, i.window) for i in items),
    )


def sequence_problems(numbers: Iterable[int]) -> list[str]:
    """Gaps and repeats in the log's numbering, for the auditor: ``entry 5 is missing``,
    ``entries 7 to 9 are missing``, ``entry 4 appears more than once``."""
    seen = sorted(numbers)
    problems = []
    expected = 1
    for number in seen:
        if number < expected:
            problems.append(f"entry {number} appears more than once")
            continue
        if number == expected + 1:
            problems.append(f"entry {expected} is missing")
        elif number > expected:
            problems.append(f"entries {expected} to {number - 1} are missing")
        expected = number + 1
    return problems


def _rows(entries: Iterable[DisclosureEntry]) -> Iterable[list[Cell]]:
    for entry in sorted(entries, key=lambda e: e.number):
        head: list[Cell] = [
            entry.number,
            iso_utc(entry.disclosed_at),
            wording.day_and_time(entry.disclosed_at),
            entry.request,
            entry.recipient_name,
            entry.recipient_organisation,
            "; ".join(entry.also_to),
            entry.purpose,
            entry.lawful_basis.label,
            entry.disclosed_by,
        ]
        for item in entry.items:
            yield [
                *head,
                item.item_id,
                item.camera,
                iso_utc(item.window.start),
                iso_utc(item.window.end),
                item.sha256,
            ]


def export_csv(entries: Iterable[DisclosureEntry], *, bom: bool = False) -> bytes:
    """The log as CSV: one row per disclosed item, entries in number order, columns ``COLUMNS``."""
    return csv_bytes(COLUMNS, _rows(entries), bom=bom)
