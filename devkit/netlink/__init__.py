"""A shaped site link for tests and benchmarks: rate, delay, jitter, loss and outages.

``ShapedLink(profile)`` joins a site namespace to a hub namespace through a middle one that
shapes the traffic like one of ``PROFILES`` (fibre, a 20 Mbit/s lossy line, 4G, a line that
drops for 30 s); ``measure`` checks what the link really does. See ``docs/shaped-link.md``.
"""

from devkit.netlink.link import LinkError, ShapedLink, unavailable_reason
from devkit.netlink.profiles import PROFILES, LinkProfile

__all__ = ["PROFILES", "LinkError", "LinkProfile", "ShapedLink", "unavailable_reason"]
