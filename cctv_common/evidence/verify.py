"""Offline verification of an evidence item (``cctv-verify DIR --public-key KEY``) or package.

``cctv-verify PACKAGE`` (an export package's zip, or the folder it unzips to) runs the checks of
``cctv_common.evidence.offline_verify``, the verifier copied into every package; there
``--public-key`` is optional and, when given, is the hub key the package must be signed with.

A directory holds ``clip.mp4``, ``manifest.json`` (the exact bytes that were signed) and
``manifest.sig`` (base64 Ed25519 signature). Verification checks, in order: the signature over the
manifest bytes with the given public key, the key id, then the clip's size and SHA-256 against the
manifest. Any mismatch exits 1 with the reason; a usage problem exits 2.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from cctv_common.cli_options import add_common_options, setup_logging
from cctv_common.evidence import offline_verify
from cctv_common.evidence.manifest import InvalidManifest, Manifest
from cctv_common.evidence.signing import BadSignature, KeyFileError, key_id, load_public_key, verify

CLIP_NAME = "clip.mp4"
MANIFEST_NAME = "manifest.json"
SIGNATURE_NAME = "manifest.sig"
HASH_BLOCK = 1024 * 1024


class EvidenceMismatch(Exception):
    """The evidence does not verify; the message says what does not match."""


@dataclass(frozen=True)
class VerifiedEvidence:
    manifest: Manifest
    manifest_bytes: bytes
    signature: str


def sha256_file(path: Path) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as handle:
        while block := handle.read(HASH_BLOCK):
            digest.update(block)
            size += len(block)
    return digest.hexdigest(), size


def verify_signed_manifest(
    manifest_bytes: bytes, signature: str, public_key: Ed25519PublicKey
) -> Manifest:
    """Check the signature, then parse; raises EvidenceMismatch with the reason."""
    try:
        verify(public_key, manifest_bytes, signature)
    except BadSignature as exc:
        raise EvidenceMismatch(str(exc)) from exc
    try:
        manifest = Manifest.parse(manifest_bytes)
    except InvalidManifest as exc:
        raise EvidenceMismatch(str(exc)) from exc
    if manifest.key_id != key_id(public_key):
        raise EvidenceMismatch(
            f"manifest names key {manifest.key_id}; the public key given is {key_id(public_key)}"
        )
    return manifest


def check_clip(manifest: Manifest, clip: Path) -> None:
    digest, size = sha256_file(clip)
    if size != manifest.bytes:
        raise EvidenceMismatch(f"clip is {size} bytes, manifest says {manifest.bytes}")
    if digest != manifest.sha256:
        raise EvidenceMismatch(f"clip SHA-256 is {digest}, manifest says {manifest.sha256}")


def verify_evidence_dir(directory: Path, public_key: Ed25519PublicKey) -> VerifiedEvidence:
    for name in (CLIP_NAME, MANIFEST_NAME, SIGNATURE_NAME):
        if not (directory / name).is_file():
            raise EvidenceMismatch(f"{directory / name} is missing")
    manifest_bytes = (directory / MANIFEST_NAME).read_bytes()
    signature = (directory / SIGNATURE_NAME).read_text(encoding="ascii").strip()
    manifest = verify_signed_manifest(manifest_bytes, signature, public_key)
    check_clip(manifest, directory / CLIP_NAME)
    return VerifiedEvidence(manifest, manifest_bytes, signature)


def is_package(path: Path) -> bool:
    """A package zip, or a folder holding ``package.json`` (itself or its only subfolder)."""
    if path.is_file():
        return True
    try:
        offline_verify.open_package(path)
    except (offline_verify.CheckFailed, OSError):
        return False
    return True


def _verify_package(path: Path, hub_key_path: Path | None) -> int:
    pinned: str | None = None
    if hub_key_path is not None:
        try:
            pinned = key_id(load_public_key(hub_key_path.read_bytes()))
        except (OSError, KeyFileError) as exc:
            print(f"cctv-verify: cannot use public key {hub_key_path}: {exc}", file=sys.stderr)
            return 2
    try:
        report = offline_verify.verify_package(path, pinned)
    except (offline_verify.CheckFailed, OSError) as exc:
        print(f"FAILED: cannot read {path}: {exc}", file=sys.stderr)
        return 1
    offline_verify.print_report(report, sys.stdout)
    return 0 if report.ok else 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cctv-verify",
        description="Check an evidence item offline (signature, key id, clip size and SHA-256),"
        " or a whole export package (its zip or folder).",
    )
    parser.add_argument(
        "directory",
        type=Path,
        help="folder with clip.mp4, manifest.json, manifest.sig; or an export package",
    )
    parser.add_argument(
        "--public-key",
        type=Path,
        help="the site's Ed25519 public key (PEM); for a package, the hub key to expect",
    )
    add_common_options(parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    setup_logging(args, "warning")
    if is_package(args.directory):
        return _verify_package(args.directory, args.public_key)
    if args.public_key is None:
        parser.error("--public-key is needed to check a single evidence item")
    try:
        public_key = load_public_key(args.public_key.read_bytes())
    except (OSError, KeyFileError) as exc:
        print(f"cctv-verify: cannot use public key {args.public_key}: {exc}", file=sys.stderr)
        return 2
    try:
        evidence = verify_evidence_dir(args.directory, public_key)
    except EvidenceMismatch as exc:
        print(f"FAILED: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"FAILED: cannot read evidence: {exc}", file=sys.stderr)
        return 1
    m = evidence.manifest
    print(
        f"OK: clip {m.clip_id} from site {m.site_id} camera {m.camera.id},"
        f" {m.delivered.start.isoformat()} to {m.delivered.end.isoformat()},"
        f" {m.bytes} bytes, SHA-256 {m.sha256}, signed by key {m.key_id}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
