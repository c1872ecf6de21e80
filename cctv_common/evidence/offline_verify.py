"""Check an exported evidence package with nothing but Python 3.11 (no hub, no install).

Usage: ``python3 verify.py PACKAGE`` where PACKAGE is the zip or the folder it was unzipped to.
Optional ``--hub-key-id ID``: the hub key id published by the force, checked against the package.

This one file is copied into every package as ``verify.py``; it imports only the standard
library (Ed25519 in pure Python, after RFC 8032 section 6). It checks: 1. ``package.json`` is
signed (``package.sig``) by the hub key in ``hub_key.pem`` whose id it names; 2. every file it
lists is there with that size and SHA-256, and no other file; 3. every exhibit's manifest is
signed by its key (the site's for a master, the hub's for a derived item), names that key's id
and the file's SHA-256; a derived item names its source's SHA-256 (checked against the master);
footage "not from a site agent" has the receipt the hub signed on arrival, naming the file's
SHA-256 and the uploader's statement (``statement.json``); 4. every custody row's hash is the
SHA-256 of its other fields (canonical JSON); rows ascend by ``seq``; consecutive rows chain.

It prints a PASS or FAIL line for each check, naming the file, exhibit or custody row; the exit
status is 0 when everything passes, 1 when anything fails, 2 when PACKAGE cannot be read at all.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import hashlib
import json
import re
import sys
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import IO, Any, Final

PACKAGE_FORMAT: Final = "cctv-export-package/1"
PACKAGE_MANIFEST: Final = "package.json"
PACKAGE_SIGNATURE: Final = "package.sig"
OUTSIDE_SOURCE: Final = "not from a site agent"
HASH_BLOCK: Final = 1024 * 1024
MAX_SMALL_FILE: Final = 16 * 1024 * 1024  # manifests, keys, custody rows: read whole
_SPKI_ED25519_PREFIX: Final = bytes.fromhex("302a300506032b6570032100")

# --- Ed25519 verification (RFC 8032, section 6, pure Python) -----------------------------

_P: Final = 2**255 - 19
_Q: Final = 2**252 + 27742317777372353535851937790883648493
_D: Final = -121665 * pow(121666, _P - 2, _P) % _P
_SQRT_M1: Final = pow(2, (_P - 1) // 4, _P)
_Point = tuple[int, int, int, int]


def _add(a: _Point, b: _Point) -> _Point:
    aa = (a[1] - a[0]) * (b[1] - b[0]) % _P
    bb = (a[1] + a[0]) * (b[1] + b[0]) % _P
    cc = 2 * a[3] * b[3] * _D % _P
    dd = 2 * a[2] * b[2] % _P
    e, f, g, h = bb - aa, dd - cc, dd + cc, bb + aa
    return (e * f % _P, g * h % _P, f * g % _P, e * h % _P)


def _mul(scalar: int, point: _Point) -> _Point:
    result: _Point = (0, 1, 1, 0)
    while scalar > 0:
        if scalar & 1:
            result = _add(result, point)
        point = _add(point, point)
        scalar >>= 1
    return result


def _equal(a: _Point, b: _Point) -> bool:
    return (a[0] * b[2] - b[0] * a[2]) % _P == 0 and (a[1] * b[2] - b[1] * a[2]) % _P == 0


def _recover_x(y: int, sign: int) -> int | None:
    if y >= _P:
        return None
    x2 = (y * y - 1) * pow(_D * y * y + 1, _P - 2, _P) % _P
    if x2 == 0:
        return None if sign else 0
    x = pow(x2, (_P + 3) // 8, _P)
    if (x * x - x2) % _P != 0:
        x = x * _SQRT_M1 % _P
    if (x * x - x2) % _P != 0:
        return None
    return _P - x if (x & 1) != sign else x


def _decompress(data: bytes) -> _Point | None:
    y = int.from_bytes(data, "little")
    sign, y = y >> 255, y & ((1 << 255) - 1)
    x = _recover_x(y, sign)
    return None if x is None else (x, y, 1, x * y % _P)


_GY: Final = 4 * pow(5, _P - 2, _P) % _P
_GX: Final = _recover_x(_GY, 0) or 0
_G: Final = (_GX, _GY, 1, _GX * _GY % _P)


def ed25519_verify(public_key: bytes, message: bytes, signature: bytes) -> bool:
    """True when ``signature`` is a valid Ed25519 signature of ``message`` by ``public_key``."""
    if len(public_key) != 32 or len(signature) != 64:
        return False
    a = _decompress(public_key)
    r = _decompress(signature[:32])
    if a is None or r is None:
        return False
    s = int.from_bytes(signature[32:], "little")
    if s >= _Q:
        return False
    h = int.from_bytes(hashlib.sha512(signature[:32] + public_key + message).digest(), "little")
    return _equal(_mul(s, _G), _add(r, _mul(h % _Q, a)))


# --- keys, signatures, canonical JSON -------------------------------------------------------


class CheckFailed(Exception):
    """One check did not pass; the message says why."""


def raw_public_key(pem: bytes) -> bytes:
    """The 32-byte Ed25519 key in a PEM SubjectPublicKeyInfo."""
    text = pem.decode("ascii", errors="replace")
    match = re.search(r"-----BEGIN PUBLIC KEY-----(.*?)-----END PUBLIC KEY-----", text, re.S)
    if match is None:
        raise CheckFailed("not a PEM public key")
    try:
        der = base64.b64decode("".join(match.group(1).split()), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise CheckFailed("the PEM public key is not base64") from exc
    if len(der) != 44 or not der.startswith(_SPKI_ED25519_PREFIX):
        raise CheckFailed("the public key is not an Ed25519 key")
    return der[12:]


def key_id(raw_key: bytes) -> str:
    return hashlib.sha256(raw_key).hexdigest()[:16]


def check_signature(raw_key: bytes, data: bytes, signature_text: bytes) -> None:
    try:
        signature = base64.b64decode(signature_text.strip(), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise CheckFailed("signature is not base64") from exc
    if not ed25519_verify(raw_key, data, signature):
        raise CheckFailed(f"signature does not match the bytes and key {key_id(raw_key)}")


def canonical_json(value: Any) -> bytes:
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def json_object(data: bytes, what: str) -> dict[str, Any]:
    try:
        value = json.loads(data.decode("utf-8"))
    except (ValueError, RecursionError) as exc:
        raise CheckFailed(f"{what} is not UTF-8 JSON: {str(exc)[:120]}") from exc
    if not isinstance(value, dict):
        raise CheckFailed(f"{what} is not a JSON object")
    return value


# --- where the package is: a zip or a folder -------------------------------------------------


class PackageSource:
    """The files of a package by relative POSIX path, from a zip or an unzipped folder."""

    def __init__(self, names: list[str], opener: Callable[[str], IO[bytes]], where: str) -> None:
        self.names = names
        self._open = opener
        self.where = where

    def open(self, name: str) -> IO[bytes]:
        return self._open(name)

    def read_small(self, name: str) -> bytes:
        with self.open(name) as handle:
            data = handle.read(MAX_SMALL_FILE + 1)
        if len(data) > MAX_SMALL_FILE:
            raise CheckFailed(f"{name} is over {MAX_SMALL_FILE} bytes")
        return data


def open_package(path: Path) -> PackageSource:
    """The package at ``path``: its zip, or its folder (or a folder holding just that folder)."""
    if path.is_file():
        return _zip_source(path)
    if not path.is_dir():
        raise CheckFailed(f"{path} is neither a zip nor a folder")
    root = path
    if not (root / PACKAGE_MANIFEST).is_file():
        inner = [p for p in path.iterdir() if p.is_dir() and (p / PACKAGE_MANIFEST).is_file()]
        if len(inner) != 1:
            raise CheckFailed(f"no {PACKAGE_MANIFEST} in {path}")
        root = inner[0]
    names = sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if not p.is_dir())
    return PackageSource(names, lambda name: (root / name).open("rb"), str(root))


def _zip_source(path: Path) -> PackageSource:
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise CheckFailed(f"{path} is not a readable zip: {exc}") from exc
    entries = [i.filename for i in archive.infolist() if not i.is_dir()]
    if len(set(entries)) != len(entries):
        raise CheckFailed(f"{path} holds two entries of the same name")
    tops = {n.split("/", 1)[0] for n in entries}
    prefix = ""
    if PACKAGE_MANIFEST not in entries and len(tops) == 1:
        prefix = f"{next(iter(tops))}/"
    names = sorted(n[len(prefix) :] for n in entries if n.startswith(prefix))
    return PackageSource(names, lambda name: archive.open(prefix + name), str(path))


# --- the checks -------------------------------------------------------------------------------


@dataclass
class Report:
    lines: list[tuple[bool, str]] = field(default_factory=list)

    def passed(self, text: str) -> None:
        self.lines.append((True, text))

    def failed(self, text: str) -> None:
        self.lines.append((False, text))

    @property
    def ok(self) -> bool:
        return bool(self.lines) and all(ok for ok, _ in self.lines)

    def failures(self) -> list[str]:
        return [text for ok, text in self.lines if not ok]


def _safe_name(name: object) -> str:
    if not isinstance(name, str) or not name:
        raise CheckFailed(f"file name {name!r} is not text")
    pure = PurePosixPath(name)
    if pure.is_absolute() or ".." in pure.parts or "\\" in name:
        raise CheckFailed(f"file name {name!r} leaves the package")
    return name


def _hash(source: PackageSource, name: str) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    with source.open(name) as handle:
        while block := handle.read(HASH_BLOCK):
            digest.update(block)
            size += len(block)
    return digest.hexdigest(), size


def _check_package_signature(
    source: PackageSource, report: Report, pinned_key_id: str | None
) -> tuple[dict[str, Any], bytes]:
    data = source.read_small(PACKAGE_MANIFEST)
    package = json_object(data, PACKAGE_MANIFEST)
    if package.get("format") != PACKAGE_FORMAT:
        raise CheckFailed(f"{PACKAGE_MANIFEST} is not a {PACKAGE_FORMAT} manifest")
    hub_key_file = _safe_name(package.get("hub_key_file"))
    hub_key = raw_public_key(source.read_small(hub_key_file))
    if package.get("hub_key_id") != key_id(hub_key):
        raise CheckFailed(
            f"{PACKAGE_MANIFEST} names hub key {package.get('hub_key_id')!r};"
            f" {hub_key_file} is key {key_id(hub_key)}"
        )
    if pinned_key_id is not None and pinned_key_id != key_id(hub_key):
        raise CheckFailed(
            f"the package is signed by hub key {key_id(hub_key)}, not {pinned_key_id}"
        )
    check_signature(hub_key, data, source.read_small(PACKAGE_SIGNATURE))
    report.passed(
        f"package manifest signed by hub key {key_id(hub_key)} (hub {package.get('hub_id')},"
        f" package {package.get('package_id')}, made {package.get('created_at')}"
        f" by {package.get('created_by')})"
    )
    return package, hub_key


def _check_files(source: PackageSource, package: dict[str, Any], report: Report) -> dict[str, str]:
    """Hash every listed file; the SHA-256 of each one that matches, by name."""
    listed = package.get("files")
    if not isinstance(listed, list):
        raise CheckFailed(f"{PACKAGE_MANIFEST} has no file list")
    good: dict[str, str] = {}
    present = set(source.names)
    seen: set[str] = set()
    for entry in listed:
        try:
            if not isinstance(entry, dict):
                raise CheckFailed("file entry is not an object")
            name = _safe_name(entry.get("path"))
            seen.add(name)
            if name not in present:
                raise CheckFailed(f"file {name}: missing")
            try:
                digest, size = _hash(source, name)
            except (OSError, zipfile.BadZipFile) as exc:
                raise CheckFailed(f"file {name}: cannot be read: {exc}") from exc
            if size != entry.get("bytes"):
                raise CheckFailed(
                    f"file {name}: {size} bytes, the package says {entry.get('bytes')}"
                )
            if digest != entry.get("sha256"):
                raise CheckFailed(
                    f"file {name}: SHA-256 {digest}, the package says {entry.get('sha256')}"
                )
        except CheckFailed as exc:
            report.failed(str(exc))
            continue
        good[name] = digest
        report.passed(f"file {name}: {size} bytes, SHA-256 {digest}")
    for name in sorted(present - seen - {PACKAGE_MANIFEST, PACKAGE_SIGNATURE}):
        report.failed(f"file {name}: in the package but not in its manifest")
    return good


def _signed(
    source: PackageSource, exhibit: dict[str, Any], key: bytes
) -> tuple[str, dict[str, Any]]:
    """An exhibit's manifest (or receipt), its signature by ``key`` checked."""
    name = _safe_name(exhibit.get("manifest"))
    data = source.read_small(name)
    try:
        check_signature(key, data, source.read_small(_safe_name(exhibit.get("signature"))))
    except CheckFailed as exc:
        raise CheckFailed(f"{name}: {exc}") from exc
    return name, json_object(data, name)


