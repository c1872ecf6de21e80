"""Every MQTT topic string, built and parsed here and nowhere else (prefix ``cctv/v1``).

Each topic kind is a small frozen dataclass that validates its ids when it is made, so a topic
object can only exist if its string is safe to publish. ``str(topic)`` builds the string;
``parse_topic`` turns a string back into the object, and ``parse_topic(str(t)) == t`` always.

Subscriptions: the hub reads what every site sends (``+`` for the site level); an agent reads only
what is sent to its own site, which is also all that the broker's ACL lets it read.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal, TypeGuard, get_args

from cctv_common.wire.ids import InvalidId, validate_id

PREFIX: Final = "cctv/v1"
SITES: Final = f"{PREFIX}/sites"
MAX_CHUNK_INDEX: Final = 1_000_000

LiveKind = Literal["offer", "answer", "candidate", "close"]
LIVE_KINDS: Final[tuple[LiveKind, ...]] = get_args(LiveKind)
SnapshotKind = Literal["request", "reply"]
SNAPSHOT_KINDS: Final[tuple[SnapshotKind, ...]] = get_args(SnapshotKind)


class InvalidTopic(ValueError):
    """A topic string that is not one of ours, or a topic part that cannot be used."""


def _id(kind: str, value: str) -> None:
    try:
        validate_id(kind, value)
    except InvalidId as exc:
        raise InvalidTopic(str(exc)) from exc


@dataclass(frozen=True)
class StatusTopic:
    """``sites/{site}/status``: agent -> hub, retained; the agent's last will too."""

    site: str

    def __post_init__(self) -> None:
        _id("site", self.site)

    def __str__(self) -> str:
        return f"{SITES}/{self.site}/status"


@dataclass(frozen=True)
class JobTopic:
    """``sites/{site}/jobs/{job}``: hub -> agent, retained until the job ends."""

    site: str
    job: str

    def __post_init__(self) -> None:
        _id("site", self.site)
        _id("job", self.job)

    def __str__(self) -> str:
        return f"{SITES}/{self.site}/jobs/{self.job}"


@dataclass(frozen=True)
class ProgressTopic:
    """``sites/{site}/jobs/{job}/progress``: agent -> hub."""

    site: str
    job: str

    def __post_init__(self) -> None:
        _id("site", self.site)
        _id("job", self.job)

    def __str__(self) -> str:
        return f"{SITES}/{self.site}/jobs/{self.job}/progress"


@dataclass(frozen=True)
class ManifestTopic:
    """``sites/{site}/clips/{clip}/manifest``: agent -> hub, the signed clip offer."""

    site: str
    clip: str

    def __post_init__(self) -> None:
        _id("site", self.site)
        _id("clip", self.clip)

    def __str__(self) -> str:
        return f"{SITES}/{self.site}/clips/{self.clip}/manifest"


@dataclass(frozen=True)
class ChunkTopic:
    """``sites/{site}/clips/{clip}/chunk/{index}``: agent -> hub, raw bytes of one chunk."""

    site: str
    clip: str
    index: int

    def __post_init__(self) -> None:
        _id("site", self.site)
        _id("clip", self.clip)
        # bool is an int in Python; a chunk index of True is a bug, not chunk 1.
        if type(self.index) is not int or not 0 <= self.index <= MAX_CHUNK_INDEX:
            raise InvalidTopic(
                f"chunk index {self.index!r} is not allowed: use a whole number "
                f"0..{MAX_CHUNK_INDEX}"
            )

    def __str__(self) -> str:
        return f"{SITES}/{self.site}/clips/{self.clip}/chunk/{self.index}"


@dataclass(frozen=True)
class AckTopic:
    """``sites/{site}/clips/{clip}/ack``: hub -> agent, which chunks the hub holds."""

    site: str
    clip: str

    def __post_init__(self) -> None:
        _id("site", self.site)
        _id("clip", self.clip)

    def __str__(self) -> str:
        return f"{SITES}/{self.site}/clips/{self.clip}/ack"


@dataclass(frozen=True)
class LiveTopic:
    """``sites/{site}/live/{session}/{kind}``: WebRTC signalling, both directions."""

    site: str
    session: str
    kind: LiveKind

    def __post_init__(self) -> None:
        _id("site", self.site)
        _id("live session", self.session)
        if self.kind not in LIVE_KINDS:
            raise InvalidTopic(
                f"live message kind {self.kind!r} is not one of {', '.join(LIVE_KINDS)}"
            )

    def __str__(self) -> str:
        return f"{SITES}/{self.site}/live/{self.session}/{self.kind}"


@dataclass(frozen=True)
class SnapshotTopic:
    """``sites/{site}/snapshots/{request}/{request,reply}``: a camera's current picture for the
    hub's camera picker; the hub asks (``request``), the agent answers (``reply``)."""

    site: str
    request: str
    kind: SnapshotKind

    def __post_init__(self) -> None:
        _id("site", self.site)
        _id("snapshot request", self.request)
        if self.kind not in SNAPSHOT_KINDS:
            raise InvalidTopic(
                f"snapshot message kind {self.kind!r} is not one of {', '.join(SNAPSHOT_KINDS)}"
            )

    def __str__(self) -> str:
        return f"{SITES}/{self.site}/snapshots/{self.request}/{self.kind}"


