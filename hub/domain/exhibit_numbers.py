"""Exhibit references (issue 12): the number each evidence item released for a request is given,
as UK exhibit officers number exhibits: the producer's initials and their own sequence (JS/1,
JS/2 ...). Pure rules, no I/O.

The pattern comes from ``[exhibits] reference_pattern``; it may use ``{initials}`` (of the
releasing supervisor's display name, else of their username), ``{seq}`` (the producer's next
number), ``{request}`` (the footage request's reference), ``{year}`` and ``{username}``. The result
must be a reference ``hub.exhibits`` accepts: 1-64 letters, digits, space, ``. / _ -``.
"""

from __future__ import annotations

import re
import string
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Final

DEFAULT_PATTERN: Final = "{initials}/{seq}"
FIELDS: Final = frozenset({"initials", "seq", "request", "year", "username"})
_REFERENCE: Final = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ./_-]{0,63}$")
_WORD: Final = re.compile(r"[A-Za-z0-9]+")


class PatternError(ValueError):
    """A reference pattern that cannot make valid references."""


@dataclass(frozen=True)
class ExhibitReference:
    clip_id: str
    request: str
    reference: str
    producer: str  # the username of whoever released it (the exhibit's producer)
    assigned_at: datetime


def initials(display_name: str, username: str) -> str:
    """``Jane Smith`` -> ``JS``; ``Mary-Ann O'Neil`` -> ``MAO``; no name: from the username
    (``pc.jones`` -> ``PJ``); never empty (``X``)."""
    words = _WORD.findall(display_name.replace("'", "")) or _WORD.findall(username)
    letters = "".join(word[0] for word in words).upper()
    return letters[:6] or "X"


def check_pattern(pattern: str) -> str:
    """The pattern if it names only known fields and includes ``{seq}`` (so references of one
    producer differ); else ``PatternError``."""
    try:
        names = {name for _, name, _, _ in string.Formatter().parse(pattern) if name is not None}
    except ValueError as exc:
        raise PatternError(f"reference pattern {pattern!r}: {exc}") from exc
    unknown = names - FIELDS
    if unknown:
        raise PatternError(
            f"reference pattern {pattern!r} names {', '.join(sorted(unknown))}; it may use"
            f" {', '.join('{' + f + '}' for f in sorted(FIELDS))}"
        )
    if "seq" not in names:
        raise PatternError(f"reference pattern {pattern!r} must include {{seq}}")
    sample = make_reference(
        pattern, initials_of="JS", seq=1, request="R-2026-0001", year=2026, username="supervisor"
    )
    if not _REFERENCE.match(sample):
        raise PatternError(
            f"reference pattern {pattern!r} makes {sample!r}: a reference is 1-64 letters,"
            " digits, space, . / _ -"
        )
    return pattern


def make_reference(
    pattern: str, *, initials_of: str, seq: int, request: str, year: int, username: str
) -> str:
    return pattern.format(
        initials=initials_of, seq=seq, request=request, year=year, username=username
    )


def assign(
    pattern: str,
    *,
    clip_ids: list[str],
    request: str,
    producer: str,
    display_name: str,
    last_seq: int,
    taken: Callable[[str], bool],
    now: datetime,
) -> list[ExhibitReference]:
    """References for ``clip_ids`` in order, continuing the producer's sequence after
    ``last_seq`` and skipping any reference already ``taken`` (unique across the hub)."""
    mark = initials(display_name, producer)
    seq = last_seq
    given: set[str] = set()
    out = []
    for clip_id in clip_ids:
        while True:
            seq += 1
            reference = make_reference(
                pattern,
                initials_of=mark,
                seq=seq,
                request=request,
                year=now.year,
                username=producer,
            )
            if reference not in given and not taken(reference):
                break
        if not _REFERENCE.match(reference):
            raise PatternError(f"reference pattern {pattern!r} made {reference!r:.80}")
        given.add(reference)
        out.append(ExhibitReference(clip_id, request, reference, producer, now))
    return out
