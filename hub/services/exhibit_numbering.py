"""Exhibit references given at release (issue 12): each evidence item released for a request
is numbered once, in the release's unit of work, after the releasing supervisor's own sequence
(``hub.domain.exhibit_numbers``), and the number is kept with the item."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from hub.domain.exhibit_numbers import ExhibitReference, assign
from hub.storage.ports import UnitOfWork


def number_items_in(
    uow: UnitOfWork,
    *,
    pattern: str,
    request: str,
    clip_ids: Sequence[str],
    producer: str,
    now: datetime,
) -> dict[str, str]:
    """Every item's exhibit reference (clip id -> reference), giving one to those without."""
    known = uow.exhibit_refs.of_clips(list(clip_ids))
    new_ids = [clip_id for clip_id in clip_ids if clip_id not in known]
    user = uow.users.get(producer)
    given: list[ExhibitReference] = assign(
        pattern,
        clip_ids=new_ids,
        request=request,
        producer=producer,
        display_name="" if user is None else user.display_name,
        last_seq=uow.exhibit_refs.count_by(producer),
        taken=uow.exhibit_refs.taken,
        now=now,
    )
    for reference in given:
        uow.exhibit_refs.add(reference)
    found = {clip_id: ref.reference for clip_id, ref in known.items()}
    found.update({ref.clip_id: ref.reference for ref in given})
    return found
