"""The export package of a footage request (issue 12): one zip a CPS reviewer checks without
the hub (``hub.exhibits.package``), made the one way for the API's "Export for court" and for
``cctv-hub exhibit export --request``.

What goes in: every evidence item released for the request (named by its disclosure entries) as
its master exhibit under its exhibit reference, with its custody rows; its derived items that are
ready (``JS/1/W1``, ``JS/1/R1``...), each with the master's custody rows that name it; the
request's disclosure entries; the continuity statement and verifiers. The zip is built whole to
a temporary file (fsynced, renamed) before anyone reads a byte of it; a failure leaves nothing.
Only then is each item's ``export`` custody row written.

``export_to`` blocks (hashing and copying gigabytes): call it from a thread or the CLI;
``aexport`` runs it in a worker thread for the event loop.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any, Final

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from cctv_common.clock import iso_utc
from hub.domain.custody import CustodyAction, CustodyEvent
from hub.domain.derived_items import DerivedItem, DerivedState, derived_references
from hub.domain.records import EvidenceItem
from hub.domain.requests.disclosure import DisclosureEntry
from hub.domain.uploads.records import OutsideItem
from hub.exhibits.inputs import (
    DerivedExhibit,
    ExportError,
    MasterExhibit,
    OutsideExhibit,
    PackageRequest,
)
from hub.exhibits.package import PackageSummary, build_package, new_package_id
from hub.services.exhibit_numbering import number_items_in
from hub.storage.evidence.store import EvidenceStore, StoreError
from hub.storage.ports import HubStorage, UnitOfWork

log = logging.getLogger(__name__)

EXPORT_FOLDER: Final = "exports"
MAX_CUSTODY_ROWS: Final = 100_000


class ExportRefused(Exception):
    """The request cannot be exported as asked; ``status`` is the HTTP status."""

    def __init__(self, message: str, status: int = 409) -> None:
        self.message = message
        self.status = status
        super().__init__(message)


@dataclass(frozen=True)
class ExportSettings:
    data_dir: Path  # temporary packages for download go to data_dir/exports
    hub_id: str
    hub_key: Ed25519PrivateKey
    exhibit_pattern: str
    site_keys: dict[str, str] = field(default_factory=dict)  # site id -> PEM, from the settings
    # With several hub workers on one data_dir: this worker's id (data_dir/exports/<worker>, so
    # a worker starting clears only its own unsent packages).
    worker: str | None = None


@dataclass(frozen=True)
class _Master:
    item: EvidenceItem
    reference: str
    site_key_pem: str
    custody: list[dict[str, Any]]
    derived: list[tuple[DerivedItem, str]]


@dataclass(frozen=True)
class _Outside:
    item: OutsideItem
    reference: str
    custody: list[dict[str, Any]]


@dataclass(frozen=True)
class _Contents:
    masters: list[_Master]
    disclosure: dict[str, Any]
    outside: list[_Outside] = field(default_factory=list)


def disclosure_json(reference: str, entries: list[DisclosureEntry]) -> dict[str, Any]:
    """The request's disclosure log entries as the package's disclosure.json."""
    return {
        "request": reference,
        "entries": [
            {
                "number": e.number,
                "disclosed_at": iso_utc(e.disclosed_at),
                "recipient": e.recipient_name,
                "organisation": e.recipient_organisation,
                "also_to": list(e.also_to),
                "purpose": e.purpose,
                "lawful_basis": e.lawful_basis.value,
                "lawful_basis_label": e.lawful_basis.label,
                "disclosed_by": e.disclosed_by,
                "items": [
                    {
                        "clip_id": i.item_id,
                        "sha256": i.sha256,
                        "camera": i.camera,
                        "start": iso_utc(i.window.start),
                        "end": iso_utc(i.window.end),
                    }
                    for i in e.items
                ],
            }
            for e in entries
        ],
    }


def _rows_naming(rows: list[CustodyEvent], derived_id: str) -> list[dict[str, Any]]:
    return [r.as_dict() for r in rows if r.detail.get("derived_id") == derived_id]


class ExhibitExport:
    def __init__(
        self,
        storage: HubStorage,
        store: EvidenceStore,
        settings: ExportSettings,
        *,
        now: Callable[[], datetime],
    ) -> None:
        self._storage = storage
        self._store = store
        self._settings = settings
        self._now = now

    @property
    def folder(self) -> Path:
        folder = self._settings.data_dir / EXPORT_FOLDER
        return folder / self._settings.worker if self._settings.worker else folder

    async def start(self) -> None:
        """Remove packages a stopped hub left unsent."""
        await asyncio.to_thread(shutil.rmtree, self.folder, True)

    async def aexport(self, reference: str, by: str) -> tuple[Path, PackageSummary]:
        """Build the package in a worker thread into a new private file under
        ``data_dir/exports``; the caller sends it and removes it."""
        name = f".{reference}-{secrets.token_hex(8)}.zip"
        destination = self.folder / name
        summary = await asyncio.to_thread(self.export_to, reference, by, destination)
        return destination, summary

    def export_to(self, reference: str, by: str, destination: Path) -> PackageSummary:
        """Write the request's package to ``destination`` (blocking); ``ExportRefused`` if it
        cannot be made, with nothing left behind."""
        self._settings.data_dir.mkdir(parents=True, exist_ok=True)
        destination.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        contents = self._storage.write(lambda uow: self._contents_in(uow, reference))
        now = self._now()
        request = PackageRequest(
            package_id=new_package_id(now),
            created_by=by,
            created_at=now,
            hub_id=self._settings.hub_id,
            hub_key=self._settings.hub_key,
            masters=[self._master_input(m) for m in contents.masters],
            derived=[d for m in contents.masters for d in self._derived_inputs(m)],
            outside=[self._outside_input(o) for o in contents.outside],
            disclosure=contents.disclosure,
            request_reference=reference,
        )
        try:
            summary = build_package(request, destination)
        except (ExportError, StoreError, OSError) as exc:
            log.warning("request %s: export by %s failed: %s", reference, by, exc)
            raise ExportRefused(f"the package for {reference} cannot be made: {exc}") from exc
        try:
            self._storage.write(lambda uow: self._record_in(uow, reference, by, contents, summary))
        except BaseException:
            destination.unlink(missing_ok=True)
            raise
        log.info(
            "request %s exported by %s: package %s, %d exhibits, package.json SHA-256 %s",
            reference,
            by,
            summary.package_id,
            len(summary.exhibits),
            summary.manifest_sha256,
        )
        return summary

    def _contents_in(self, uow: UnitOfWork, reference: str) -> _Contents:
        record = uow.requests.get(reference)
        if record is None:
            raise ExportRefused(f"there is no request {reference}", 404)
        entries = uow.disclosures.entries(reference)
        clip_ids: list[str] = []
        for entry in entries:
            clip_ids += [i.item_id for i in entry.items if i.item_id not in clip_ids]
        if not clip_ids:
            raise ExportRefused(f"request {reference} has not been released: nothing to export")
        # Footage from elsewhere that had arrived by the release went with it.
        released_at = record.released_at or entries[0].disclosed_at
        outside = [
            o
            for o in uow.outside_items.for_request(reference)
            if o.deleted_at is None and o.uploaded_at <= released_at
        ]
        # Items released before exhibit numbering was kept are numbered now, by their releaser.
        refs = number_items_in(
            uow,
            pattern=self._settings.exhibit_pattern,
            request=reference,
            clip_ids=clip_ids + [o.id for o in outside],
            producer=entries[0].disclosed_by,
            now=self._now(),
        )
        derived = uow.derived.of_clips(clip_ids)
        masters = []
        for clip_id in clip_ids:
            item = uow.evidence.get(clip_id)
            if item is None or item.deleted_at is not None:
                continue  # deleted under the retention rules: it is no longer evidence here
            site = uow.sites.get(item.site_id)
            pem = site.public_key_pem if site is not None else None
            pem = pem or self._settings.site_keys.get(item.site_id)
            if pem is None:
                raise ExportRefused(f"no public key for site {item.site_id} of item {clip_id}")
            rows = uow.custody.after([f"clip:{clip_id}", f"job:{item.job_id}"], 0, MAX_CUSTODY_ROWS)
            own = [
                d
                for d in derived
                if d.clip_id == clip_id and d.state is DerivedState.READY and d.deleted_at is None
            ]
            masters.append(
                _Master(
                    item=item,
                    reference=refs[clip_id],
                    site_key_pem=pem,
                    custody=[r.as_dict() for r in rows],
                    derived=derived_references(refs[clip_id], own),
                )
            )
        if not masters:
            raise ExportRefused(f"every item released for {reference} has been deleted", 410)
        disclosure = disclosure_json(reference, entries)
        disclosure["outside_items"] = [
            {"item_id": o.id, "exhibit": refs[o.id], "sha256": o.sha256, "source": o.source}
            for o in outside
        ]
        kept = [
            _Outside(
                o,
                refs[o.id],
                [r.as_dict() for r in uow.custody.after([f"outside:{o.id}"], 0, MAX_CUSTODY_ROWS)],
            )
            for o in outside
        ]
        return _Contents(masters, disclosure, kept)

    def _outside_input(self, outside: _Outside) -> OutsideExhibit:
        item = outside.item
        return OutsideExhibit(
            reference=outside.reference,
            open=partial(self._store.open, item.store_key),
            filename=item.filename,
            media_type=item.media_type,
            statement=item.statement,
            receipt=item.receipt,
            receipt_signature=item.receipt_signature,
            custody_rows=outside.custody,
        )

    def _master_input(self, master: _Master) -> MasterExhibit:
        key = master.item.store_key
        return MasterExhibit(
            reference=master.reference,
            open=lambda: self._store.open(key),
            manifest_bytes=master.item.manifest.encode("utf-8"),
            signature=master.item.signature,
            site_public_key_pem=master.site_key_pem,
            custody_rows=master.custody,
        )

    def _derived_inputs(self, master: _Master) -> list[DerivedExhibit]:
        rows = [CustodyEvent(**row) for row in master.custody]
        out = []
        for item, reference in master.derived:
            if item.sha256 is None or item.manifest is None or item.signature is None:
                continue
            key = item.sha256
            out.append(
                DerivedExhibit(
                    reference=reference,
                    derived_from=master.reference,
                    open=lambda key=key: self._store.open(key),  # type: ignore[misc]
                    manifest_bytes=item.manifest,
                    signature=item.signature,
                    custody_rows=_rows_naming(rows, item.id),
                )
            )
        return out

    def _record_in(
        self,
        uow: UnitOfWork,
        reference: str,
        by: str,
        contents: _Contents,
        summary: PackageSummary,
    ) -> None:
        now = self._now()
        for master in contents.masters:
            uow.custody.append(
                by,
                CustodyAction.EXPORT,
                f"clip:{master.item.clip_id}",
                {
                    "package_id": summary.package_id,
                    "package_manifest_sha256": summary.manifest_sha256,
                    "request": reference,
                    "exhibit": master.reference,
                    "derived": {item.id: ref for item, ref in master.derived},
                    "file": f"{summary.package_id}.zip",
                },
                at=now,
            )
        for outside in contents.outside:
            uow.custody.append(
                by,
                CustodyAction.EXPORT,
                f"outside:{outside.item.id}",
                {
                    "package_id": summary.package_id,
                    "package_manifest_sha256": summary.manifest_sha256,
                    "request": reference,
                    "exhibit": outside.reference,
                    "file": f"{summary.package_id}.zip",
                },
                at=now,
            )


def remove_quietly(path: Path) -> None:
    """Remove a sent (or unsent) temporary package."""
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    except OSError as exc:
        log.error("cannot remove the temporary export package %s: %s", path, exc)