def _file_matches(exhibit: dict[str, Any], hashes: dict[str, str], stated: Any, by: str) -> str:
    clip_name = _safe_name(exhibit.get("clip"))
    if clip_name not in hashes:
        raise CheckFailed(f"{clip_name} did not pass its file check")
    if stated != hashes[clip_name]:
        raise CheckFailed(f"{clip_name} has SHA-256 {hashes[clip_name]}; its {by} says {stated}")
    return hashes[clip_name]


def _check_outside(
    source: PackageSource, exhibit: dict[str, Any], hashes: dict[str, str], hub_key: bytes
) -> str:
    """Footage from elsewhere: its receipt, signed by the hub key, names the file and statement."""
    name, receipt = _signed(source, exhibit, hub_key)
    statement = json_object(source.read_small(_safe_name(exhibit.get("statement"))), "statement")
    if receipt.get("source") != OUTSIDE_SOURCE or exhibit.get("source") != OUTSIDE_SOURCE:
        raise CheckFailed(f"{name} is not marked {OUTSIDE_SOURCE!r}")
    if canonical_json(statement) != canonical_json(receipt.get("statement")):
        raise CheckFailed(f"{exhibit.get('statement')} is not the statement the receipt names")
    digest = _file_matches(exhibit, hashes, receipt.get("sha256"), "receipt")
    return (
        f"exhibit {exhibit.get('reference')}: {OUTSIDE_SOURCE}, {receipt.get('filename')} from"
        f" {statement.get('name')} ({statement.get('organisation')}), received"
        f" {receipt.get('received_at')}, SHA-256 {digest}, receipt signed by hub key"
        f" {key_id(hub_key)}"
    )


