"""The pure rules of upload links: tokens and their hash, link limits decided before any byte
is written, the file type by content (never by name), the tus headers, the uploader's
statement, and the per-address rate limit."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta

import pytest

from hub.domain.uploads import media
from hub.domain.uploads.links import (
    LinkBounds,
    LinkDraft,
    LinkState,
    LinkUse,
    UploadRefused,
    check_draft,
    check_new_file,
    make_link,
    new_token,
    token_hash,
    well_formed_token,
)
from hub.domain.uploads.rate import SlidingLimit
from hub.domain.uploads.statement import parse_statement
from hub.domain.uploads.tus import (
    check_content_length,
    check_patch,
    clean_filename,
    parse_metadata,
)

NOW = datetime(2026, 3, 2, 21, 0, tzinfo=UTC)
DRAFT = LinkDraft("Sam Patel", "Patel's", "sam@example.org", "the assault", 7, 1000, 2)


def test_a_token_is_long_random_and_only_its_hash_is_kept() -> None:
    token = new_token()
    assert well_formed_token(token) and token != new_token()
    link = make_link(DRAFT, request="R-2026-0001", token=token, created_by="sv", now=NOW)
    assert link.token_hash == token_hash(token) and token not in repr(link)
    assert not well_formed_token("../../etc/passwd") and not well_formed_token(token[:-1])


def test_a_link_expires_and_can_be_withdrawn() -> None:
    link = make_link(DRAFT, request="R-2026-0001", token=new_token(), created_by="sv", now=NOW)
    assert link.state(NOW + timedelta(days=6)) is LinkState.ACTIVE
    assert link.state(NOW + timedelta(days=7)) is LinkState.EXPIRED
    with pytest.raises(UploadRefused) as refused:
        check_new_file(link, LinkUse(0, 0), 10, NOW + timedelta(days=8))
    assert refused.value.status == 410 and "expired" in refused.value.message


@pytest.mark.parametrize(
    ("use", "length", "status"),
    [(LinkUse(0, 0), 1001, 413), (LinkUse(1, 900), 101, 413), (LinkUse(2, 10), 1, 403)],
)
def test_limits_are_decided_before_any_byte(use: LinkUse, length: int, status: int) -> None:
    link = make_link(DRAFT, request="R-2026-0001", token=new_token(), created_by="sv", now=NOW)
    check_new_file(link, LinkUse(1, 900), 100, NOW)  # exactly what is left
    with pytest.raises(UploadRefused) as refused:
        check_new_file(link, use, length, NOW)
    assert refused.value.status == status


def test_a_draft_is_bounded() -> None:
    bounds = LinkBounds(max_valid_days=30, max_bytes=10_000, max_files=5)
    assert check_draft(DRAFT, bounds) == DRAFT
    for bad in (
        LinkDraft("", "", "", "x"),
        LinkDraft("a", "", "not-an-address", "x"),
        LinkDraft("a", "", "", "x", valid_days=31),
        LinkDraft("a", "", "", "x", max_bytes=10_001),
        LinkDraft("a", "", "", "x", max_files=6),
    ):
        with pytest.raises(UploadRefused):
            check_draft(bad, bounds)


def _ftyp(major: bytes, *compatible: bytes) -> bytes:
    body = major + b"\x00\x00\x02\x00" + b"".join(compatible)
    return (8 + len(body)).to_bytes(4, "big") + b"ftyp" + body + b"\x00" * 64


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        (_ftyp(b"isom", b"isom", b"avc1"), media.MP4),
        (_ftyp(b"qt  ", b"qt  "), media.MOV),
        (_ftyp(b"heic", b"mif1", b"heic"), media.HEIC),
        (b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01\x42\x82\x88matroska" + b"\x00" * 40, media.MKV),
        (b"RIFF\x00\x10\x00\x00AVI LIST" + b"\x00" * 40, media.AVI),
        ((b"\x47" + b"\x00" * 187) * 4, media.TS),
        (b"\xff\xd8\xff\xe0\x00\x10JFIF", media.JPEG),
        (b"\x89PNG\r\n\x1a\n\x00\x00", media.PNG),
    ],
)
def test_the_type_is_known_by_content(head: bytes, expected: media.MediaType) -> None:
    assert media.sniff(head) is expected


@pytest.mark.parametrize(
    "head",
    [
        b"%PDF-1.7\n",
        b"PK\x03\x04 a zip named clip.mp4",
        b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01\x42\x82\x84webm" + b"\x00" * 40,
        b"MZ\x90\x00 an executable",
        b"",
        (b"\x47" + b"\x00" * 187),  # one TS packet's sync byte is not enough
    ],
)
def test_anything_else_is_refused(head: bytes) -> None:
    assert media.sniff(head) is None


def _meta(**values: bytes) -> str:
    return ",".join(f"{k} {base64.b64encode(v).decode()}" for k, v in values.items())


def test_tus_metadata_and_file_names() -> None:
    parsed = parse_metadata(_meta(filename=b"door.mp4", statement=b"{}") + ",flag")
    assert parsed == {"filename": b"door.mp4", "statement": b"{}", "flag": b""}
    for bad in ("filename !!!", "a b c", _meta(a=b"1") + "," + _meta(a=b"2"), "k" * 70 + " eA=="):
        with pytest.raises(UploadRefused):
            parse_metadata(bad)
    assert clean_filename(b"../../etc/passwd") == "passwd"
    assert clean_filename(b"C:\\Users\\me\\shop door.mp4") == "shop door.mp4"
    assert clean_filename(b"..") == "unnamed"
    assert "\n" not in clean_filename(b"a\nb<script>.mp4")


def test_a_patch_continues_at_the_offset_only() -> None:
    kind = "application/offset+octet-stream"
    assert check_patch(content_type=kind, offset_header="10", offset=10, length=20).offset == 10
    cases = [("text/plain", "10", 415), (kind, "9", 409), (kind, "x", 400)]
    for content_type, offset, status in cases:
        with pytest.raises(UploadRefused) as refused:
            check_patch(content_type=content_type, offset_header=offset, offset=10, length=20)
        assert refused.value.status == status
    with pytest.raises(UploadRefused) as over:
        check_content_length("11", 10, 20)
    assert over.value.status == 413
    check_content_length("10", 10, 20)


def test_the_statement_needs_each_answer_and_the_declaration() -> None:
    good = {
        "name": "Sam",
        "organisation": "Shop",
        "footage_from": "door, 2 March",
        "obtained": "USB export",
        "declaration": True,
    }
    statement = parse_statement(json.dumps(good))
    assert statement.name == "Sam" and "true and unaltered" in statement.declaration
    for change in ({"declaration": False}, {"obtained": " "}, {"extra": "x"}, {"name": 3}):
        with pytest.raises(UploadRefused):
            parse_statement(json.dumps(good | change))
    with pytest.raises(UploadRefused):
        parse_statement(b"not json")


def test_the_rate_limit_slides() -> None:
    limit = SlidingLimit(limit=2, window_seconds=60, max_keys=2)
    assert limit.allow("a", 0) and limit.allow("a", 1) and not limit.allow("a", 2)
    assert limit.full("a", 2) and not limit.full("b", 2)
    assert limit.allow("a", 61)  # the first hit has left the window
    assert limit.allow("b", 62) and limit.allow("c", 200)  # idle keys are forgotten
