"""Many simulated sites in one thread, for ``bench/scale.py``: each a real MQTT 5 client logged in
as its site (the broker's ACL applies), all driven by one ``selectors`` loop (paho's external-loop
API), so that a thousand of them cost a thousand sockets, not a thousand threads.

A site publishes its status (one camera recording), takes each job the hub sends, answers it
with a small signed clip (offer, then the chunks the hub's acks ask for), and notes when the job
arrived and when the hub said stored. A message on ``jobs/ping-<n>`` is the benchmark's own probe
of the broker: only its arrival time is noted.
"""

from __future__ import annotations

import selectors
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import paho.mqtt.client as mqtt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from paho.mqtt.enums import CallbackAPIVersion

from cctv_common.evidence.manifest import Window
from cctv_common.wire.chunk_ranges import from_ranges
from cctv_common.wire.payloads import ClipAck, Job
from cctv_common.wire.topics import chunk_topic, manifest_topic, status_topic
from tests.support.hub_kit import CAMERA, online_status, signed_clip, unsealed


@dataclass
class SiteLog:
    """What the fleet saw, by job id / ping id, in ``time.monotonic()`` seconds."""

    job_arrived: dict[str, float] = field(default_factory=dict)
    ping_arrived: dict[str, float] = field(default_factory=dict)
    stored: dict[str, float] = field(default_factory=dict)
    stored_bytes: int = 0
    rejected: list[str] = field(default_factory=list)


class _Site:
    def __init__(
        self, fleet: SiteFleet, site_id: str, password: str, key: Ed25519PrivateKey
    ) -> None:
        self.fleet = fleet
        self.site_id = site_id
        self.key = key
        self.clips: dict[str, tuple[str, list[bytes]]] = {}  # clip id -> job id, chunks
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=site_id, protocol=mqtt.MQTTv5
        )
        self.client.username_pw_set(site_id, password)
        self.client.on_message = self._on_message

    def connect(self, host: str, port: int) -> None:
        self.client.connect(host, port, keepalive=60)
        self.client.subscribe(
            [
                (f"cctv/v1/sites/{self.site_id}/jobs/+", 1),
                (f"cctv/v1/sites/{self.site_id}/clips/+/ack", 1),
            ]
        )
        now = datetime.now(UTC)
        status = online_status([CAMERA], now - timedelta(hours=2), now)
        self.client.publish(status_topic(self.site_id), status.to_bytes(), qos=1, retain=True)

    def _on_message(self, client: mqtt.Client, userdata: object, message: mqtt.MQTTMessage) -> None:
        now = time.monotonic()
        parts = message.topic.split("/")
        if parts[4] == "jobs":
            if parts[5].startswith("ping-"):
                self.fleet.log.ping_arrived[parts[5]] = now
                return
            if not message.payload:  # a cleared retained job
                return
            job = Job.parse(unsealed(message.payload))
            if job.job_id in self.fleet.log.job_arrived:
                return  # the retained copy again, after a reconnect
            self.fleet.log.job_arrived[job.job_id] = now
            # Answered after every ready socket has been read: making and signing a clip here
            # would delay the arrival noted for the next site's job (the fleet's own cost).
            self.fleet.answers.append((self, job))
        elif parts[4] == "clips":
            self._on_ack(parts[5], ClipAck.parse(unsealed(message.payload)))

    def answer(self, job: Job) -> None:
        clip = signed_clip(
            self.key,
            self.fleet.clip_data(),
            job_id=job.job_id,
            site_id=self.site_id,
            camera_id=job.camera_id,
            requested=Window(start=job.start, end=job.end),
        )
        self.clips[clip.clip_id] = (job.job_id, clip.chunks)
        self.client.publish(
            manifest_topic(self.site_id, clip.clip_id), clip.offer.to_bytes(), qos=1
        )

    def _on_ack(self, clip_id: str, ack: ClipAck) -> None:
        found = self.clips.get(clip_id)
        if found is None:
            return
        job_id, chunks = found
        if ack.state == "stored":
            self.fleet.log.stored[job_id] = time.monotonic()
            self.fleet.log.stored_bytes += sum(len(c) for c in chunks)
            del self.clips[clip_id]
        elif ack.state == "rejected":
            self.fleet.log.rejected.append(f"{self.site_id} {clip_id}: {ack.reason}")
            del self.clips[clip_id]
        else:
            for index in sorted(from_ranges(ack.missing or ())):
                self.client.publish(chunk_topic(self.site_id, clip_id, index), chunks[index], qos=1)


class SiteFleet:
    """``sites`` (site id -> password, key) connected to one broker, run on one thread."""

    def __init__(
        self,
        host: str,
        port: int,
        sites: dict[str, tuple[str, Ed25519PrivateKey]],
        clip_data: Callable[[], bytes],
    ) -> None:
        self.log = SiteLog()
        self.clip_data = clip_data
        self._host, self._port = host, port
        self._sites = [_Site(self, site, pw, key) for site, (pw, key) in sites.items()]
        self._selector = selectors.DefaultSelector()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="site-fleet", daemon=True)
        self.lock = threading.Lock()  # held by the loop while it handles messages
        self.answers: deque[tuple[_Site, Job]] = deque()  # jobs read, to answer this turn

    def start(self) -> None:
        for site in self._sites:
            site.connect(self._host, self._port)
            sock = site.client.socket()
            assert sock is not None
            wanted = selectors.EVENT_WRITE if site.client.want_write() else 0
            self._selector.register(sock, selectors.EVENT_READ | wanted, site)
            # paho's external-loop API: it says when it has bytes to send, so the loop waits on
            # those sockets only (not a poll of every site's want_write() each turn).
            site.client.on_socket_register_write = self._want_write
            site.client.on_socket_unregister_write = self._wrote
        self._thread.start()

    def _want_write(self, client: mqtt.Client, userdata: object, sock: object) -> None:
        key = self._selector.get_key(sock)  # type: ignore[arg-type]
        self._selector.modify(sock, selectors.EVENT_READ | selectors.EVENT_WRITE, key.data)  # type: ignore[arg-type]

    def _wrote(self, client: mqtt.Client, userdata: object, sock: object) -> None:
        key = self._selector.get_key(sock)  # type: ignore[arg-type]
        self._selector.modify(sock, selectors.EVENT_READ, key.data)  # type: ignore[arg-type]

    def _run(self) -> None:
        last_misc = 0.0
        while not self._stop.is_set():
            events = self._selector.select(timeout=0.5)
            with self.lock:
                for key, mask in events:
                    if mask & selectors.EVENT_READ:
                        key.data.client.loop_read()
                while self.answers:
                    site, job = self.answers.popleft()
                    site.answer(job)
                for key, mask in events:
                    if mask & selectors.EVENT_WRITE:
                        key.data.client.loop_write()
                now = time.monotonic()
                if now - last_misc > 1.0:
                    last_misc = now
                    for site in self._sites:
                        site.client.loop_misc()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        for site in self._sites:
            site.client.disconnect()
            site.client.loop_write()
