"""The disclosure log: numbered entries for verified items only, and a CSV a spreadsheet cannot
be tricked by."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from typing import Any

import pytest

from hub.domain.requests.csv_text import csv_bytes, csv_text, safe_cell
from hub.domain.requests.disclosure import (
    COLUMNS,
    DisclosureEntry,
    DisclosureRefused,
    ReleaseItem,
    export_csv,
    new_entry,
    sequence_problems,
)
from hub.domain.requests.request import IncidentWindow, LawfulBasis
from tests.support.request_kit import NOW

WINDOW = IncidentWindow(NOW - timedelta(hours=3), NOW - timedelta(hours=2, minutes=30))
SHA_A = "a" * 64
SHA_B = "0123456789abcdef" * 4


def items(*, verified: bool = True) -> list[ReleaseItem]:
    return [
        ReleaseItem("clip-1", SHA_A, "town-centre/cam-1", WINDOW, verified),
        ReleaseItem("clip-2", SHA_B, "town-centre/cam-2", WINDOW, True),
    ]


def entry(previous: int = 0, **changes: Any) -> DisclosureEntry:
    values: dict[str, Any] = {
        "disclosed_at": NOW,
        "request": "R-12",
        "recipient_name": "DC Jane Smith 4521",
        "recipient_organisation": "Cleveland Police",
        "purpose": "Investigation of assault CR/012345/24",
        "lawful_basis": LawfulBasis.CRIME_EXEMPTION,
        "disclosed_by": "sup-1",
        "items": items(),
        "also_to": ("dc-brown",),
    }
    values.update(changes)
    return new_entry(previous, **values)


def rows(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode("utf-8"), newline="")))


def test_entries_are_numbered_in_sequence() -> None:
    first = entry()
    second = entry(first.number)
    assert (first.number, second.number) == (1, 2)
    assert [i.item_id for i in first.items] == ["clip-1", "clip-2"]


def test_unverified_items_cannot_be_released() -> None:
    with pytest.raises(DisclosureRefused, match="'clip-1' has not been verified at the hub"):
        entry(items=items(verified=False))


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"items": []}, "at least one evidence item"),
        (
            {"items": [ReleaseItem("c", "A" * 64, "x", WINDOW, True)]},
            "has no SHA-256",
        ),
        ({"items": items()[:1] * 2}, "listed twice"),
        ({"recipient_name": " "}, "the recipient's name is required"),
        ({"recipient_organisation": "Police\r\nX"}, "write it on one line"),
        ({"purpose": ""}, "the purpose is required"),
        ({"disclosed_by": "../x"}, "the releasing user"),
        ({"also_to": ("a b",)}, "colleague 'a b'"),
        ({"previous": -1}, "is not a number of the log"),
    ],
)
def test_bad_releases_are_refused(changes: dict[str, Any], message: str) -> None:
    previous = changes.pop("previous", 0)
    with pytest.raises(DisclosureRefused, match=message):
        entry(previous, **changes)


def test_csv_has_stable_columns_one_row_per_item() -> None:
    data = export_csv([entry(1), entry()])
    assert data.endswith(b"\r\n")
    header, *body = rows(data)
    assert tuple(header) == COLUMNS
    assert [(r[0], r[10], r[14]) for r in body] == [
        ("1", "clip-1", SHA_A),
        ("1", "clip-2", SHA_B),
        ("2", "clip-1", SHA_A),
        ("2", "clip-2", SHA_B),
    ]
    first = dict(zip(COLUMNS, body[0], strict=True))
    assert first["disclosed_at_utc"] == "2024-03-02T09:00:00Z"
    assert first["disclosed_local"] == "09:00 on Sat 2 Mar 2024"
    assert first["also_to"] == "dc-brown"
    assert first["lawful_basis"].startswith("DPA 2018 Schedule 2, Part 1, paragraph 2")
    assert first["footage_start_utc"] == "2024-03-02T06:00:00Z"


def test_csv_defuses_formulas_and_quotes_commas_quotes_and_utf8() -> None:
    hostile = entry(
        recipient_name='=HYPERLINK("http://x","click")',
        recipient_organisation="@SUM(1,2)",
        purpose='+1, "quoted" - Zoë Ó Briain',
    )
    record = dict(zip(COLUMNS, rows(export_csv([hostile]))[1], strict=True))
    assert record["recipient"] == '\'=HYPERLINK("http://x","click")'
    assert record["organisation"] == "'@SUM(1,2)"
    assert record["purpose"] == '\'+1, "quoted" - Zoë Ó Briain'
    assert b'"\'+1, ""quoted"" - Zo\xc3\xab' in export_csv([hostile])


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("=1+1", "'=1+1"),
        ("-2", "'-2"),
        ("+44 1642", "'+44 1642"),
        ("@cmd", "'@cmd"),
        ("\t=x", "'\t=x"),
        ("  =x", "'  =x"),
        ("a=b", "a=b"),
        ("", ""),
        (None, ""),
        (3, "3"),
        (2.5, "2.5"),
        (True, "yes"),
    ],
)
def test_safe_cell(value: str | int | float | None, expected: str) -> None:
    assert safe_cell(value) == expected


def test_csv_bom_and_width_check() -> None:
    assert csv_bytes(["a"], [["b"]], bom=True).startswith(b"\xef\xbb\xbfa\r\n")
    assert csv_text(["a", "b"], [["x\ny", 'q"']]) == 'a,b\r\n"x\ny","q"""\r\n'
    with pytest.raises(ValueError, match="has 1 cells; the header has 2"):
        csv_text(["a", "b"], [["x"]])


def test_sequence_problems() -> None:
    assert sequence_problems([1, 2, 3]) == []
    assert sequence_problems([2, 3, 3, 6, 10**9]) == [
        "entry 1 is missing",
        "entry 3 appears more than once",
        "entries 4 to 5 are missing",
        f"entries 7 to {10**9 - 1} are missing",
    ]
