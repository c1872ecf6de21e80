"""Builders shared by the hub's tests.

Real things throughout: Ed25519 keys and signatures, canonical manifests from
``cctv_common.evidence.manifest``, the hub's own database, store and repository functions, and
ffmpeg for a playable H.264 clip.
"""

from __future__ import annotations

import functools
import hashlib
import math
import secrets
import shutil
import struct
import subprocess
import tempfile
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Final

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from cctv_common import __version__
from cctv_common.evidence.manifest import CameraIdentity, Manifest, ManifestGap, Software, Window
from cctv_common.evidence.signing import key_id, public_key_pem, sign
from cctv_common.mqtt.events import EventQueue
from cctv_common.wire.job_state import JobState
from cctv_common.wire.payloads import CameraStatus, ClipAck, ClipOffer, HubSigned, SiteStatus
from cctv_common.wire.topics import ack_topic
from devkit.local_broker import HUB_USER, MosquittoBroker
from hub.domain.acl import Role
from hub.domain.custody import CustodyAction
from hub.domain.records import ClipJob, EvidenceItem
from hub.services.passwords import hash_password
from hub.settings import BrokerSettings, HubSettings, SiteSettings, UserSettings
from hub.settings_database import DatabaseSettings
from hub.storage.engine import AnyDatabase, storage_for
from hub.storage.evidence.backends import open_evidence_store
from hub.storage.sql_session import SqlSession
from hub.storage.sqlite import repository as repo
from hub.storage.sqlite.custody_rows import append_in
from tests.support.hub_engines import active_database_url

SITE: Final = "site-a"
CAMERA: Final = "cam-1"
# Safety limit for waiting on threads, brokers and browsers; no test asserts on durations.
WAIT_SECONDS: Final = 20.0

# name -> (role, password). Two police officers, to check that each sees only their own.
USERS: Final[dict[str, tuple[Role, str]]] = {
    "pc-one": (Role.POLICE, "pw-police-one"),
    "pc-two": (Role.POLICE, "pw-police-two"),
    "operator": (Role.OPERATOR, "pw-operator"),
    "supervisor": (Role.SUPERVISOR, "pw-supervisor"),
    "engineer": (Role.ENGINEER, "pw-engineer"),
    "auditor": (Role.AUDITOR, "pw-auditor"),
}

_hashes: dict[str, str] = {}


def user_settings() -> tuple[UserSettings, ...]:
    """The test users; cheap scrypt parameters (the format carries them) keep tests fast."""
    out = []
    for name, (role, password) in USERS.items():
        if name not in _hashes:
            _hashes[name] = hash_password(password, n=2**10)
        out.append(UserSettings(username=name, role=role, password_hash=_hashes[name]))
    return tuple(out)


def auth(name: str) -> tuple[str, str]:
    return name, USERS[name][1]


def make_settings(
    data_dir: Path,
    *,
    site_key: Ed25519PrivateKey | None = None,
    broker: BrokerSettings | None = None,
    hub_id: str = "test-hub",
) -> HubSettings:
    sites: tuple[SiteSettings, ...] = ()
    if site_key is not None:
        pem = public_key_pem(site_key)
        sites = (SiteSettings(site_id=SITE, name="Site A", public_key_pem=pem),)
    return HubSettings(
        hub_id=hub_id,
        data_dir=data_dir,
        broker=broker,
        sites=sites,
        users=user_settings(),
        # The running test's engine (storage_engines.hub_engine): SQLite in data_dir unless
        # its PostgreSQL case names a schema.
        database=DatabaseSettings(url=active_database_url(), pool_size=4),
    )


def report_status(
    db: AnyDatabase,
    *,
    site: str = SITE,
    cameras: Sequence[str] = (CAMERA,),
    buffer_start: datetime | None = None,
    buffer_end: datetime | None = None,
) -> SiteStatus:
    """Record a site status as if the agent had sent it."""
    now = datetime.now(UTC)
    status = online_status(cameras, buffer_start or now - timedelta(hours=1), buffer_end or now)
    storage_for(db).write(lambda uow: uow.sites.apply_status(site, status, now))
    return status


def online_status(
    cameras: Sequence[str], buffer_start: datetime, buffer_end: datetime
) -> SiteStatus:
    return SiteStatus(
        state="online",
        version=__version__,
        sent_at=datetime.now(UTC),
        cameras=tuple(
            CameraStatus(
                camera_id=camera,
                state="recording",
                buffer_start=buffer_start,
                buffer_end=buffer_end,
                codec="h264",
                width=320,
                height=240,
            )
            for camera in cameras
        ),
    )