def _check_exhibit(
    source: PackageSource,
    exhibit: dict[str, Any],
    hashes: dict[str, str],
    masters: dict[str, str],
    hub_key: bytes,
) -> str:
    if exhibit.get("kind") == "outside":
        return _check_outside(source, exhibit, hashes, hub_key)
    ref = exhibit.get("reference")
    derived = exhibit.get("kind") == "derived"
    key = hub_key if derived else raw_public_key(source.read_small(_safe_name(exhibit.get("key"))))
    manifest_name, manifest = _signed(source, exhibit, key)
    if manifest.get("key_id") != key_id(key):
        raise CheckFailed(
            f"{manifest_name} names key {manifest.get('key_id')!r}, signed by {key_id(key)}"
        )
    digest = _file_matches(exhibit, hashes, manifest.get("sha256"), "manifest")
    if derived:
        source_part = manifest.get("source")
        source_sha = source_part.get("sha256") if isinstance(source_part, dict) else None
        from_ref = exhibit.get("derived_from")
        if from_ref in masters and masters[from_ref] != source_sha:
            raise CheckFailed(
                f"{manifest_name} names source SHA-256 {source_sha}; exhibit {from_ref}"
                f" is {masters[from_ref]}"
            )
        operation = manifest.get("operation", {})
        name = operation.get("name") if isinstance(operation, dict) else None
        return (
            f"exhibit {ref}: derived item ({name}) of {from_ref}, source SHA-256 {source_sha},"
            f" SHA-256 {digest}, manifest signed by hub key {key_id(key)}"
        )
    masters[str(ref)] = digest
    camera = manifest.get("camera", {}) if isinstance(manifest.get("camera"), dict) else {}
    window = manifest.get("delivered", {}) if isinstance(manifest.get("delivered"), dict) else {}
    return (
        f"exhibit {ref}: clip {manifest.get('clip_id')} from site {manifest.get('site_id')}"
        f" camera {camera.get('id')}, {window.get('start')} to {window.get('end')},"
        f" SHA-256 {digest}, manifest signed by site key {key_id(key)}"
    )


