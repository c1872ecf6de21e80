"""Ids that travel in MQTT topics and file paths: sites, cameras, jobs, clips, live sessions.

One rule for all of them, so that an id can never add a topic level (``/``), act as a wildcard
(``+``, ``#``), climb out of a directory (``..``) or hide a second line (``\\n``).
"""

from __future__ import annotations

import re
from typing import Annotated, Final

from pydantic import AfterValidator, Field
from pydantic.fields import FieldInfo

ID_PATTERN: Final = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$"
MAX_ID_LENGTH: Final = 64
# fullmatch, not match: in Python ``$`` also matches before a trailing newline.
_ID_RE: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
_SHOWN_CHARS: Final = 80


class InvalidId(ValueError):
    """A value that cannot be used as an id in a topic or a path."""


def is_valid_id(value: object) -> bool:
    return isinstance(value, str) and _ID_RE.fullmatch(value) is not None


def validate_id(kind: str, value: str) -> str:
    """Return ``value`` if it is a valid id of this kind ("site", "camera", ...), else raise."""
    if is_valid_id(value):
        return value
    shown = repr(value)
    if len(shown) > _SHOWN_CHARS:
        shown = shown[:_SHOWN_CHARS] + "..."
    raise InvalidId(
        f"{kind} id {shown} is not allowed: use letters, digits, _ and -, "
        f"starting with a letter or digit, at most {MAX_ID_LENGTH}"
    )


def _schema(kind: str) -> FieldInfo:
    # The pattern goes into the JSON schema only; the validator below gives the readable message.
    return Field(
        description=f"{kind.capitalize()} id: letters, digits, _ and -, at most {MAX_ID_LENGTH}",
        json_schema_extra={"pattern": ID_PATTERN, "minLength": 1, "maxLength": MAX_ID_LENGTH},
    )


def _site(value: str) -> str:
    return validate_id("site", value)


def _camera(value: str) -> str:
    return validate_id("camera", value)


def _job(value: str) -> str:
    return validate_id("job", value)


def _clip(value: str) -> str:
    return validate_id("clip", value)


def _session(value: str) -> str:
    return validate_id("live session", value)


# Pydantic field types for ids.
SiteId = Annotated[str, AfterValidator(_site), _schema("site")]
CameraId = Annotated[str, AfterValidator(_camera), _schema("camera")]
JobId = Annotated[str, AfterValidator(_job), _schema("job")]
ClipId = Annotated[str, AfterValidator(_clip), _schema("clip")]
SessionId = Annotated[str, AfterValidator(_session), _schema("live session")]
