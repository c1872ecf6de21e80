"""The file mode creation mask of the agent and hub processes: nothing they write is for others.

Evidence segments, clips, outbox and index databases, the hub's database, store and keys must
not be readable by other users of the box. The systemd units set ``UMask=0077``; ``cctv-agent
run`` and ``cctv-hub run`` also call ``private_umask()`` first, so the same holds when they are
started by hand or by another supervisor: files 0640 at most, folders 0750 at most.
"""

from __future__ import annotations

import os
from typing import Final

# Never group-writable, never anything for others.
REQUIRED_BITS: Final = 0o027


def private_umask() -> int:
    """Add ``REQUIRED_BITS`` to the process umask (keeping a stricter one); returns the new one."""
    current = os.umask(0o077)
    tightened = current | REQUIRED_BITS
    os.umask(tightened)
    return tightened
