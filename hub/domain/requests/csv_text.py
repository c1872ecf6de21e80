"""CSV for people's spreadsheets: RFC 4180 (comma, CRLF, double quotes doubled), UTF-8, fixed
columns, and no formula injection: a text cell starting with = + - @ (or a tab or carriage
return, after any leading spaces) is prefixed with ' so a spreadsheet shows it and never runs it.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from typing import Final

FORMULA_STARTS: Final = ("=", "+", "-", "@", "\t", "\r")
BOM: Final = "\ufeff"

Cell = str | int | float | None


def safe_cell(value: Cell) -> str:
    """``value`` as a cell: None is empty, numbers as written, text defused if formula-like."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int | float):
        return str(value)
    if value.startswith(FORMULA_STARTS) or value.lstrip(" ").startswith(FORMULA_STARTS):
        return "'" + value
    return value


def csv_text(header: Sequence[str], rows: Iterable[Sequence[Cell]]) -> str:
    """The header and rows as RFC 4180 CSV text (CRLF line ends, fields quoted when needed)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)
    writer.writerow([safe_cell(name) for name in header])
    width = len(header)
    for row in rows:
        if len(row) != width:
            raise ValueError(f"a CSV row has {len(row)} cells; the header has {width}")
        writer.writerow([safe_cell(cell) for cell in row])
    return out.getvalue()


def csv_bytes(header: Sequence[str], rows: Iterable[Sequence[Cell]], *, bom: bool = False) -> bytes:
    """``csv_text`` in UTF-8; ``bom=True`` adds the byte-order mark Excel needs to read UTF-8."""
    return ((BOM if bom else "") + csv_text(header, rows)).encode("utf-8")
