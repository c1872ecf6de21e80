"""``cctv-hub exhibit export`` and ``cctv-hub exhibit derive``: the command line of exhibits.

This is the one place where hub.exhibits reads the hub's own objects (database rows, the
evidence store, site keys, the custody log); everything it calls takes plain values. Each export
and each derived item is written to the custody log of every item it touches.

Exit codes: 0 done, 1 the export or derivation failed (nothing left behind), 2 a usage problem.
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from cctv_common.clock import utc_now
from cctv_common.evidence.signing import KeyFileError, load_or_create_private_key
from hub.cli_verify import checkpointer
from hub.domain.custody import CustodyAction
from hub.domain.records import EvidenceItem
from hub.exhibits.derive.operations import OPERATIONS, DeriveJob, derive
from hub.exhibits.derive.redaction import (
    FixedBox,
    FollowingBox,
    RedactionError,
    RedactionPlan,
    parse_box,
)
from hub.exhibits.derive.video_pass import DeriveError
from hub.exhibits.inputs import DerivedExhibit, ExportError, MasterExhibit, PackageRequest
from hub.exhibits.package import build_package, new_package_id
from hub.services.exhibit_export import ExhibitExport, ExportRefused, ExportSettings
from hub.settings import HubSettings
from hub.storage.engine import AnyDatabase, open_database, storage_for
from hub.storage.evidence.backends import open_evidence_store
from hub.storage.evidence.store import EvidenceStore
from hub.storage.ports import UnitOfWork

EXIT_OK: Final = 0
EXIT_FAILED: Final = 1
EXIT_USAGE: Final = 2
_MAX_CUSTODY_ROWS: Final = 100_000


class ItemUnavailable(Exception):
    """An item that cannot be exported or derived from (unknown, deleted, no site key)."""


def add_exhibit_commands(commands: Any) -> None:
    """Register ``exhibit export`` and ``exhibit derive`` on the ``cctv-hub`` sub-parsers."""
    exhibit = commands.add_parser("exhibit", help="export packages for court; derived items")
    sub = exhibit.add_subparsers(dest="exhibit_command", required=True, metavar="ACTION")
    export = sub.add_parser("export", help="write an export package (zip) of evidence items")
    export.add_argument("--config", required=True, type=Path, help="hub TOML settings file")
    export.add_argument("--out", required=True, type=Path, help="the zip to write")
    export.add_argument(
        "--item",
        nargs="+",
        help="evidence item (clip) ids (default: what --request released)",
    )
    export.add_argument(
        "--reference",
        nargs="+",
        help="an exhibit reference for each item, in order (default: PREFIX/1, PREFIX/2 ...)",
    )
    export.add_argument("--prefix", default="EX", help="reference prefix, e.g. initials")
    export.add_argument("--derived", nargs="*", type=Path, default=[], help="derived item folders")
    export.add_argument("--as-user", help="who exports (default: cli:<login name>)")
    export.add_argument(
        "--request",
        default="",
        help="the footage request; alone: its released items, as the Export button",
    )
    export.add_argument("--disclosure", type=Path, help="the disclosure entry (JSON object)")
    derive = sub.add_parser("derive", help="make a working or redacted copy of an item")
    derive.add_argument("--config", required=True, type=Path, help="hub TOML settings file")
    derive.add_argument("--item", required=True, help="evidence item (clip) id")
    derive.add_argument("--op", required=True, choices=OPERATIONS)
    derive.add_argument("--out", required=True, type=Path, help="folder to write the item to")
    derive.add_argument(
        "--box", action="append", default=[], help="redact: a fixed box X,Y,W,H[@FROM-TO seconds]"
    )
    derive.add_argument(
        "--follow", action="append", default=[], help="redact: a box X,Y,W,H@T that follows"
    )
    derive.add_argument("--no-faces", action="store_true", help="redact: boxes only")
    derive.add_argument("--as-user", help="who derives (default: cli:<login name>)")


@dataclass(frozen=True)
class _Item:
    record: EvidenceItem
    site_key_pem: str
    custody: list[dict[str, Any]]


def _load_item(settings: HubSettings, database: AnyDatabase, clip_id: str, actor: str) -> _Item:
    def read(uow: UnitOfWork) -> _Item:
        record = uow.evidence.get(clip_id)
        if record is None:
            raise ItemUnavailable(f"there is no evidence item {clip_id!r}")
        if record.deleted_at is not None:
            raise ItemUnavailable(f"evidence item {clip_id} was deleted by {record.deleted_by}")
        site = uow.sites.get(record.site_id)
        pem = site.public_key_pem if site is not None else None
        if pem is None:
            pem = next(
                (s.public_key_pem for s in settings.sites if s.site_id == record.site_id), None
            )
        if pem is None:
            raise ItemUnavailable(f"no public key for site {record.site_id} of item {clip_id}")
        subjects = [f"clip:{clip_id}", f"job:{record.job_id}"]
        rows = [r.as_dict() for r in uow.custody.after(subjects, 0, _MAX_CUSTODY_ROWS)]
        return _Item(record, pem, rows)

    return storage_for(database).read(read)


def _actor(given: str | None) -> str:
    return given or f"cli:{getpass.getuser()}"


def _record_custody(
    settings: HubSettings,
    database: AnyDatabase,
    actor: str,
    subjects_details: Sequence[tuple[str, dict[str, Any]]],
) -> None:
    def write(uow: UnitOfWork) -> None:
        for subject, detail in subjects_details:
            uow.custody.append(actor, CustodyAction.EXPORT, subject, detail)

    storage_for(database).write(write)
    checkpointer(settings, database).checkpoint()


def _derived_inputs(folders: Sequence[Path], masters: dict[str, str]) -> list[DerivedExhibit]:
    """Derived item folders (from ``exhibit derive``), each matched to its master by SHA-256."""
    out: list[DerivedExhibit] = []
    counts: dict[str, int] = {}
    for folder in folders:
        manifest_bytes = (folder / "manifest.json").read_bytes()
        info = json.loads(manifest_bytes)
        source = info.get("source", {}).get("sha256")
        master = masters.get(source)
        if master is None:
            raise ExportError(f"{folder}: its source {source} is not one of the items exported")
        counts[master] = counts.get(master, 0) + 1
        letter = {"h264": "W", "timestamp": "T", "redact": "R"}.get(
            info.get("operation", {}).get("name"), "D"
        )
        clip = folder / "derived.mp4"
        out.append(
            DerivedExhibit(
                reference=f"{master}/{letter}{counts[master]}",
                derived_from=master,
                open=lambda clip=clip: clip.open("rb"),  # type: ignore[misc]
                manifest_bytes=manifest_bytes,
                signature=(folder / "manifest.sig").read_text(encoding="ascii").strip(),
            )
        )
    return out


def _export_request(settings: HubSettings, args: argparse.Namespace) -> int:
    """The request's package, made by the same service as the hub's Export for court."""
    actor = _actor(args.as_user)
    database = open_database(settings)
    try:
        exports = ExhibitExport(
            storage_for(database),
            open_evidence_store(settings),
            ExportSettings(
                settings.data_dir,
                settings.hub_id,
                load_or_create_private_key(settings.hub_key_path),
                settings.exhibits.reference_pattern,
                {s.site_id: s.resolved_public_key_pem() for s in settings.sites},
            ),
            now=utc_now,
        )
        summary = exports.export_to(args.request, actor, args.out)
        checkpointer(settings, database).checkpoint()
    except (ExportRefused, KeyFileError, OSError, ValueError) as exc:
        print(f"cctv-hub: export failed, nothing written: {exc}", file=sys.stderr)
        return EXIT_FAILED
    finally:
        database.close()
    print(
        f"package {summary.package_id} of {args.request} written to {args.out}:"
        f" {len(summary.exhibits)} exhibits ({', '.join(summary.exhibits)}), {summary.files}"
        f" files, package.json SHA-256 {summary.manifest_sha256}"
    )
    return EXIT_OK


def _export(settings: HubSettings, args: argparse.Namespace) -> int:
    if not args.item:
        if not args.request:
            print("cctv-hub: give --request REF, or --item CLIP...", file=sys.stderr)
            return EXIT_USAGE
        return _export_request(settings, args)
    references = args.reference or [f"{args.prefix}/{n}" for n in range(1, len(args.item) + 1)]
    if len(references) != len(args.item):
        print("cctv-hub: give one --reference for each --item", file=sys.stderr)
        return EXIT_USAGE
    disclosure: dict[str, Any] = {}
    if args.disclosure is not None:
        disclosure = json.loads(args.disclosure.read_text(encoding="utf-8"))
        if not isinstance(disclosure, dict):
            print("cctv-hub: --disclosure must hold a JSON object", file=sys.stderr)
            return EXIT_USAGE
    actor = _actor(args.as_user)
    database = open_database(settings)
    try:
        store: EvidenceStore = open_evidence_store(settings)
        masters = []
        by_sha: dict[str, str] = {}
        for clip_id, reference in zip(args.item, references, strict=True):
            item = _load_item(settings, database, clip_id, actor)
            key = item.record.store_key
            masters.append(
                MasterExhibit(
                    reference=reference,
                    open=lambda key=key: store.open(key),  # type: ignore[misc]
                    manifest_bytes=item.record.manifest.encode("utf-8"),
                    signature=item.record.signature,
                    site_public_key_pem=item.site_key_pem,
                    custody_rows=item.custody,
                )
            )
            by_sha[item.record.sha256] = reference
        now = utc_now()
        request = PackageRequest(
            package_id=new_package_id(now),
            created_by=actor,
            created_at=now,
            hub_id=settings.hub_id,
            hub_key=load_or_create_private_key(settings.hub_key_path),
            masters=masters,
            derived=_derived_inputs(args.derived, by_sha),
            disclosure=disclosure,
            request_reference=args.request,
        )
        summary = build_package(request, args.out)
        _record_custody(
            settings,
            database,
            actor,
            [
                (
                    f"clip:{clip_id}",
                    {
                        "package_id": summary.package_id,
                        "package_manifest_sha256": summary.manifest_sha256,
                        "exhibit": reference,
                        "file": args.out.name,
                    },
                )
                for clip_id, reference in zip(args.item, references, strict=True)
            ],
        )
    except (ItemUnavailable, ExportError, KeyFileError, OSError, ValueError) as exc:
        print(f"cctv-hub: export failed, nothing written: {exc}", file=sys.stderr)
        return EXIT_FAILED
    finally:
        database.close()
    print(
        f"package {summary.package_id} written to {args.out}: {len(summary.exhibits)} exhibits"
        f" ({', '.join(summary.exhibits)}), {summary.files} files,"
        f" package.json SHA-256 {summary.manifest_sha256}"
    )
    return EXIT_OK


def run_exhibit(settings: HubSettings, args: argparse.Namespace) -> int:
    if args.exhibit_command == "export":
        return _export(settings, args)
    return _derive(settings, args)


def _plan(args: argparse.Namespace) -> RedactionPlan:
    fixed, following = [], []
    for text in args.box:
        box, start, end = parse_box(text)
        fixed.append(FixedBox(box, start or 0.0, end))
    for text in args.follow:
        box, at, _ = parse_box(text)
        following.append(FollowingBox(box, at or 0.0))
    return RedactionPlan(faces=not args.no_faces, fixed=tuple(fixed), following=tuple(following))


def _derive(settings: HubSettings, args: argparse.Namespace) -> int:
    actor = _actor(args.as_user)
    database = open_database(settings)
    try:
        plan = _plan(args)
        item = _load_item(settings, database, args.item, actor)
        store: EvidenceStore = open_evidence_store(settings)
        with store.open(item.record.store_key) as source:
            result = derive(
                DeriveJob(
                    operation=args.op,
                    source=source,
                    source_manifest_bytes=item.record.manifest.encode("utf-8"),
                    out_dir=args.out,
                    hub_id=settings.hub_id,
                    hub_key=load_or_create_private_key(settings.hub_key_path),
                    created_by=actor,
                    created_at=utc_now(),
                    redaction=plan,
                )
            )
        detail = {
            "derived_item": result.signed.item_id,
            "operation": args.op,
            "sha256": result.sha256,
            "source_sha256": item.record.sha256,
            **result.stats,
        }
        _record_custody(settings, database, actor, [(f"clip:{args.item}", detail)])
    except (ItemUnavailable, DeriveError, RedactionError, KeyFileError, OSError) as exc:
        print(f"cctv-hub: derive failed, nothing written: {exc}", file=sys.stderr)
        return EXIT_FAILED
    finally:
        database.close()
    print(
        f"derived item {result.signed.item_id} ({args.op}) of {args.item} written to {args.out}:"
        f" {result.frames} frames, SHA-256 {result.sha256}"
    )
    return EXIT_OK
