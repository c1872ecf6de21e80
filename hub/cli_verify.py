"""``cctv-hub verify-store`` and ``cctv-hub verify-audit``: the two offline checks.

Both print one line per problem and exit 1 when there is any, 0 when all is well, 2 when they
cannot run (no database, no key). Both may run while the hub runs (SQLite in WAL mode).
"""

from __future__ import annotations

import getpass
import sys
from pathlib import Path
from typing import Final

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from cctv_common.clock import utc_now
from cctv_common.evidence.signing import (
    KeyFileError,
    load_or_create_private_key,
    load_private_key,
    load_public_key,
)
from hub.domain.records import StoredObject
from hub.services.checkpoints import Checkpointer
from hub.services.custody_checks import custody_report
from hub.services.integrity import verify_store_sync
from hub.settings import HubSettings
from hub.storage.engine import AnyDatabase, open_database, storage_for
from hub.storage.evidence.backends import open_evidence_store
from hub.storage.evidence.verify import MB, ObjectCheck, RateLimiter

EXIT_OK: Final = 0
EXIT_FAILED: Final = 1
EXIT_USAGE: Final = 2


def _open(settings: HubSettings) -> AnyDatabase | None:
    if settings.database.url is None and not settings.db_path.exists():
        print(f"cctv-hub: no database at {settings.db_path}", file=sys.stderr)
        return None
    return open_database(settings)


def checkpointer(settings: HubSettings, database: AnyDatabase) -> Checkpointer:
    """The hub's checkpointer, for CLI commands that write custody rows (creates the hub key
    as the hub's first start would)."""
    key = load_or_create_private_key(settings.hub_key_path)
    return Checkpointer(
        storage_for(database), settings.checkpoint_path, key, settings.hub_id, now=utc_now
    )


# verify-store


def verify_store(settings: HubSettings, mb_per_second: float | None) -> int:
    database = _open(settings)
    if database is None:
        return EXIT_USAGE
    store = open_evidence_store(settings)
    limiter = None if mb_per_second is None else RateLimiter(mb_per_second * MB)

    def show(obj: StoredObject, result: ObjectCheck) -> None:
        clips = ", ".join(obj.clip_ids)
        if result.ok:
            print(f"ok       {clips} ({obj.bytes} bytes)")
        else:
            print(f"DAMAGED  {clips}: {result.problem}", file=sys.stderr)

    try:
        report = verify_store_sync(
            storage_for(database),
            store,
            actor=f"cli:{getpass.getuser()}",
            by="verify-store",
            limiter=limiter,
            now=utc_now,
            progress=show,
        )
        checkpointer(settings, database).checkpoint()
    finally:
        database.close()
    for obj, problem in report.unavailable:
        print(f"UNCHECKED {', '.join(obj.clip_ids)}: the store is unavailable: {problem}")
    if report.damaged:
        print(
            f"BROKEN: {len(report.damaged)} of {report.checked} stored item file(s) do not match"
            " their SHA-256; they are marked damaged and no longer served",
            file=sys.stderr,
        )
        return EXIT_FAILED
    if report.unavailable:
        print(
            f"INCOMPLETE: {len(report.unavailable)} stored item file(s) could not be read (the"
            f" store is unavailable; they are not marked damaged); {report.checked} checked match",
            file=sys.stderr,
        )
        return EXIT_FAILED
    print(
        f"OK: {report.checked} stored item file(s) match their SHA-256"
        f" ({report.bytes_read} bytes read)"
    )
    return EXIT_OK


# verify-audit


def _public_key(settings: HubSettings, given: Path | None) -> Ed25519PublicKey:
    if given is not None:
        try:
            return load_public_key(given.read_bytes())
        except OSError as exc:
            raise KeyFileError(f"cannot read {given}: {exc}") from exc
    if not settings.hub_key_path.exists():
        raise KeyFileError(
            f"no hub key at {settings.hub_key_path}: give the hub's public key with --public-key"
        )
    return load_private_key(settings.hub_key_path).public_key()


def verify_audit(settings: HubSettings, public_key_file: Path | None) -> int:
    try:
        public_key = _public_key(settings, public_key_file)
    except KeyFileError as exc:
        print(f"cctv-hub: {exc}", file=sys.stderr)
        return EXIT_USAGE
    database = _open(settings)
    if database is None:
        return EXIT_USAGE
    try:
        report = custody_report(storage_for(database), settings.checkpoint_path, public_key)
    finally:
        database.close()
    if not report.chain_ok:
        print(
            f"BROKEN: the custody log's chain breaks at row {report.first_bad_seq}",
            file=sys.stderr,
        )
    for problem in report.problems:
        print(f"BROKEN: {problem}", file=sys.stderr)
    if not report.ok:
        return EXIT_FAILED
    newest = report.last_checkpoint
    print(f"OK: custody log of {report.rows} row(s) is intact")
    if newest is not None:
        print(
            f"    {report.checkpoints} signed checkpoint(s); the newest, of row {newest.seq}, at"
            f" {newest.at}; {report.unanchored_rows} row(s) after it not yet anchored"
        )
    print("    every evidence item and job row agrees with the custody log")
    return EXIT_OK
