"""The uploader's statement: who they are, where and when the footage is from, how they came
to have it, and their declaration that it is true and unaltered. It is kept with every file
and signed into the hub's receipt, so it is checked strictly here."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any, Final

from hub.domain.uploads.links import UploadRefused

MAX_FIELD: Final = 2000
MAX_STATEMENT_BYTES: Final = 12 * 1024
DECLARATION: Final = (
    "I declare that the footage I am uploading is, to the best of my knowledge, a true and"
    " unaltered copy of what was recorded, and that the statement above is true."
)
_REQUIRED: Final = {
    "name": "your name",
    "organisation": "your role or organisation",
    "footage_from": "where and when the footage is from",
    "obtained": "how the footage was obtained",
}
_OPTIONAL: Final = ("contact",)


@dataclass(frozen=True)
class UploaderStatement:
    name: str
    organisation: str
    footage_from: str
    obtained: str
    contact: str
    declaration: str  # the words they agreed to, kept verbatim

    def as_dict(self) -> dict[str, str]:
        return asdict(self)


def parse_statement(raw: str | bytes) -> UploaderStatement:
    """The statement from the page's JSON, or ``UploadRefused(400)`` saying what is missing."""
    if len(raw) > MAX_STATEMENT_BYTES:
        raise UploadRefused(400, "the statement is too long")
    try:
        data: Any = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise UploadRefused(400, "the statement is not readable (JSON expected)") from exc
    if not isinstance(data, dict):
        raise UploadRefused(400, "the statement is not readable (JSON object expected)")
    allowed = set(_REQUIRED) | set(_OPTIONAL) | {"declaration"}
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise UploadRefused(400, f"the statement has unknown fields: {', '.join(unknown[:5])}")
    values: dict[str, str] = {}
    for key in (*_REQUIRED, *_OPTIONAL):
        value = data.get(key, "")
        if not isinstance(value, str):
            raise UploadRefused(400, f"the statement's {key} must be text")
        value = value.strip()
        if len(value) > MAX_FIELD:
            raise UploadRefused(400, f"the statement's {key} is over {MAX_FIELD} characters")
        if key in _REQUIRED and not value:
            raise UploadRefused(400, f"the statement needs {_REQUIRED[key]}")
        values[key] = value
    if data.get("declaration") is not True:
        raise UploadRefused(400, "tick the declaration that the footage is true and unaltered")
    return UploaderStatement(**values, declaration=DECLARATION)