class RecordingLink:
    """An MqttLink that records what the hub publishes instead of sending it."""

    is_ready = True

    def __init__(self) -> None:
        self.published: list[tuple[str, bytes, bool]] = []

    async def start(self, events: EventQueue) -> None:
        self.events = events

    async def stop(self) -> None:
        return None

    def publish(self, topic: str, payload: bytes, *, retain: bool = False) -> None:
        self.published.append((topic, payload, retain))

    def acks(self, clip_id: str, site_id: str = SITE) -> list[ClipAck]:
        return [
            ClipAck.parse(unsealed(payload))
            for topic, payload, _ in self.published
            if topic == ack_topic(site_id, clip_id)
        ]


def unsealed(payload: bytes | bytearray) -> bytes:
    """The body of a hub-signed message, unchecked (tests of the signature check it themselves)."""
    return HubSigned.parse(payload).body.encode("utf-8")


# Signed clips, built the way an agent builds them.


@dataclass
class SignedClip:
    data: bytes
    offer: ClipOffer
    chunks: list[bytes] = field(repr=False)

    @property
    def clip_id(self) -> str:
        return self.offer.clip_id

    @property
    def sha256(self) -> str:
        return self.offer.clip_sha256


def signed_clip(
    key: Ed25519PrivateKey,
    data: bytes,
    *,
    job_id: str,
    site_id: str = SITE,
    camera_id: str = CAMERA,
    clip_id: str | None = None,
    chunk_size: int = 64 * 1024,
    signing_key: Ed25519PrivateKey | None = None,
    start: datetime | None = None,
    requested: Window | None = None,
    delivered: Window | None = None,
    gaps: Sequence[ManifestGap] = (),
    frames: int | None = None,
    codec: str = "h264",
    width: int = 320,
    height: int = 240,
) -> SignedClip:
    """A clip with a real manifest, signed by ``signing_key`` (default ``key``) and chunked.

    The requested window is 20 s from ``start`` (default: 100 s ago, inside ``insert_job``'s)
    unless given; the delivered window is the requested one unless given; ``gaps`` and
    ``frames`` go into the manifest as they are.
    """
    clip_id = clip_id or f"clip-{uuid.uuid4().hex}"
    begin = start or datetime.now(UTC) - timedelta(seconds=100)
    window = requested or Window(start=begin, end=begin + timedelta(seconds=20))
    sha = hashlib.sha256(data).hexdigest()
    manifest = Manifest(
        clip_id=clip_id,
        job_id=job_id,
        site_id=site_id,
        camera=CameraIdentity(id=camera_id, name="Test camera", stream_uri="rtsp://10.0.0.5/1"),
        requested=window,
        delivered=delivered or window,
        gaps=tuple(gaps),
        codec=codec,
        width=width,
        height=height,
        fps=25.0,
        frames=frames,
        bytes=len(data),
        sha256=sha,
        software=Software(name="hub tests", version=__version__),
        created_at=datetime.now(UTC),
        key_id=key_id(key),
    )
    manifest_bytes = manifest.canonical_bytes()
    signature = sign(signing_key or key, manifest_bytes)
    chunks = [data[i : i + chunk_size] for i in range(0, len(data), chunk_size)]
    offer = ClipOffer(
        clip_id=clip_id,
        job_id=job_id,
        manifest=manifest_bytes.decode("utf-8"),
        signature=signature,
        key_id=key_id(key),
        clip_bytes=len(data),
        clip_sha256=sha,
        chunk_size=chunk_size,
        chunk_count=math.ceil(len(data) / chunk_size),
        chunk_sha256=tuple(hashlib.sha256(chunk).hexdigest() for chunk in chunks),
    )
    return SignedClip(data, offer, chunks)


# Evidence put straight into the store and database (for API and browser tests).


def insert_job(
    db: AnyDatabase,
    *,
    requested_by: str,
    site_id: str = SITE,
    camera_id: str = CAMERA,
    state: str = "dispatched",
    window: tuple[datetime, datetime] | None = None,
    priority: int = 5,
) -> ClipJob:
    """A job row; its window is the minute that ended a minute ago unless ``window`` is given."""
    now = datetime.now(UTC)
    start, end = window or (now - timedelta(minutes=2), now - timedelta(minutes=1))
    job = ClipJob(
        id=f"job-{uuid.uuid4().hex}",
        site_id=site_id,
        camera_id=camera_id,
        start=start,
        end=end,
        reason="crime ref 42/1234",
        priority=priority,
        requested_by=requested_by,
        state=JobState(state),
        percent=0,
        error=None,
        clip_id=None,
        created_at=now,
        updated_at=now,
    )
    db.write(lambda d: repo.insert_job(d, job))
    return job


