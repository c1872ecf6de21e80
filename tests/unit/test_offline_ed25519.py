"""The offline verifier's pure-Python Ed25519 agrees with ``cryptography`` and with RFC 8032."""

from __future__ import annotations

import base64
import os
import random

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from cctv_common.evidence import offline_verify
from cctv_common.evidence.signing import key_id, public_key_pem

# RFC 8032 section 7.1, TEST 1, 2, 3 and SHA(abc): (secret, public, message, signature)
RFC_8032 = [
    (
        "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
        "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
        "",
        "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555"
        "fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
    ),
    (
        "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
        "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
        "72",
        "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da"
        "085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00",
    ),
    (
        "c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
        "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025",
        "af82",
        "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac"
        "18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a",
    ),
]


def _raw(key: Ed25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


@pytest.mark.parametrize(("secret", "public", "message", "signature"), RFC_8032)
def test_rfc_8032_vectors(secret: str, public: str, message: str, signature: str) -> None:
    key = Ed25519PrivateKey.from_private_bytes(bytes.fromhex(secret))
    assert _raw(key).hex() == public
    assert key.sign(bytes.fromhex(message)).hex() == signature  # the vector itself is right
    assert offline_verify.ed25519_verify(
        bytes.fromhex(public), bytes.fromhex(message), bytes.fromhex(signature)
    )
    bad = bytearray.fromhex(signature)
    bad[5] ^= 1
    assert not offline_verify.ed25519_verify(
        bytes.fromhex(public), bytes.fromhex(message), bytes(bad)
    )


def test_agrees_with_cryptography_on_random_keys_and_messages() -> None:
    rng = random.Random(12)
    for _ in range(60):
        key = Ed25519PrivateKey.generate()
        message = os.urandom(rng.randrange(0, 300))
        signature = key.sign(message)
        public = _raw(key)
        assert offline_verify.ed25519_verify(public, message, signature)
        flipped = bytearray(message or b"\x00")
        flipped[rng.randrange(len(flipped))] ^= 1 << rng.randrange(8)
        assert not offline_verify.ed25519_verify(public, bytes(flipped), signature)
        other = _raw(Ed25519PrivateKey.generate())
        assert not offline_verify.ed25519_verify(other, message, signature)
        bad_sig = bytearray(signature)
        bad_sig[rng.randrange(64)] ^= 1 << rng.randrange(8)
        assert not offline_verify.ed25519_verify(public, message, bytes(bad_sig))


def test_rejects_malformed_lengths_and_scalars() -> None:
    key = Ed25519PrivateKey.generate()
    signature = key.sign(b"x")
    public = _raw(key)
    assert not offline_verify.ed25519_verify(public[:31], b"x", signature)
    assert not offline_verify.ed25519_verify(public, b"x", signature[:63])
    s_too_big = signature[:32] + (2**253).to_bytes(32, "little")
    assert not offline_verify.ed25519_verify(public, b"x", s_too_big)
    assert not offline_verify.ed25519_verify(b"\xff" * 32, b"x", signature)


def test_pem_key_and_key_id_match_the_hub_code() -> None:
    key = Ed25519PrivateKey.generate()
    raw = offline_verify.raw_public_key(public_key_pem(key).encode("ascii"))
    assert raw == _raw(key)
    assert offline_verify.key_id(raw) == key_id(key)
    signature = base64.b64encode(key.sign(b"manifest")).decode("ascii")
    offline_verify.check_signature(raw, b"manifest", signature.encode("ascii"))
    with pytest.raises(offline_verify.CheckFailed, match="does not match"):
        offline_verify.check_signature(raw, b"manifesT", signature.encode("ascii"))
    with pytest.raises(offline_verify.CheckFailed, match="not base64"):
        offline_verify.check_signature(raw, b"manifest", b"%%%")
    with pytest.raises(offline_verify.CheckFailed, match="not a PEM"):
        offline_verify.raw_public_key(b"hello")


def test_canonical_json_is_the_hub_rule() -> None:
    from cctv_common.evidence.manifest import canonical_json

    value = {"b": [1, 2.5, "é", None], "a": {"z": True, "y": "\n\u2028"}}
    assert offline_verify.canonical_json(value) == canonical_json(value)