# Camera events (agent -> hub): motion and tamper from ONVIF PullPoint, for the operator's timeline.


@dataclass(frozen=True)
class EventsTopic:
    """``sites/{site}/events``: agent -> hub, QoS 1, batches of stored camera events."""

    site: str

    def __post_init__(self) -> None:
        _id("site", self.site)

    def __str__(self) -> str:
        return f"{SITES}/{self.site}/events"


def events_topic(site: str) -> str:
    return str(EventsTopic(site))


@dataclass(frozen=True)
class HoldTopic:
    """``sites/{site}/holds/{hold}``: hub -> agent, retained, hub-signed: pin a camera's
    footage over a window (a legal hold placed when a footage request is approved)."""

    site: str
    hold: str

    def __post_init__(self) -> None:
        _id("site", self.site)
        _id("hold", self.hold)

    def __str__(self) -> str:
        return f"{SITES}/{self.site}/holds/{self.hold}"


def hold_topic(site: str, hold: str) -> str:
    return str(HoldTopic(site, hold))


def agent_holds_filter(site: str) -> str:
    """Legal holds for one site (``holds/+``)."""
    _id("site", site)
    return f"{SITES}/{site}/holds/+"


@dataclass(frozen=True)
class UplinkCapTopic:
    """``sites/{site}/settings/uplink``: hub -> agent, retained, hub-signed: the site's upload
    cap as set at the hub (``UplinkCap``)."""

    site: str

    def __post_init__(self) -> None:
        _id("site", self.site)

    def __str__(self) -> str:
        return f"{SITES}/{self.site}/settings/uplink"


def uplink_cap_topic(site: str) -> str:
    return str(UplinkCapTopic(site))


Topic = (
    StatusTopic
    | JobTopic
    | ProgressTopic
    | ManifestTopic
    | ChunkTopic
    | AckTopic
    | LiveTopic
    | SnapshotTopic
    | EventsTopic
    | HoldTopic
    | UplinkCapTopic
)


# Builders: the strings to publish on.


def status_topic(site: str) -> str:
    return str(StatusTopic(site))


def job_topic(site: str, job: str) -> str:
    return str(JobTopic(site, job))


def progress_topic(site: str, job: str) -> str:
    return str(ProgressTopic(site, job))


def manifest_topic(site: str, clip: str) -> str:
    return str(ManifestTopic(site, clip))


def chunk_topic(site: str, clip: str, index: int) -> str:
    return str(ChunkTopic(site, clip, index))


def ack_topic(site: str, clip: str) -> str:
    return str(AckTopic(site, clip))


def live_topic(site: str, session: str, kind: LiveKind) -> str:
    return str(LiveTopic(site, session, kind))


def snapshot_request_topic(site: str, request: str) -> str:
    return str(SnapshotTopic(site, request, "request"))


def snapshot_reply_topic(site: str, request: str) -> str:
    return str(SnapshotTopic(site, request, "reply"))


# Parsing.


def _chunk_index(text: str) -> int:
    # Canonical decimal only ("7", not "07" or "+7"), so that parse and build round-trip exactly.
    if not text.isascii() or not text.isdigit() or (len(text) > 1 and text[0] == "0"):
        raise InvalidTopic(f"chunk index {text[:20]!r} is not a whole number in canonical form")
    if len(text) > len(str(MAX_CHUNK_INDEX)) or int(text) > MAX_CHUNK_INDEX:
        raise InvalidTopic(f"chunk index {text[:20]!r} is over {MAX_CHUNK_INDEX}")
    return int(text)


def _is_live_kind(text: str) -> TypeGuard[LiveKind]:
    return text in LIVE_KINDS


def _is_snapshot_kind(text: str) -> TypeGuard[SnapshotKind]:
    return text in SNAPSHOT_KINDS


def _shown(topic: str) -> str:
    return repr(topic) if len(topic) <= 200 else repr(topic[:200]) + "..."


def parse_topic(topic: str) -> Topic:
    """Turn a topic string into its dataclass, or raise ``InvalidTopic`` saying why not."""
    if not topic.startswith(SITES + "/"):
        raise InvalidTopic(f"topic {_shown(topic)} does not start with {SITES}/")
    parts = topic[len(SITES) + 1 :].split("/")
    site, rest = parts[0], parts[1:]
    match rest:
        case ["status"]:
            return StatusTopic(site)
        case ["jobs", job]:
            return JobTopic(site, job)
        case ["jobs", job, "progress"]:
            return ProgressTopic(site, job)
        case ["clips", clip, "manifest"]:
            return ManifestTopic(site, clip)
        case ["clips", clip, "chunk", index]:
            return ChunkTopic(site, clip, _chunk_index(index))
        case ["clips", clip, "ack"]:
            return AckTopic(site, clip)
        case ["live", session, kind] if _is_live_kind(kind):
            return LiveTopic(site, session, kind)
        case ["snapshots", request, kind] if _is_snapshot_kind(kind):
            return SnapshotTopic(site, request, kind)
        case ["events"]:
            return EventsTopic(site)
        case ["holds", hold]:
            return HoldTopic(site, hold)
        case ["settings", "uplink"]:
            return UplinkCapTopic(site)
    raise InvalidTopic(f"topic {_shown(topic)} is not a {PREFIX} topic this software knows")


