"""Who may write and read each topic: the broker's ACL, one table for every broker we write.

``acl_text`` renders it as a Mosquitto ACL file (``cctv-hub init`` and the test kit's broker
write it; ``deploy/mosquitto/acl`` is the same rules, and a test compares them; another checks
that every topic kind in ``topics`` falls under exactly one rule). Patterns are below
``sites/{site}/``: a site (username = site id) gets its own subtree, the hub every site's.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final, Literal

from cctv_common.wire.topics import SITES

SiteRight = Literal["write", "read", "readwrite"]


@dataclass(frozen=True)
class AclRule:
    """One topic pattern under ``sites/{site}/``, what its site may do, and what it carries.

    The hub has the other side: it reads what a site writes, and writes (and may read back)
    what a site reads. Only the hub writes jobs, holds, settings and acks.
    """

    pattern: str
    site: SiteRight
    what: str

    @property
    def hub(self) -> SiteRight:
        return "read" if self.site == "write" else "readwrite"


ACL_RULES: Final[tuple[AclRule, ...]] = (
    # Site -> hub.
    AclRule("status", "write", "the site's retained status and its last will"),
    AclRule("jobs/+/progress", "write", "job progress"),
    AclRule("clips/+/manifest", "write", "clip offers (the signed manifest)"),
    AclRule("clips/+/chunk/+", "write", "clip chunks"),
    AclRule("events/#", "write", "camera events"),
    AclRule("live/+/answer", "write", "live view answers"),
    AclRule("snapshots/+/reply", "write", "snapshot replies"),
    # Both ways.
    AclRule("live/+/candidate", "readwrite", "live view ICE candidates"),
    # Hub -> site.
    AclRule("jobs/+", "read", "clip jobs, retained (hub-signed)"),
    AclRule("holds/+", "read", "legal holds, retained (hub-signed)"),
    AclRule("settings/uplink", "read", "the site's upload cap, retained (hub-signed)"),
    AclRule("clips/+/ack", "read", "clip acks (hub-signed)"),
    AclRule("live/+/offer", "read", "live view offers"),
    AclRule("live/+/close", "read", "live view closes"),
    AclRule("snapshots/+/request", "read", "snapshot requests"),
)


def acl_text(hub_users: Iterable[str], written_by: str) -> str:
    """The Mosquitto ACL file: sites by pattern (``%u`` is the site id), each hub user by user."""
    lines = [
        f"# Written by {written_by} from cctv_common/wire/acl.py (ACL_RULES).",
        "# A site's username is its site id (%u): its own subtree, by direction.",
    ]
    lines += [f"pattern {rule.site} {SITES}/%u/{rule.pattern}" for rule in ACL_RULES]
    lines.append("")
    for user in sorted(hub_users):
        lines.append(f"user {user}")
        lines += [f"topic {rule.hub} {SITES}/+/{rule.pattern}" for rule in ACL_RULES]
        lines.append("")
    return "\n".join(lines)
