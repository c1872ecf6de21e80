"""Signed checkpoints of the custody log's head, appended to a file outside the database.

The hash chain shows an edit in the middle of the log, but not the loss of its end (delete the
last rows and what is left still verifies), nor a log rewritten and re-hashed from some row on.
A checkpoint fixes the head: ``seq``, the row's ``hash``, the time, signed with the hub's
Ed25519 key. The hub appends one whenever the head has moved, every
``audit.checkpoint_interval_seconds`` and on shutdown; the CLI commands that write custody rows
append one too. ``cctv-hub verify-audit`` then requires every checkpoint's row to exist with that
hash. Rows written after the newest checkpoint are not anchored yet: at most one interval's worth.

The file is JSON lines, one checkpoint each, mode 0600, opened for append only; each line is
fsynced. Keep it on storage the database's owner cannot rewrite (a separate disk, a remote log
mount, ``chattr +a``), and copy the hub's public key somewhere safe: whoever holds the hub's
private key can sign a new history.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Final

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from cctv_common.clock import iso_utc
from cctv_common.evidence.manifest import canonical_json
from cctv_common.evidence.signing import BadSignature, key_id, sign, verify
from cctv_common.files import fsync_dir
from hub.storage.ports import HubStorage

log = logging.getLogger(__name__)

CHECKPOINT_TYPE: Final = "cctv-custody-checkpoint/1"
FILE_MODE: Final = 0o600
_TAIL_BYTES: Final = 64 * 1024
MAX_LINE_CHARS: Final = 4096


class InvalidCheckpoint(ValueError):
    """A line that is not a checkpoint this software writes."""


@dataclass(frozen=True)
class Checkpoint:
    hub_id: str
    seq: int
    hash: str
    at: str
    key_id: str
    signature: str

    def signed_bytes(self) -> bytes:
        return checkpoint_body(self.hub_id, self.seq, self.hash, self.at, self.key_id)

    def as_dict(self) -> dict[str, Any]:
        return {
            "type": CHECKPOINT_TYPE,
            "hub_id": self.hub_id,
            "seq": self.seq,
            "hash": self.hash,
            "at": self.at,
            "key_id": self.key_id,
            "signature": self.signature,
        }

    def to_line(self) -> str:
        return canonical_json(self.as_dict()).decode("utf-8") + "\n"

    def verify(self, public_key: Ed25519PublicKey) -> None:
        """``BadSignature`` unless the hub key signed exactly this checkpoint."""
        if self.key_id != key_id(public_key):
            raise BadSignature(
                f"checkpoint of seq {self.seq} names key {self.key_id}, not {key_id(public_key)}"
            )
        verify(public_key, self.signed_bytes(), self.signature)

    @classmethod
    def parse_line(cls, line: str) -> Checkpoint:
        if len(line) > MAX_LINE_CHARS:
            raise InvalidCheckpoint(f"line of {len(line)} characters")
        try:
            data = json.loads(line)
        except ValueError as exc:
            raise InvalidCheckpoint(f"not JSON: {exc}") from exc
        if not isinstance(data, dict) or data.get("type") != CHECKPOINT_TYPE:
            raise InvalidCheckpoint(f"not a {CHECKPOINT_TYPE} object")
        fields = {"hub_id": str, "seq": int, "hash": str, "at": str, "key_id": str}
        for name, kind in {**fields, "signature": str}.items():
            value = data.get(name)
            if not isinstance(value, kind) or isinstance(value, bool):
                raise InvalidCheckpoint(f"field {name!r} is missing or not a {kind.__name__}")
        return cls(
            hub_id=data["hub_id"],
            seq=data["seq"],
            hash=data["hash"],
            at=data["at"],
            key_id=data["key_id"],
            signature=data["signature"],
        )


def checkpoint_body(hub_id: str, seq: int, head_hash: str, at: str, kid: str) -> bytes:
    return canonical_json(
        {"type": CHECKPOINT_TYPE, "hub_id": hub_id, "seq": seq, "hash": head_hash, "at": at,
         "key_id": kid}
    )  # fmt: skip


def make_checkpoint(
    key: Ed25519PrivateKey, hub_id: str, seq: int, head_hash: str, at: datetime
) -> Checkpoint:
    kid = key_id(key)
    when = iso_utc(at)
    signature = sign(key, checkpoint_body(hub_id, seq, head_hash, when, kid))
    return Checkpoint(hub_id, seq, head_hash, when, kid, signature)


class CheckpointFile:
    """The append-only file of checkpoints."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def append(self, checkpoint: Checkpoint) -> None:
        created = not self.path.exists()
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, FILE_MODE)
        try:
            os.write(fd, checkpoint.to_line().encode("utf-8"))
            os.fsync(fd)
        finally:
            os.close(fd)
        if created:
            fsync_dir(self.path.parent)

    def read(self) -> tuple[list[Checkpoint], list[str]]:
        """Every checkpoint in file order, and one problem line for each line that is not one."""
        found: list[Checkpoint] = []
        problems: list[str] = []
        with self.path.open("r", encoding="utf-8", errors="replace") as handle:
            for number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                try:
                    found.append(Checkpoint.parse_line(line))
                except InvalidCheckpoint as exc:
                    problems.append(f"{self.path} line {number}: {exc}")
        return found, problems

    def last(self) -> Checkpoint | None:
        """The newest readable checkpoint (from the file's tail), or None."""
        try:
            with self.path.open("rb") as handle:
                handle.seek(0, os.SEEK_END)
                size = handle.tell()
                handle.seek(max(0, size - _TAIL_BYTES))
                tail = handle.read().decode("utf-8", errors="replace")
        except FileNotFoundError:
            return None
        for line in reversed(tail.splitlines()):
            try:
                return Checkpoint.parse_line(line)
            except InvalidCheckpoint:
                continue
        return None