# Subscriptions.


@dataclass(frozen=True)
class Subscription:
    """A topic filter and whether the subscriber must not get back what it publishes itself.

    ``no_local`` (MQTT 5) matters for live ``candidate`` and ``close``: both ends publish them on
    the same topic, and neither should read its own. It cannot be combined with a shared
    subscription (``$share/...``), so a scaled-out hub must keep live signalling unshared.
    """

    filter: str
    no_local: bool = False


def site_filter(site: str) -> str:
    """Everything under one site: ``cctv/v1/sites/{site}/#``, the site's whole ACL prefix."""
    _id("site", site)
    return f"{SITES}/{site}/#"


HUB_STATUS_FILTER: Final = f"{SITES}/+/status"
HUB_PROGRESS_FILTER: Final = f"{SITES}/+/jobs/+/progress"
HUB_MANIFEST_FILTER: Final = f"{SITES}/+/clips/+/manifest"
HUB_CHUNK_FILTER: Final = f"{SITES}/+/clips/+/chunk/+"
HUB_LIVE_ANSWER_FILTER: Final = f"{SITES}/+/live/+/answer"
HUB_LIVE_CANDIDATE_FILTER: Final = f"{SITES}/+/live/+/candidate"
HUB_LIVE_CLOSE_FILTER: Final = f"{SITES}/+/live/+/close"
HUB_SNAPSHOT_REPLY_FILTER: Final = f"{SITES}/+/snapshots/+/reply"
HUB_EVENTS_FILTER: Final = f"{SITES}/+/events"

HUB_SUBSCRIPTIONS: Final = (
    Subscription(HUB_STATUS_FILTER),
    Subscription(HUB_PROGRESS_FILTER),
    Subscription(HUB_MANIFEST_FILTER),
    Subscription(HUB_CHUNK_FILTER),
    Subscription(HUB_LIVE_ANSWER_FILTER),
    Subscription(HUB_LIVE_CANDIDATE_FILTER, no_local=True),
    Subscription(HUB_LIVE_CLOSE_FILTER, no_local=True),
    Subscription(HUB_SNAPSHOT_REPLY_FILTER),
    Subscription(HUB_EVENTS_FILTER),
)


# What several hub workers share (each message to one of them): everything whose state is in the
# database. Live signalling and snapshot replies stay unshared: every worker gets each one and
# takes only those for its own requests (hub.services.site_requests.PendingReplies).
HUB_SHARED_FILTERS: Final = frozenset(
    {
        HUB_STATUS_FILTER,
        HUB_PROGRESS_FILTER,
        HUB_MANIFEST_FILTER,
        HUB_CHUNK_FILTER,
        HUB_EVENTS_FILTER,
    }
)


def hub_subscriptions(shared_group: str | None) -> tuple[Subscription, ...]:
    """The hub's subscriptions; with ``shared_group``, the ingest ones as MQTT 5 shared
    subscriptions (``$share/{group}/...``), so that the broker hands each message to one worker."""
    if shared_group is None:
        return HUB_SUBSCRIPTIONS
    _id("shared group", shared_group)
    return tuple(
        Subscription(f"$share/{shared_group}/{sub.filter}")
        if sub.filter in HUB_SHARED_FILTERS
        else sub
        for sub in HUB_SUBSCRIPTIONS
    )


def agent_jobs_filter(site: str) -> str:
    """Job requests for one site (``jobs/+``; progress is one level deeper and not matched)."""
    _id("site", site)
    return f"{SITES}/{site}/jobs/+"


def agent_acks_filter(site: str) -> str:
    _id("site", site)
    return f"{SITES}/{site}/clips/+/ack"


def agent_live_filter(site: str, kind: LiveKind) -> str:
    _id("site", site)
    return f"{SITES}/{site}/live/+/{kind}"


def agent_snapshot_filter(site: str) -> str:
    """Snapshot requests for one site (``snapshots/+/request``; replies are not matched)."""
    _id("site", site)
    return f"{SITES}/{site}/snapshots/+/request"


def agent_subscriptions(site: str) -> tuple[Subscription, ...]:
    """An agent's subscriptions: its jobs, acks for its clips, legal holds, its upload cap, live
    offers,
    candidates, closes, and snapshot requests."""
    return (
        Subscription(agent_jobs_filter(site)),
        Subscription(agent_acks_filter(site)),
        Subscription(agent_holds_filter(site)),
        Subscription(uplink_cap_topic(site)),
        Subscription(agent_live_filter(site, "offer")),
        Subscription(agent_live_filter(site, "candidate"), no_local=True),
        Subscription(agent_live_filter(site, "close"), no_local=True),
        Subscription(agent_snapshot_filter(site)),
    )
