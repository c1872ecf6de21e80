"""The continuity statement (who retrieved what, from which camera, when, with which hashes) and
the per-item audit trail (every custody event of one item), as PDFs for court.

Both are made from the same signed manifests and custody rows that the package carries, so a
reader can match every line to a file in the package.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from cctv_common.clock import iso_utc
from cctv_common.evidence.manifest import Manifest
from hub.exhibits.inputs import CustodyRow, OutsideExhibit, PackageRequest
from hub.exhibits.pdf_document import CourtDocument

_ACTION_WORDS = {
    "dispatch": "retrieval requested from the site",
    "stored": "received, signature and SHA-256 checked, stored",
    "rejected": "offered and refused",
    "view": "viewed",
    "download": "downloaded",
    "export": "exported",
    "hold": "legal hold set",
    "release": "legal hold released",
    "delete": "deleted",
    "reassign": "given to another officer",
    "integrity_failed": "found damaged by the store check",
    "integrity_restored": "matches its SHA-256 again",
    "refused": "access refused",
    "derive": "a working copy made from it at the hub",
    "redact": "a redacted copy made from it at the hub",
    "upload": "uploaded through an upload link, hashed on arrival, stored",
}


def _detail(detail: Any) -> str:
    if not isinstance(detail, Mapping) or not detail:
        return ""
    return json.dumps(detail, sort_keys=True, ensure_ascii=False)[:300]


def _first(rows: Sequence[CustodyRow], action: str) -> CustodyRow | None:
    return next((r for r in rows if r.get("action") == action), None)


def _master_section(
    doc: CourtDocument, reference: str, manifest: Manifest, rows: Sequence[CustodyRow]
) -> None:
    cam = manifest.camera
    doc.heading(f"Exhibit {reference} (master: the recording exactly as retrieved)", size=11)
    doc.field("Clip id", manifest.clip_id)
    doc.field("Site", manifest.site_id)
    doc.field("Camera", f"{cam.id} {cam.name}".strip())
    maker = " ".join(x for x in (cam.manufacturer, cam.model) if x)
    doc.field("Make, serial, firmware", f"{maker} / {cam.serial or '-'} / {cam.firmware or '-'}")
    doc.field(
        "Requested", f"{iso_utc(manifest.requested.start)} to {iso_utc(manifest.requested.end)}"
    )
    doc.field(
        "Delivered", f"{iso_utc(manifest.delivered.start)} to {iso_utc(manifest.delivered.end)}"
    )
    offset = manifest.clock_offset_seconds
    doc.field(
        "Camera clock offset",
        "not reported by the camera" if offset is None else f"{offset:+.3f} s (camera - agent)",
    )
    for gap in manifest.gaps:
        doc.field("Gap", f"{iso_utc(gap.start)} to {iso_utc(gap.end)}: {gap.reason}")
    fps = f", {manifest.fps:g} fps" if manifest.fps else ""
    doc.field("Video", f"{manifest.codec} {manifest.width}x{manifest.height}{fps}")
    if manifest.nvr is not None:
        doc.field("Retrieved from NVR", f"{manifest.nvr.method} {manifest.nvr.address}")
    doc.field("Recorded by", f"{manifest.software.name} {manifest.software.version}")
    doc.field("Signed at the site", f"{iso_utc(manifest.created_at)}, key {manifest.key_id}")
    doc.field("Size", f"{manifest.bytes} bytes")
    doc.field("SHA-256", "")
    doc.mono(manifest.sha256)
    dispatch, stored = _first(rows, "dispatch"), _first(rows, "stored")
    if dispatch is not None:
        doc.field("Retrieval requested", f"{dispatch.get('at')} by {dispatch.get('actor')}")
    if stored is not None:
        doc.field("Stored at the hub", f"{stored.get('at')} by {stored.get('actor')}")
    doc.field("Custody events", f"{len(rows)} (see the audit trail of this exhibit)")
    doc.rule()


def _outside_section(doc: CourtDocument, item: OutsideExhibit) -> None:
    receipt = json.loads(item.receipt)
    statement = item.statement
    doc.heading(
        f"Exhibit {item.reference} (not from a site agent: footage from elsewhere)", size=11
    )
    doc.field("Item", str(receipt.get("item")))
    doc.field("File", f"{item.filename} ({item.media_type}), {receipt.get('size')} bytes")
    doc.field("Uploaded by", f"{statement.get('name', '-')}, {statement.get('organisation', '-')}")
    for key, label in (("footage_from", "Where and when from"), ("obtained", "How obtained")):
        if statement.get(key):
            doc.field(label, str(statement.get(key))[:300])
    doc.field("Declaration", str(statement.get("declaration", "-"))[:300])
    doc.field("Received", f"{receipt.get('received_at')} (upload link {receipt.get('link')})")
    doc.field("SHA-256 (taken on arrival)", "")
    doc.mono(str(receipt.get("sha256")))
    doc.field("Receipt", "signed by the hub key on arrival (receipt.json, receipt.sig)")
    doc.rule()


def continuity_statement(
    request: PackageRequest, masters: Mapping[str, Manifest], hub_key_id: str
) -> bytes:
    doc = CourtDocument(
        f"Continuity statement - export package {request.package_id}",
        f"Package {request.package_id}",
    )
    doc.field("Package", request.package_id)
    doc.field("Footage request", request.request_reference or "-")
    doc.field("Exported by", request.created_by)
    doc.field("Exported at", iso_utc(request.created_at))
    doc.field("Hub", f"{request.hub_id}, signing key {hub_key_id}")
    if request.disclosure:
        doc.heading("Disclosure", size=11)
        for key, value in request.disclosure.items():
            doc.field(str(key), str(value))
    doc.rule()
    for item in request.masters:
        _master_section(doc, item.reference, masters[item.reference], item.custody_rows)
    for derived in request.derived:
        info = json.loads(derived.manifest_bytes)
        operation = info.get("operation", {})
        doc.heading(f"Exhibit {derived.reference} (derived from {derived.derived_from})", size=11)
        doc.field("Operation", f"{operation.get('name')} {_detail(operation.get('parameters'))}")
        doc.field("Made at the hub", f"{info.get('created_at')} by {info.get('created_by')}")
        doc.field("Source SHA-256", "")
        doc.mono(str(info.get("source", {}).get("sha256")))
        doc.field("SHA-256", "")
        doc.mono(str(info.get("sha256")))
        doc.rule()
    for outside in request.outside:
        _outside_section(doc, outside)
    doc.heading("Declaration", size=11)
    doc.text(
        "The master exhibits above are the recordings as the site agent made them, by stream copy"
        " without re-encoding, hashed (SHA-256) and signed (Ed25519) at the site, and checked"
        " against that signature and hash by the hub before it stored them. Derived items are"
        " copies made by the hub from a master; each names its source's SHA-256. Footage from"
        " elsewhere is marked not from a site agent: it is the file exactly as its uploader sent"
        " it, hashed on arrival, with their statement and the receipt the hub signed. Every file in"
        " this package is listed with its SHA-256 in package.json, signed by the hub key above;"
        " VERIFY.txt says how to check them without the hub."
    )
    doc.text("Signed: ______________________   Name: ______________________   Date: __________")
    return doc.bytes()


def audit_trail(reference: str, subject: str, sha256: str, rows: Sequence[CustodyRow]) -> bytes:
    doc = CourtDocument(f"Audit trail - exhibit {reference}", f"Exhibit {reference}")
    doc.field("Exhibit", reference)
    doc.field("Item", subject)
    doc.field("SHA-256", "")
    doc.mono(sha256)
    doc.text(
        "Every custody event the hub recorded for this item, oldest first. Each row carries the"
        " SHA-256 of the row before it in the hub's custody log (a hash chain): changing a row"
        " changes its hash. The rows are in custody.jsonl beside this file."
    )
    doc.rule()
    for row in rows:
        action = str(row.get("action"))
        doc.field(
            f"#{row.get('seq')}  {row.get('at')}",
            f"{row.get('actor')}: {action} ({_ACTION_WORDS.get(action, action)})",
        )
        detail = _detail(row.get("detail"))
        if detail:
            doc.text(detail, size=8)
        doc.mono(f"hash {row.get('hash')}", size=7)
    if not rows:
        doc.text("No custody events were given for this item.")
    return doc.bytes()