def insert_evidence(
    settings: HubSettings,
    db: AnyDatabase,
    key: Ed25519PrivateKey,
    data: bytes,
    *,
    requested_by: str,
    window: tuple[datetime, datetime] | None = None,
    delivered: Window | None = None,
    gaps: Sequence[ManifestGap] = (),
    frames: int | None = None,
    job: ClipJob | None = None,
    width: int = 320,
    height: int = 240,
) -> EvidenceItem:
    """A verified evidence item, as ingest would have left it (store file, row, custody rows:
    the job's ``dispatch`` by its requester and the clip's ``stored``). ``job``: answer this
    job the hub already dispatched (with its own ``dispatch`` row) instead of a new one.

    The manifest asks for the job's window (``insert_job``'s); ``delivered``, ``gaps`` and
    ``frames`` describe what the clip holds (default: exactly the window, no gaps);
    ``width`` and ``height`` its picture.
    """
    if job is None:
        job = insert_job(db, requested_by=requested_by, state="stored", window=window)
        db.write(lambda d: append_in(d, requested_by, CustodyAction.DISPATCH, f"job:{job.id}", {}))
    clip = signed_clip(
        key,
        data,
        job_id=job.id,
        requested=Window(start=job.start, end=job.end),
        delivered=delivered,
        gaps=gaps,
        frames=frames,
        width=width,
        height=height,
    )
    manifest = Manifest.parse(clip.offer.manifest_bytes())
    store = open_evidence_store(settings)  # the store the settings name (folder or S3)
    staging = settings.data_dir / f"{clip.clip_id}.staging"
    staging.write_bytes(data)
    store_key = store.put_file(staging, clip.sha256)
    now = datetime.now(UTC)
    item = EvidenceItem(
        clip_id=clip.clip_id,
        sha256=clip.sha256,
        store_key=store_key,
        site_id=job.site_id,
        camera_id=job.camera_id,
        job_id=job.id,
        requested_by=requested_by,
        manifest=clip.offer.manifest,
        signature=clip.offer.signature,
        key_id=manifest.key_id,
        bytes=len(data),
        delivered_start=manifest.delivered.start,
        delivered_end=manifest.delivered.end,
        codec=manifest.codec,
        width=manifest.width,
        height=manifest.height,
        stored_at=now,
    )

    def record(d: SqlSession) -> None:
        repo.insert_evidence(d, item)
        repo.update_job(
            d,
            job.id,
            state=JobState.STORED,
            percent=100,
            error=None,
            clip_id=clip.clip_id,
            now=now,
        )
        append_in(
            d,
            "hub:test",
            CustodyAction.STORED,
            f"clip:{clip.clip_id}",
            {"site_id": SITE, "job_id": job.id, "sha256": clip.sha256, "bytes": len(data)},
        )

    db.write(record)
    return item


def make_h264_mp4(path: Path, seconds: int = 4) -> bytes:
    """A small playable H.264 MP4 with the moov box first, made by ffmpeg."""
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        raise AssertionError("ffmpeg is not installed (Debian: apt-get install ffmpeg)")
    subprocess.run(
        [
            ffmpeg,
            "-hide_banner",
            "-loglevel",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            f"testsrc=size=320x240:rate=25:duration={seconds}",
            "-c:v",
            "libx264",
            "-pix_fmt",
            "yuv420p",
            "-profile:v",
            "baseline",
            "-movflags",
            "+faststart",
            str(path),
        ],
        check=True,
    )
    return path.read_bytes()


@functools.cache
def _base_video() -> bytes:
    with tempfile.TemporaryDirectory() as folder:
        return make_h264_mp4(Path(folder) / "base.mp4", seconds=2)


def video_bytes(size: int) -> bytes:
    """A real H.264 MP4 (320x240, as ``signed_clip``'s manifest says) of exactly ``size`` bytes.

    ffmpeg's clip followed by an MP4 ``free`` box (which players skip) of random bytes: every
    call gives another clip, of the size a test needs for its chunk count.
    """
    base = _base_video()
    pad = size - len(base)
    if pad < 8:
        raise ValueError(f"a test video is at least {len(base) + 8} bytes, not {size}")
    return base + struct.pack(">I", pad) + b"free" + secrets.token_bytes(pad - 8)


def broker_settings(broker: MosquittoBroker) -> BrokerSettings:
    """The hub's login on a test broker (plain TCP, quick reconnects)."""
    return BrokerSettings(
        host=broker.host,
        port=broker.port,
        username=HUB_USER,
        password=broker.password(HUB_USER),  # type: ignore[arg-type]
        tls=False,
        reconnect_min_seconds=1,
        reconnect_max_seconds=2,
    )


# Looking at, and changing, the hub's rows as someone with the database's login could.


def row_count(db: AnyDatabase, table: str) -> int:
    return int(db.read(lambda d: next(d.query(f"SELECT COUNT(*) AS n FROM {table}"))["n"]))


def drop_append_only_guards(session: SqlSession, table: str = "audit") -> None:
    """Switch off ``table``'s refusal of UPDATE and DELETE (its triggers) from this write on."""
    if session.engine == "postgresql":
        session.execute(f"ALTER TABLE {table} DISABLE TRIGGER USER")
        return
    session.execute(f"DROP TRIGGER IF EXISTS {table}_no_update")
    session.execute(f"DROP TRIGGER IF EXISTS {table}_no_delete")
