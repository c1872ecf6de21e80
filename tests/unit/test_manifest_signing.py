"""Manifest canonical form, golden file round trip, signatures and the offline verifier."""

import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from cctv_common.evidence.manifest import InvalidManifest, Manifest, canonical_json
from cctv_common.evidence.signing import (
    BadSignature,
    key_id,
    load_or_create_private_key,
    load_public_key,
    public_key_pem,
    sign,
    verify,
)
from cctv_common.evidence.verify import EvidenceMismatch, main, verify_evidence_dir
from tests.support.paths import FIXTURES

GOLDEN = FIXTURES / "manifest" / "manifest.json"


def test_golden_manifest_round_trips_to_identical_bytes() -> None:
    data = GOLDEN.read_bytes().strip()
    manifest = Manifest.parse(data)
    assert manifest.canonical_bytes() == data
    assert manifest.camera.manufacturer == "AXIS"
    assert manifest.delivered.start == datetime(2026, 11, 23, 9, 59, 58, tzinfo=UTC)


def test_canonical_json_is_sorted_and_compact() -> None:
    assert canonical_json({"b": 1, "a": "é"}) == '{"a":"é","b":1}'.encode()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"{", "not UTF-8 JSON"),
        (b"[]", "not a JSON object"),
        (b'{"format_version": 2}', "not supported"),
        (b'{"format_version": 1}', "manifest field"),
        (b"x" * (2 * 1024 * 1024), "over"),
    ],
)
def test_bad_manifests_are_refused_clearly(data: bytes, message: str) -> None:
    with pytest.raises(InvalidManifest, match=message):
        Manifest.parse(data)


def test_key_is_created_once_with_mode_0600(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "agent_key.pem"
    key = load_or_create_private_key(path)
    assert path.stat().st_mode & 0o777 == 0o600
    again = load_or_create_private_key(path)
    assert key_id(again) == key_id(key)


def test_signature_verifies_and_detects_changes() -> None:
    key = Ed25519PrivateKey.generate()
    public = load_public_key(public_key_pem(key))
    signature = sign(key, b"manifest bytes")
    verify(public, b"manifest bytes", signature)
    with pytest.raises(BadSignature):
        verify(public, b"manifest bytez", signature)
    with pytest.raises(BadSignature, match="base64"):
        verify(public, b"manifest bytes", "!!!")


def _evidence_dir(tmp_path: Path) -> tuple[Path, Path]:
    key = Ed25519PrivateKey.generate()
    clip = b"\x00\x00\x00\x18ftypisom" + bytes(range(256)) * 40
    raw = Manifest.parse(GOLDEN.read_bytes().strip()).model_dump()
    import hashlib

    raw.update(bytes=len(clip), sha256=hashlib.sha256(clip).hexdigest(), key_id=key_id(key))
    manifest = Manifest.model_validate(raw)
    directory = tmp_path / "evidence"
    directory.mkdir()
    (directory / "clip.mp4").write_bytes(clip)
    (directory / "manifest.json").write_bytes(manifest.canonical_bytes())
    (directory / "manifest.sig").write_text(sign(key, manifest.canonical_bytes()) + "\n")
    public = tmp_path / "site.pub.pem"
    public.write_text(public_key_pem(key))
    return directory, public


def test_verifier_accepts_good_evidence(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    directory, public = _evidence_dir(tmp_path)
    assert main([str(directory), "--public-key", str(public)]) == 0
    assert capsys.readouterr().out.startswith("OK: clip")


@pytest.mark.parametrize("target", ["clip.mp4", "manifest.json", "manifest.sig"])
def test_flipping_one_byte_fails_verification(
    tmp_path: Path, target: str, capsys: pytest.CaptureFixture[str]
) -> None:
    directory, public = _evidence_dir(tmp_path)
    path = directory / target
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    assert main([str(directory), "--public-key", str(public)]) == 1
    assert capsys.readouterr().err.startswith("FAILED:")


def test_wrong_key_and_missing_file_fail(tmp_path: Path) -> None:
    directory, _ = _evidence_dir(tmp_path)
    other = load_public_key(public_key_pem(Ed25519PrivateKey.generate()))
    with pytest.raises(EvidenceMismatch, match="signature"):
        verify_evidence_dir(directory, other)
    shutil.copytree(directory, tmp_path / "copy")
    (tmp_path / "copy" / "manifest.sig").unlink()
    with pytest.raises(EvidenceMismatch, match="missing"):
        verify_evidence_dir(tmp_path / "copy", other)


def test_unusable_public_key_is_a_usage_error(tmp_path: Path) -> None:
    directory, _ = _evidence_dir(tmp_path)
    bad = tmp_path / "bad.pem"
    bad.write_text("not a key")
    assert main([str(directory), "--public-key", str(bad)]) == 2
