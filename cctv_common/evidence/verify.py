"""Offline verification of an evidence item: ``cctv-verify DIR --public-key KEY``.

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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="cctv-verify",
        description="Check an evidence item offline: signature, key id, clip size and SHA-256.",
    )
    parser.add_argument("directory", type=Path, help="folder with clip.mp4, manifest.json, .sig")
    parser.add_argument(
        "--public-key", required=True, type=Path, help="the site's Ed25519 public key (PEM)"
    )
    args = parser.parse_args(argv)
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
