"""Build an export package: one zip that a CPS reviewer can check without the hub.

Layout (under one folder named after the package)::

    package.json, package.sig      the package manifest (every file, its size and SHA-256;
                                   the exhibits) and its Ed25519 signature by the hub key
    hub_key.pem                    the hub's public key
    VERIFY.txt, verify.py, verify.html
    continuity_statement.pdf, disclosure.json
    exhibits/<REF>/clip.mp4        a master exactly as stored (or derived.mp4 for a derived item)
    exhibits/<REF>/manifest.json   exactly the bytes that were signed, and manifest.sig
    exhibits/<REF>/site_key.pem    the site's public key (masters)
    exhibits/<REF>/custody.jsonl   the item's custody rows, one canonical JSON row a line
    exhibits/<REF>/audit_trail.pdf
    exhibits/<REF>/file.<ext>      footage from elsewhere, exactly as uploaded, with its
                                   statement.json and receipt.json + receipt.sig (hub-signed)

Each master is hashed as it is copied and must match its signed manifest, else the export fails
and names it (a damaged master is never shipped as if it were good).
"""

from __future__ import annotations

import re
import secrets
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from importlib import resources
from pathlib import Path
from typing import Any, Final

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from cctv_common.clock import iso_utc
from cctv_common.evidence import offline_verify
from cctv_common.evidence.manifest import Manifest, canonical_json
from cctv_common.evidence.signing import (
    BadSignature,
    key_id,
    load_public_key,
    public_key_pem,
    sign,
    verify,
)
from cctv_common.evidence.verify import EvidenceMismatch, verify_signed_manifest
from hub.exhibits.continuity import audit_trail, continuity_statement
from hub.exhibits.inputs import (
    CustodyRow,
    DerivedExhibit,
    ExportError,
    MasterExhibit,
    OutsideExhibit,
    PackageRequest,
    check_reference,
)
from hub.exhibits.package_zip import PackageZip, package_zip
from hub.exhibits.verify_text import verify_text

PACKAGE_FORMAT: Final = offline_verify.PACKAGE_FORMAT
HUB_KEY_FILE: Final = "hub_key.pem"
OUTSIDE_SOURCE: Final = offline_verify.OUTSIDE_SOURCE
_EXTENSIONS: Final = {
    "video/mp4": "mp4",
    "video/quicktime": "mov",
    "video/x-matroska": "mkv",
    "video/x-msvideo": "avi",
    "video/mp2t": "ts",
    "image/jpeg": "jpg",
    "image/png": "png",
    "image/heic": "heic",
}


@dataclass(frozen=True)
class PackageSummary:
    path: Path
    package_id: str
    manifest_sha256: str  # SHA-256 of package.json: names this package in custody rows
    files: int
    exhibits: tuple[str, ...]


def new_package_id(when: datetime) -> str:
    return f"EXP-{when:%Y%m%d-%H%M%S}-{secrets.token_hex(3)}"


def folder_for(reference: str) -> str:
    return "exhibits/" + re.sub(r"[^A-Za-z0-9._-]+", "-", reference).strip("-.")


def custody_jsonl(rows: list[CustodyRow] | tuple[CustodyRow, ...]) -> bytes:
    return b"".join(canonical_json(dict(row)) + b"\n" for row in rows)


def _asset(name: str) -> bytes:
    return (resources.files("hub.exhibits") / "assets" / name).read_bytes()


def _verifier_source() -> bytes:
    return Path(offline_verify.__file__).read_bytes()


def _check_master(item: MasterExhibit) -> Manifest:
    try:
        return verify_signed_manifest(
            item.manifest_bytes, item.signature, load_public_key(item.site_public_key_pem)
        )
    except (EvidenceMismatch, ValueError) as exc:
        raise ExportError(f"exhibit {item.reference}: its manifest does not verify: {exc}") from exc


def _folders(request: PackageRequest) -> dict[str, str]:
    folders: dict[str, str] = {}
    refs = [m.reference for m in request.masters] + [d.reference for d in request.derived]
    for ref in refs + [o.reference for o in request.outside]:
        folder = folder_for(check_reference(ref))
        if folder in folders.values() or ref in folders:
            raise ExportError(f"exhibit reference {ref!r} is given twice (or to the same folder)")
        folders[ref] = folder
    return folders


