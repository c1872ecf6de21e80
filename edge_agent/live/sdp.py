"""What live view reads of the viewer's offer: its ICE servers and candidates.

Browsers hide their local addresses behind mDNS names, which aioice resolves one by one (up to a
second each when nobody on the agent's LAN answers); ``defer_mdns_candidates`` takes them out of
the offer so that the answer is not held up, and the service adds them afterwards.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from aiortc import RTCIceCandidate
from aiortc.sdp import candidate_from_sdp

from edge_agent.live.errors import LiveOfferRejected


class IceServerLike(Protocol):
    """A STUN/TURN server: ``IceServerConfig`` from the agent config or ``IceServer`` from a
    live offer payload."""

    @property
    def urls(self) -> Sequence[str]: ...

    @property
    def username(self) -> str | None: ...

    @property
    def credential(self) -> str | None: ...


class LiveOfferLike(Protocol):
    """What an offer must carry (``cctv_common.wire.payloads.LiveOffer`` fits)."""

    @property
    def session_id(self) -> str: ...

    @property
    def camera_id(self) -> str: ...

    @property
    def sdp(self) -> str: ...

    @property
    def ice_servers(self) -> Sequence[IceServerLike]: ...


@dataclass(frozen=True)
class DeferredCandidate:
    """An ICE candidate taken out of an offer to be added after the answer is made."""

    line: str  # "candidate:..." without "a="
    sdp_mid: str | None
    sdp_mline_index: int


def defer_mdns_candidates(sdp: str) -> tuple[str, list[DeferredCandidate], list[int]]:
    """Take the viewer's mDNS (``*.local``) host candidates out of an SDP offer.

    Browsers hide their local addresses behind mDNS names; aioice resolves each one in
    ``setRemoteDescription``, which waits up to a second per name when nobody on the agent's LAN
    answers (the usual case: the viewer is elsewhere). The connection does not need them (the
    viewer's checks reach the agent and become peer-reflexive candidates), so they are added after
    the answer is made, where resolving them costs nothing. Returns the SDP without them (and
    without the ``a=end-of-candidates`` of those sections), the candidates, and the m-line indexes
    whose end-of-candidates must be signalled after them.
    """
    lines = sdp.splitlines()
    kept: list[str] = []
    deferred: list[DeferredCandidate] = []
    ended: list[int] = []
    index = -1
    mid: str | None = None
    section_end: list[bool] = []
    for line in lines:
        if line.startswith("m="):
            index += 1
            mid = None
            section_end.append(False)
        elif line.startswith("a=mid:"):
            mid = line[len("a=mid:") :].strip()
        if index >= 0 and line.startswith("a=candidate:"):
            fields = line.split()
            if len(fields) > 4 and fields[4].lower().endswith(".local"):
                deferred.append(DeferredCandidate(line[2:], mid, index))
                continue
        if index >= 0 and line.strip() == "a=end-of-candidates":
            section_end[index] = True
        kept.append(line)
    with_deferred = {c.sdp_mline_index for c in deferred}
    if with_deferred:
        kept = _drop_end_of_candidates(kept, with_deferred)
        ended = [i for i in sorted(with_deferred) if section_end[i]]
    return "\r\n".join(kept) + "\r\n", deferred, ended


def _drop_end_of_candidates(lines: list[str], sections: set[int]) -> list[str]:
    out: list[str] = []
    index = -1
    for line in lines:
        if line.startswith("m="):
            index += 1
        if index in sections and line.strip() == "a=end-of-candidates":
            continue
        out.append(line)
    return out


def parse_candidate(line: str) -> RTCIceCandidate:
    """An ICE candidate from its SDP text (without ``a=candidate:``); ``LiveOfferRejected`` if
    malformed."""
    fields = line.split()
    # foundation component transport priority address port "typ" type [...]
    if len(fields) < 8 or fields[6] != "typ" or not fields[1].isdigit():
        raise LiveOfferRejected(f"ICE candidate cannot be read: {line[:200]!r}")
    try:
        return candidate_from_sdp(line)
    except (ValueError, IndexError) as exc:
        raise LiveOfferRejected(f"ICE candidate cannot be read: {exc}") from exc
