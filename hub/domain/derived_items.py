"""Derived items kept at the hub (issue 12): working copies and redacted copies of a master.

Pure rules, no I/O: what a derive order may ask for (operation, reason, boxes inside the frame),
who may ask (redaction is the data controller's; a court copy is anyone's who may download the
master), the record kept for each item and its states, and the custody action it is written as.
The master is never replaced: a derived item is a new item whose manifest names the master's
SHA-256, and its video is kept in the evidence store under its own SHA-256.
"""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Final

from hub.domain.acl import Permission
from hub.domain.custody import CustodyAction

OPERATIONS: Final = ("h264", "timestamp", "redact")
DERIVED_ID_PATTERN: Final = r"^DRV-[0-9a-f]{32}$"
MAX_BOXES: Final = 50
MAX_REASON: Final = 500
MIN_REASON: Final = 5
# The exhibit reference of a derived item: its master's reference, a letter, a number (JS/1/R1).
REFERENCE_LETTER: Final = {"h264": "W", "timestamp": "T", "redact": "R"}


class DerivedState(StrEnum):
    WORKING = "working"
    READY = "ready"
    FAILED = "failed"


class DeriveRefused(ValueError):
    """A derive order that cannot be carried out as given; the message says every problem."""


@dataclass(frozen=True)
class RedactionBox:
    """A box a supervisor drew, in pixels of the source frame; times in seconds from the first
    frame. A fixed box covers ``from_s``..``to_s``; a following box is tracked from ``at_s``."""

    x: int
    y: int
    w: int
    h: int
    from_s: float | None = None
    to_s: float | None = None
    follow: bool = False
    at_s: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "x": self.x,
            "y": self.y,
            "w": self.w,
            "h": self.h,
            "from_s": self.from_s,
            "to_s": self.to_s,
            "follow": self.follow,
            "at_s": self.at_s,
        }


@dataclass(frozen=True)
class DeriveOrder:
    operation: str
    reason: str = ""
    faces: bool = True
    boxes: tuple[RedactionBox, ...] = ()

    def plan(self) -> dict[str, Any]:
        """What was asked, kept with the item (the manifest holds what was done)."""
        if self.operation != "redact":
            return {"operation": self.operation}
        return {
            "operation": self.operation,
            "faces": self.faces,
            "boxes": [box.as_dict() for box in self.boxes],
        }


@dataclass(frozen=True)
class DerivedItem:
    id: str  # DRV-...
    clip_id: str  # the master
    source_sha256: str
    operation: str
    state: DerivedState
    created_by: str
    created_at: datetime
    reason: str
    plan: dict[str, Any]
    error: str | None = None
    sha256: str | None = None  # of the derived video, its key in the evidence store
    size: int | None = None
    manifest: bytes | None = None  # the exact bytes the hub signed
    signature: str | None = None  # base64 Ed25519 by the hub key
    finished_at: datetime | None = None
    progress: int | None = None  # percent done while working, kept in the row (throttled)
    deleted_at: datetime | None = None  # deleted with its master: bytes removed, row kept


def new_derived_id() -> str:
    return f"DRV-{uuid.uuid4().hex}"


def permission_for(operation: str) -> Permission:
    """Redaction decides what third parties see: the data controller's (evidence.manage).
    A court copy or a time-burnt copy: whoever may download the master."""
    return Permission.EVIDENCE_MANAGE if operation == "redact" else Permission.FOOTAGE_DOWNLOAD


def custody_action(operation: str) -> CustodyAction:
    return CustodyAction.REDACT if operation == "redact" else CustodyAction.DERIVE


def _finite(value: float | None) -> bool:
    return value is None or math.isfinite(value)


def _box_problems(n: int, box: RedactionBox, width: int, height: int) -> list[str]:
    name = f"box {n}"
    problems = []
    if box.w <= 0 or box.h <= 0 or box.x < 0 or box.y < 0:
        problems.append(f"{name} must have a positive size and start inside the picture")
    elif width and height and (box.x + box.w > width or box.y + box.h > height):
        problems.append(
            f"{name} ({box.x},{box.y} {box.w}x{box.h}) reaches outside the {width}x{height} frame"
        )
    times = (box.from_s, box.to_s, box.at_s)
    if not all(_finite(t) for t in times) or any(t is not None and t < 0 for t in times):
        problems.append(f"{name}: times are seconds from the first frame, 0 or more")
    elif box.from_s is not None and box.to_s is not None and box.to_s <= box.from_s:
        problems.append(f"{name} must end after it starts")
    return problems


def check_order(order: DeriveOrder, *, width: int, height: int) -> DeriveOrder:
    """The order if it can be carried out on a ``width`` x ``height`` master; else
    ``DeriveRefused`` naming every problem."""
    problems = []
    if order.operation not in OPERATIONS:
        problems.append(f"operation {order.operation!r:.40} is not one of {', '.join(OPERATIONS)}")
    reason = order.reason.strip()
    if len(reason) > MAX_REASON:
        problems.append(f"the reason is longer than {MAX_REASON} characters")
    if order.operation == "redact":
        if len(reason) < MIN_REASON:
            problems.append("a redaction needs a reason (who or what is obscured, and why)")
        if not order.faces and not order.boxes:
            problems.append("a redaction needs faces, boxes, or both")
    elif order.boxes:
        problems.append(f"boxes are for redaction, not for {order.operation!r:.40}")
    if len(order.boxes) > MAX_BOXES:
        problems.append(f"at most {MAX_BOXES} boxes")
    for n, box in enumerate(order.boxes[:MAX_BOXES], start=1):
        problems += _box_problems(n, box, width, height)
    if problems:
        raise DeriveRefused("; ".join(problems))
    return DeriveOrder(order.operation, reason, order.faces, order.boxes)


def derived_references(
    master_reference: str, items: list[DerivedItem]
) -> list[tuple[DerivedItem, str]]:
    """Each ready item of one master with its exhibit reference (``JS/1/R1``, ``JS/1/W1``...),
    numbered per operation in the order they were made."""
    counts: dict[str, int] = {}
    out = []
    for item in sorted(items, key=lambda i: (i.created_at, i.id)):
        if item.state is not DerivedState.READY:
            continue
        letter = REFERENCE_LETTER.get(item.operation, "D")
        counts[letter] = counts.get(letter, 0) + 1
        out.append((item, f"{master_reference}/{letter}{counts[letter]}"))
    return out
