"""``verify-audit``: the custody chain, its signed checkpoints, and the rows it speaks for.

One pass over the custody log, in ``seq`` order, does three things:

- recomputes the hash chain (``hub.services.custody.verify_rows``' rule): an edited, inserted
  or removed row breaks it;
- matches every signed checkpoint (``hub.services.checkpoints``) with its row: a checkpoint
  whose row is gone means the log was cut (its last rows deleted); one whose row has another
  hash means the log was rewritten and re-hashed; a bad signature means the checkpoint was forged;
- replays what the log says about each evidence item and job and compares it with their rows:
  an item belongs to whoever dispatched its job (``dispatch`` row) unless a ``reassign`` row
  moved it, is on hold after ``hold`` until ``release``, is deleted after ``delete``, and has the
  SHA-256 and size of its ``stored`` row. An item row that says otherwise was edited outside the
  hub (for example its owner moved to another officer), and so was a job whose requester differs
  from its ``dispatch`` row.

``ChainReplay`` is pure; ``custody_report`` feeds it from the database and the checkpoint file.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from cctv_common.evidence.signing import BadSignature
from hub.domain.custody import stored_row_hash
from hub.services.checkpoints import Checkpoint, CheckpointFile
from hub.services.custody import GENESIS_HASH, CustodyAction
from hub.storage.ports import HubStorage, UnitOfWork

MAX_PROBLEMS: Final = 200
_READ_BATCH: Final = 5000


@dataclass
class _ItemState:
    job_id: str | None
    sha256: str | None
    bytes: int | None
    owner: str | None
    hold: bool = False
    deleted: bool = False


@dataclass
class CustodyReport:
    rows: int = 0
    head_seq: int = 0
    chain_ok: bool = True
    first_bad_seq: int | None = None
    checkpoints: int = 0
    last_checkpoint: Checkpoint | None = None
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.chain_ok and not self.problems

    @property
    def unanchored_rows(self) -> int:
        """Rows after the newest checkpoint: a cut of those alone cannot be seen."""
        anchored = 0 if self.last_checkpoint is None else self.last_checkpoint.seq
        return max(0, self.head_seq - anchored)

    def problem(self, text: str) -> None:
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(text)
        elif len(self.problems) == MAX_PROBLEMS:
            self.problems.append("... more problems not shown")


class ChainReplay:
    """Feed it the raw audit rows in ``seq`` order, then ``finish``."""

    def __init__(
        self, checkpoints: Iterable[Checkpoint], public_key: Ed25519PublicKey | None
    ) -> None:
        self.report = CustodyReport()
        self._expected_seq = 1
        self._prev_hash = GENESIS_HASH
        self._wanted: dict[int, list[Checkpoint]] = {}
        previous: Checkpoint | None = None
        for checkpoint in checkpoints:
            self.report.checkpoints += 1
            if public_key is not None:
                try:
                    checkpoint.verify(public_key)
                except BadSignature as exc:
                    self.report.problem(f"checkpoint of row {checkpoint.seq} is forged: {exc}")
                    continue
            if previous is not None and checkpoint.seq < previous.seq:
                self.report.problem(
                    f"checkpoint of row {checkpoint.seq} ({checkpoint.at}) comes after one of row"
                    f" {previous.seq}: the log was cut and written again"
                )
            self._wanted.setdefault(checkpoint.seq, []).append(checkpoint)
            newest = self.report.last_checkpoint
            if newest is None or checkpoint.seq >= newest.seq:
                self.report.last_checkpoint = checkpoint
            previous = checkpoint
        self._jobs: dict[str, str] = {}  # job id -> who dispatched it
        self._items: dict[str, _ItemState] = {}

    def feed(self, raw: Mapping[str, Any]) -> None:
        report = self.report
        report.rows += 1
        seq = raw.get("seq")
        if not isinstance(seq, int):
            self._break(self._expected_seq)
            return
        report.head_seq = max(report.head_seq, seq)
        try:
            detail = json.loads(raw["detail"])
        except (TypeError, ValueError):
            detail = None
        if report.chain_ok:
            if seq != self._expected_seq or not isinstance(detail, dict):
                self._break(seq)
            elif raw.get("prev_hash") != self._prev_hash:
                self._break(seq)
            else:
                digest = stored_row_hash(raw, detail, self._prev_hash)
                if raw.get("hash") != digest:
                    self._break(seq)
                self._prev_hash = digest
            self._expected_seq = seq + 1
        for checkpoint in self._wanted.pop(seq, ()):
            if raw.get("hash") != checkpoint.hash:
                report.problem(
                    f"row {seq} has hash {str(raw.get('hash'))[:16]}..., but the checkpoint of"
                    f" {checkpoint.at} signed {checkpoint.hash[:16]}...: the log was rewritten"
                )
        if isinstance(detail, dict):
            self._replay(str(raw["actor"]), str(raw["action"]), str(raw["subject"]), detail)

    def _break(self, seq: int) -> None:
        if self.report.chain_ok:
            self.report.chain_ok = False
            self.report.first_bad_seq = seq

    def _replay(self, actor: str, action: str, subject: str, detail: dict[str, Any]) -> None:
        kind, _, ident = subject.partition(":")
        if kind == "job" and action == CustodyAction.DISPATCH:
            self._jobs[ident] = actor
            return
        if kind != "clip":
            return
        if action == CustodyAction.STORED:
            job_id = _text(detail.get("job_id"))
            size = detail.get("bytes")
            self._items[ident] = _ItemState(
                job_id=job_id,
                sha256=_text(detail.get("sha256")),
                bytes=size if isinstance(size, int) else None,
                owner=None if job_id is None else self._jobs.get(job_id),
            )
            return
        item = self._items.get(ident)
        if item is None:
            return
        if action == CustodyAction.REASSIGN:
            item.owner = _text(detail.get("to"))
        elif action == CustodyAction.HOLD:
            item.hold = True
        elif action == CustodyAction.RELEASE:
            item.hold = False
        elif action == CustodyAction.DELETE:
            item.deleted = True

    def finish(
        self, items: Iterable[Mapping[str, Any]], jobs: Iterable[Mapping[str, Any]]
    ) -> CustodyReport:
        """Compare the replayed state with the item and job rows; returns the report."""
        report = self.report
        for seq in sorted(self._wanted):
            for checkpoint in self._wanted[seq]:
                report.problem(
                    f"row {seq} was checkpointed at {checkpoint.at} but is gone: the log was cut"
                    f" (it ends at row {report.head_seq})"
                )
        for job in jobs:
            dispatched_by = self._jobs.get(str(job["id"]))
            if dispatched_by is not None and dispatched_by != job["requested_by"]:
                report.problem(
                    f"job {job['id']} names {job['requested_by']} as its requester, but the"
                    f" custody log says {dispatched_by} dispatched it"
                )
        seen: set[str] = set()
        for row in items:
            clip_id = str(row["clip_id"])
            seen.add(clip_id)
            self._compare_item(clip_id, row)
        for clip_id, state in self._items.items():
            if clip_id not in seen:
                report.problem(
                    f"the custody log says clip {clip_id} was stored"
                    + (" and deleted" if state.deleted else "")
                    + ", but its evidence item row is gone"
                )
        return report

    def _compare_item(self, clip_id: str, row: Mapping[str, Any]) -> None:
        report = self.report
        state = self._items.get(clip_id)
        if state is None:
            report.problem(f"evidence item {clip_id} has no 'stored' row in the custody log")
            return
        if state.job_id is not None and row["job_id"] != state.job_id:
            report.problem(
                f"evidence item {clip_id} answers job {row['job_id']}, but it was stored for job"
                f" {state.job_id}"
            )
        if state.sha256 is not None and row["sha256"] != state.sha256:
            report.problem(
                f"evidence item {clip_id} has SHA-256 {row['sha256']}, but it was stored with"
                f" {state.sha256}"
            )
        if state.bytes is not None and row["bytes"] != state.bytes:
            report.problem(
                f"evidence item {clip_id} is {row['bytes']} bytes, but {state.bytes} were stored"
            )
        if state.owner is None:
            report.problem(
                f"evidence item {clip_id}: the custody log does not say who it belongs to (no"
                f" dispatch row for job {state.job_id})"
            )
        elif row["requested_by"] != state.owner:
            report.problem(
                f"evidence item {clip_id} belongs to {row['requested_by']} in the database, but"
                f" the custody log gives it to {state.owner}: its owner was changed outside the hub"
            )
        if bool(row["legal_hold"]) != state.hold:
            report.problem(
                f"evidence item {clip_id} is {'on' if row['legal_hold'] else 'off'} legal hold in"
                f" the database, but the custody log says {'on' if state.hold else 'off'}"
            )
        deleted = row.get("deleted_at") is not None
        if deleted != state.deleted:
            report.problem(
                f"evidence item {clip_id} is {'deleted' if deleted else 'not deleted'} in the"
                f" database, but the custody log says {'deleted' if state.deleted else 'kept'}"
            )


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def custody_report(
    storage: HubStorage,
    checkpoints_path: Path,
    public_key: Ed25519PublicKey,
) -> CustodyReport:
    """The whole check: chain, checkpoints, item and job rows (blocking)."""
    problems: list[str] = []
    found: list[Checkpoint] = []
    if checkpoints_path.exists():
        found, problems = CheckpointFile(checkpoints_path).read()

    def run(uow: UnitOfWork) -> CustodyReport:
        replay = ChainReplay(found, public_key)
        for raw in uow.custody.raw():
            replay.feed(raw)
        return replay.finish(uow.evidence.custody_fields(), uow.jobs.owners())

    report = storage.read(run)
    for problem in problems:
        report.problem(problem)
    if report.rows and report.checkpoints == 0:
        report.problem(
            f"no checkpoint in {checkpoints_path}: the end of the log is not anchored, so a cut"
            " cannot be seen (the hub writes one every minute and on shutdown)"
        )
    return report