def custody_rows(data: bytes, what: str) -> Iterator[tuple[int, dict[str, Any], bytes]]:
    """Each row of a custody file (JSON Lines) with its line number and exact bytes."""
    for number, line in enumerate(data.split(b"\n"), start=1):
        if line.strip():
            yield number, json_object(line, f"{what} line {number}"), line


def check_custody(data: bytes, what: str) -> str:
    """Each row's hash is over its other fields; rows ascend; consecutive rows chain."""
    last_seq, last_hash, count = 0, "", 0
    for number, row, line in custody_rows(data, what):
        seq = row.get("seq")
        where = f"{what} row seq {seq} (line {number})"
        if line != canonical_json(row):
            raise CheckFailed(f"{where}: not in canonical form (it was edited)")
        body = {k: v for k, v in row.items() if k != "hash"}
        if hashlib.sha256(canonical_json(body)).hexdigest() != row.get("hash"):
            raise CheckFailed(f"{where}: its hash does not match its content (it was edited)")
        if not isinstance(seq, int) or seq <= last_seq:
            raise CheckFailed(f"{where}: out of order after seq {last_seq}")
        if seq == last_seq + 1 and row.get("prev_hash") != last_hash:
            raise CheckFailed(f"{where}: prev_hash does not chain to seq {last_seq}")
        last_seq, last_hash, count = seq, str(row.get("hash")), count + 1
    return f"{what}: {count} custody rows, each hash matches its row"