def _add_master(
    out: PackageZip, item: MasterExhibit, manifest: Manifest, folder: str, trail: Future[bytes]
) -> dict[str, Any]:
    with item.open() as source:
        digest, size = out.add_stream(f"{folder}/clip.mp4", source)
    if digest != manifest.sha256 or size != manifest.bytes:
        raise ExportError(
            f"exhibit {item.reference}: the stored clip is {size} bytes with SHA-256 {digest};"
            f" its signed manifest says {manifest.bytes} bytes, {manifest.sha256}. Not exported."
        )
    out.add_bytes(f"{folder}/manifest.json", item.manifest_bytes)
    out.add_bytes(f"{folder}/manifest.sig", item.signature.encode("ascii") + b"\n")
    out.add_bytes(f"{folder}/site_key.pem", item.site_public_key_pem.encode("ascii"))
    out.add_bytes(f"{folder}/custody.jsonl", custody_jsonl(tuple(item.custody_rows)))
    out.add_bytes(f"{folder}/audit_trail.pdf", trail.result())
    return {
        "reference": item.reference,
        "kind": "master",
        "clip": f"{folder}/clip.mp4",
        "manifest": f"{folder}/manifest.json",
        "signature": f"{folder}/manifest.sig",
        "key": f"{folder}/site_key.pem",
        "custody": f"{folder}/custody.jsonl",
        "audit_trail": f"{folder}/audit_trail.pdf",
        "sha256": digest,
    }


def _check_derived(item: DerivedExhibit, hub_key: Ed25519PrivateKey) -> None:
    """The derived item's manifest must be one this hub signed."""
    try:
        verify(hub_key.public_key(), item.manifest_bytes, item.signature)
        offline_verify.json_object(item.manifest_bytes, "its manifest")
    except (BadSignature, offline_verify.CheckFailed) as exc:
        raise ExportError(f"exhibit {item.reference}: {exc} (hub key {key_id(hub_key)})") from exc


def _add_derived(out: PackageZip, item: DerivedExhibit, folder: str) -> dict[str, Any]:
    info = offline_verify.json_object(item.manifest_bytes, f"exhibit {item.reference} manifest")
    with item.open() as source:
        digest, size = out.add_stream(f"{folder}/derived.mp4", source)
    if digest != info.get("sha256") or size != info.get("bytes"):
        raise ExportError(
            f"exhibit {item.reference}: the derived file is {size} bytes with SHA-256 {digest};"
            f" its manifest says {info.get('bytes')} bytes, {info.get('sha256')}. Not exported."
        )
    out.add_bytes(f"{folder}/manifest.json", item.manifest_bytes)
    out.add_bytes(f"{folder}/manifest.sig", item.signature.encode("ascii") + b"\n")
    out.add_bytes(f"{folder}/custody.jsonl", custody_jsonl(tuple(item.custody_rows)))
    trail = audit_trail(item.reference, str(info.get("item_id")), digest, item.custody_rows)
    out.add_bytes(f"{folder}/audit_trail.pdf", trail)
    return {
        "reference": item.reference,
        "kind": "derived",
        "derived_from": item.derived_from,
        "clip": f"{folder}/derived.mp4",
        "manifest": f"{folder}/manifest.json",
        "signature": f"{folder}/manifest.sig",
        "custody": f"{folder}/custody.jsonl",
        "audit_trail": f"{folder}/audit_trail.pdf",
        "sha256": digest,
    }


def _check_outside(item: OutsideExhibit, hub_key: Ed25519PrivateKey) -> dict[str, Any]:
    """The receipt must be one this hub signed, for footage not from a site agent."""
    try:
        verify(hub_key.public_key(), item.receipt, item.receipt_signature)
        receipt = offline_verify.json_object(item.receipt, "its receipt")
    except (BadSignature, offline_verify.CheckFailed) as exc:
        raise ExportError(f"exhibit {item.reference}: {exc} (hub key {key_id(hub_key)})") from exc
    if receipt.get("source") != OUTSIDE_SOURCE:
        raise ExportError(f"exhibit {item.reference}: its receipt is not for outside footage")
    return receipt


