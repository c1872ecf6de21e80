"""The whole clip's SHA-256, built while the upload runs instead of read back at the end.

The hub verifies each chunk against the offer's ``chunk_sha256`` as it lands. ``RunningClipHash``
feeds those verified chunks, in clip order, into one SHA-256 of the whole clip, so that the
completion need not read the staging file back. The rule:

- A chunk that lands at the end of the hashed prefix is hashed from the bytes just written.
- A chunk that lands ahead of the prefix (out of order) is only noted; when the gap before it is
  filled it is read back from the staging file (``read_chunk``) and hashed then.
- A verified chunk that lands again (a duplicate, or a rewrite with the offer's bytes) changes
  nothing: its SHA-256 equals the offer's, so its bytes equal the ones already hashed.
- Anything this process did not see itself makes the running hash void for good: chunks held by
  another hub process or recorded before a restart, a chunk found bad on disk and dropped. The
  session then drops its ``RunningClipHash`` (``UploadSession.distrust_running_hash``) and the
  completion reads the whole file back, as before.

A running hash lives in one process's memory and is never shared or persisted: a partial hash
cannot be trusted across processes. The digest it gives is compared with the signed manifest's
exactly as the read-back one was; a mismatch falls back to the read-back, which then finds the bad
chunk or rejects the clip.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable


class RunningClipHash:
    """SHA-256 over the in-order prefix of one clip's verified chunks (one process, one thread).

    Not thread-safe: the caller feeds it from one thread at a time (the ingest's hash worker).
    """

    def __init__(self, chunk_count: int, read_chunk: Callable[[int], bytes]) -> None:
        if chunk_count < 1:
            raise ValueError("a clip has at least one chunk")
        self.chunk_count = chunk_count
        self._read_chunk = read_chunk
        self._sha256 = hashlib.sha256()
        self._next = 0  # the first chunk not yet in the hash
        self._ahead: set[int] = set()  # verified chunks past the prefix, on disk, not hashed
        self.read_back = 0  # chunks hashed from the file (they arrived out of order)

    @property
    def hashed(self) -> int:
        """Chunks in the hash (the length of the in-order prefix)."""
        return self._next

    def landed(self, index: int, data: bytes) -> None:
        """A chunk that matched the offer's SHA-256 was written at its offset by this process."""
        if not 0 <= index < self.chunk_count:
            raise IndexError(f"chunk {index} is outside 0..{self.chunk_count - 1}")
        if index < self._next or index in self._ahead:
            return  # the same verified bytes again
        if index > self._next:
            self._ahead.add(index)
            return
        self._sha256.update(data)
        self._next += 1
        self._catch_up()

    def _catch_up(self) -> None:
        """Hash the chunks that arrived ahead of the prefix and now follow it, from the file."""
        while self._next in self._ahead:
            self._ahead.discard(self._next)
            self._sha256.update(self._read_chunk(self._next))
            self.read_back += 1
            self._next += 1

    def digest(self) -> str | None:
        """The whole clip's SHA-256 (hex) once every chunk is in the hash, else None."""
        if self._next != self.chunk_count:
            return None
        return self._sha256.copy().hexdigest()