def verify_package(path: Path, pinned_key_id: str | None = None) -> Report:
    """Run every check; raises CheckFailed only when the package cannot be read at all."""
    source = open_package(path)
    report = Report()
    try:
        package, hub_key = _check_package_signature(source, report, pinned_key_id)
    except (CheckFailed, OSError, zipfile.BadZipFile) as exc:
        report.failed(f"package manifest: {exc}")
        return report
    hashes = _check_files(source, package, report)
    masters: dict[str, str] = {}
    exhibits = package.get("exhibits")
    listed = exhibits if isinstance(exhibits, list) else []
    for exhibit in sorted(listed, key=lambda e: isinstance(e, dict) and e.get("kind") == "derived"):
        if not isinstance(exhibit, dict):
            report.failed("exhibit entry is not an object")
            continue
        ref = exhibit.get("reference")
        try:
            report.passed(_check_exhibit(source, exhibit, hashes, masters, hub_key))
        except (CheckFailed, OSError, zipfile.BadZipFile) as exc:
            report.failed(f"exhibit {ref}: {exc}")
        custody = exhibit.get("custody")
        if custody:
            try:
                name = _safe_name(custody)
                report.passed(f"exhibit {ref} " + check_custody(source.read_small(name), name))
            except (CheckFailed, OSError, zipfile.BadZipFile) as exc:
                report.failed(f"exhibit {ref} custody: {exc}")
    if not exhibits:
        report.failed("the package lists no exhibits")
    return report


def print_report(report: Report, out: IO[str]) -> None:
    for ok, text in report.lines:
        print(f"{'PASS' if ok else 'FAIL'}  {text}", file=out)
    failures = report.failures()
    if report.ok:
        print(f"RESULT: VERIFIED, all {len(report.lines)} checks passed", file=out)
    else:
        print(f"RESULT: FAILED, {len(failures)} of {len(report.lines)} checks failed:", file=out)
        for text in failures:
            print(f"  - {text}", file=out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="verify.py", description="Check an exported evidence package offline."
    )
    parser.add_argument("package", type=Path, help="the package zip, or the folder it unzips to")
    parser.add_argument("--hub-key-id", help="the hub key id you expect (16 hex digits)")
    args = parser.parse_args(argv)
    try:
        report = verify_package(args.package, args.hub_key_id)
    except (CheckFailed, OSError) as exc:
        print(f"FAILED: cannot read {args.package}: {exc}", file=sys.stderr)
        return 2
    print_report(report, sys.stdout)
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