def _add_outside(
    out: PackageZip, item: OutsideExhibit, receipt: dict[str, Any], folder: str
) -> dict[str, Any]:
    name = f"{folder}/file.{_EXTENSIONS.get(item.media_type, 'bin')}"
    with item.open() as source:
        digest, size = out.add_stream(name, source)
    if digest != receipt.get("sha256") or size != receipt.get("size"):
        raise ExportError(
            f"exhibit {item.reference}: the stored file is {size} bytes with SHA-256 {digest};"
            f" the hub's receipt says {receipt.get('size')} bytes, {receipt.get('sha256')}."
            " Not exported."
        )
    out.add_bytes(f"{folder}/statement.json", canonical_json(dict(item.statement)) + b"\n")
    out.add_bytes(f"{folder}/receipt.json", item.receipt)
    out.add_bytes(f"{folder}/receipt.sig", item.receipt_signature.encode("ascii") + b"\n")
    out.add_bytes(f"{folder}/custody.jsonl", custody_jsonl(tuple(item.custody_rows)))
    trail = audit_trail(item.reference, f"outside:{receipt.get('item')}", digest, item.custody_rows)
    out.add_bytes(f"{folder}/audit_trail.pdf", trail)
    return {
        "reference": item.reference,
        "kind": "outside",
        "source": OUTSIDE_SOURCE,
        "filename": item.filename,
        "media_type": item.media_type,
        "clip": name,
        "statement": f"{folder}/statement.json",
        "manifest": f"{folder}/receipt.json",
        "signature": f"{folder}/receipt.sig",
        "custody": f"{folder}/custody.jsonl",
        "audit_trail": f"{folder}/audit_trail.pdf",
        "sha256": digest,
    }


def build_package(request: PackageRequest, destination: Path) -> PackageSummary:
    """Write the package zip to ``destination``; raises ExportError (leaving nothing) on failure."""
    if not request.masters:
        raise ExportError("an export package needs at least one master exhibit")
    folders = _folders(request)
    masters = {m.reference: _check_master(m) for m in request.masters}
    for derived in request.derived:
        _check_derived(derived, request.hub_key)
        if derived.derived_from not in masters:
            raise ExportError(
                f"exhibit {derived.reference} is derived from {derived.derived_from},"
                " which is not in the package"
            )
    receipts = {o.reference: _check_outside(o, request.hub_key) for o in request.outside}
    hub_key_id = key_id(request.hub_key)
    exhibits: list[dict[str, Any]] = []
    # The PDFs (pure Python, CPU) are drawn in a worker thread while the masters are copied
    # (I/O and hashing, which release the GIL); a PDF is only written once its master matched.
    with (
        ThreadPoolExecutor(max_workers=1, thread_name_prefix="export-pdf") as pdfs,
        package_zip(destination, request.package_id, request.created_at) as out,
    ):
        trails = {
            m.reference: pdfs.submit(
                audit_trail,
                m.reference,
                f"clip:{masters[m.reference].clip_id}",
                masters[m.reference].sha256,
                m.custody_rows,
            )
            for m in request.masters
        }
        statement = pdfs.submit(continuity_statement, request, masters, hub_key_id)
        out.add_bytes(HUB_KEY_FILE, public_key_pem(request.hub_key).encode("ascii"))
        for master in request.masters:
            ref = master.reference
            exhibits.append(_add_master(out, master, masters[ref], folders[ref], trails[ref]))
        for derived in request.derived:
            exhibits.append(_add_derived(out, derived, folders[derived.reference]))
        for outside in request.outside:
            ref = outside.reference
            exhibits.append(_add_outside(out, outside, receipts[ref], folders[ref]))
        out.add_bytes("disclosure.json", canonical_json(dict(request.disclosure)) + b"\n")
        out.add_bytes("continuity_statement.pdf", statement.result())
        out.add_bytes("verify.py", _verifier_source())
        out.add_bytes("verify.html", _asset("verify.html"))
        out.add_bytes("VERIFY.txt", verify_text(request, exhibits, hub_key_id).encode("utf-8"))
        package = {
            "format": PACKAGE_FORMAT,
            "package_id": request.package_id,
            "request": request.request_reference,
            "created_at": iso_utc(request.created_at),
            "created_by": request.created_by,
            "hub_id": request.hub_id,
            "hub_key_id": hub_key_id,
            "hub_key_file": HUB_KEY_FILE,
            "exhibits": exhibits,
            "files": out.files,
        }
        manifest_bytes = canonical_json(package)
        manifest_sha = out.add_bytes(offline_verify.PACKAGE_MANIFEST, manifest_bytes, listed=False)
        signature = sign(request.hub_key, manifest_bytes).encode("ascii") + b"\n"
        out.add_bytes(offline_verify.PACKAGE_SIGNATURE, signature, listed=False)
        files = len(out.files) + 2
    return PackageSummary(
        destination,
        request.package_id,
        manifest_sha,
        files,
        tuple(e["reference"] for e in exhibits),
    )
