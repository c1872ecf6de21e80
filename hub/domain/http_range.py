"""HTTP ``Range: bytes=...`` for one byte range (RFC 9110 section 14), as a pure function.

A ``<video>`` element seeks with single ranges (``bytes=0-``, ``bytes=1000-``). Several ranges
in one request are answered with the whole file (allowed by the RFC, and what many servers do);
a malformed or unsatisfiable ``bytes`` range is refused with 416 and ``Content-Range: */size``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

_SPEC: Final = re.compile(r"(\d{0,19})-(\d{0,19})")


class RangeNotSatisfiable(ValueError):
    """The Range header asks for bytes the resource does not have, or cannot be read."""


@dataclass(frozen=True)
class ByteRange:
    start: int
    end: int  # inclusive

    @property
    def length(self) -> int:
        return self.end - self.start + 1

    def content_range(self, size: int) -> str:
        return f"bytes {self.start}-{self.end}/{size}"


def parse_range(header: str | None, size: int) -> ByteRange | None:
    """The one range to send, ``None`` for the whole resource, or ``RangeNotSatisfiable``."""
    if header is None:
        return None
    unit, sep, specs = header.strip().partition("=")
    if not sep or unit.strip().lower() != "bytes":
        return None  # another unit: ignore the header and send everything
    parts = [part.strip() for part in specs.split(",")]
    if len(parts) > 1:
        return None
    match = _SPEC.fullmatch(parts[0])
    if match is None or match.group(0) == "-":
        raise RangeNotSatisfiable(f"malformed range {header[:80]!r}")
    first, last = match.group(1), match.group(2)
    if size <= 0:
        raise RangeNotSatisfiable("the resource is empty")
    if first == "":
        suffix = int(last)  # bytes=-N: the last N bytes
        if suffix == 0:
            raise RangeNotSatisfiable("a suffix range of 0 bytes")
        return ByteRange(max(0, size - suffix), size - 1)
    start = int(first)
    end = size - 1 if last == "" else min(int(last), size - 1)
    if last != "" and int(last) < start:
        raise RangeNotSatisfiable(f"range {parts[0]!r} ends before it starts")
    if start >= size:
        raise RangeNotSatisfiable(f"range starts at {start}; the resource has {size} bytes")
    return ByteRange(start, end)
