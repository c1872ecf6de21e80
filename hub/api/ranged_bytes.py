"""Stored bytes sent with HTTP Range, the one way for every route that serves them (an evidence
item's video, a derived item's video, an outside item's file).

The route checks what it serves first (``hub.api.verified_bytes``, or a clip's own checks) and
writes its custody row; this module only answers the Range header: 416 with ``Content-Range:
*/size`` for a range the bytes do not have, else 200 (the whole) or 206 (the one range), with the
SHA-256 as the ETag and nothing cached.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Literal

from fastapi import Response, status
from fastapi.responses import StreamingResponse

from hub.domain.http_range import ByteRange, RangeNotSatisfiable, parse_range


@dataclass(frozen=True)
class ByteSpan:
    """The bytes to send of a resource of ``size`` bytes; ``wanted`` None: all of them."""

    size: int
    wanted: ByteRange | None

    @property
    def start(self) -> int:
        return 0 if self.wanted is None else self.wanted.start

    @property
    def length(self) -> int:
        return self.size if self.wanted is None else self.wanted.length


def requested_span(header: str | None, size: int) -> ByteSpan:
    """What the Range header asks of ``size`` bytes; RangeNotSatisfiable (answer with
    ``not_satisfiable``) for a range they do not have."""
    return ByteSpan(size, parse_range(header, size))


def not_satisfiable(refused: RangeNotSatisfiable, size: int) -> Response:
    return Response(
        content=f"{refused}\n",
        status_code=status.HTTP_416_RANGE_NOT_SATISFIABLE,
        media_type="text/plain",
        headers={"Content-Range": f"bytes */{size}", "Accept-Ranges": "bytes"},
    )


def ranged_response(
    body: Iterator[bytes] | AsyncIterator[bytes],
    span: ByteSpan,
    *,
    sha256: str,
    filename: str,
    disposition: Literal["attachment", "inline"],
    media_type: str,
) -> StreamingResponse:
    """``body`` (the span's bytes) as 200 or 206 with its headers."""
    headers = {
        "Accept-Ranges": "bytes",
        "ETag": f'"{sha256}"',
        "Cache-Control": "private, no-store",
        "Content-Disposition": f'{disposition}; filename="{filename}"',
        "Content-Length": str(span.length),
    }
    if span.wanted is not None:
        headers["Content-Range"] = span.wanted.content_range(span.size)
    return StreamingResponse(
        body,
        status_code=status.HTTP_200_OK if span.wanted is None else status.HTTP_206_PARTIAL_CONTENT,
        media_type=media_type,
        headers=headers,
    )