class Checkpointer:
    """Signs the chain head and appends it to the file, when it has moved since the last one."""

    def __init__(
        self,
        storage: HubStorage,
        path: Path,
        key: Ed25519PrivateKey,
        hub_id: str,
        *,
        now: Callable[[], datetime],
    ) -> None:
        self._storage = storage
        self.file = CheckpointFile(path)
        self._key = key
        self._hub_id = hub_id
        self._now = now
        self._last: Checkpoint | None = None
        self._loaded = False
        self._lock = threading.Lock()

    def _write(self, head: tuple[int, str] | None) -> Checkpoint | None:
        with self._lock:
            return self._write_locked(head)

    def _write_locked(self, head: tuple[int, str] | None) -> Checkpoint | None:
        if not self._loaded:
            self._last = self.file.last()
            self._loaded = True
        if head is None:
            return self._last
        seq, head_hash = head
        last = self._last
        if last is not None and (last.seq, last.hash) == (seq, head_hash):
            return last
        if last is not None and last.hub_id == self._hub_id and seq <= last.seq:
            log.error(
                "CUSTODY LOG CUT: the head is row %s, but row %s (hash %s) was checkpointed at %s;"
                " run cctv-hub verify-audit",
                seq,
                last.seq,
                last.hash,
                last.at,
            )
        checkpoint = make_checkpoint(self._key, self._hub_id, seq, head_hash, self._now())
        self.file.append(checkpoint)
        self._last = checkpoint
        log.debug("custody checkpoint: seq %s hash %s", seq, head_hash)
        return checkpoint

    def checkpoint(self) -> Checkpoint | None:
        """Sign and append the current head if it moved (blocking); the newest checkpoint."""
        return self._write(self._storage.read(lambda uow: uow.custody.head()))

    async def acheckpoint(self) -> Checkpoint | None:
        head = await self._storage.aread(lambda uow: uow.custody.head())
        return await asyncio.to_thread(self._write, head)

    async def run(self, interval_seconds: float) -> None:
        """Checkpoint every ``interval_seconds`` (a task of the hub service)."""
        while True:
            try:
                await self.acheckpoint()
            except OSError as exc:
                log.error("cannot write the custody checkpoint to %s: %s", self.file.path, exc)
            await asyncio.sleep(interval_seconds)
