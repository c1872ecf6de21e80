"""The base of every MQTT payload: ``Payload`` (versioned, size-limited, parsed strictly), the
parse limits, ``InvalidPayload`` and the field types the payload modules share.

Each model has ``parse(bytes)`` (size limit, UTF-8 JSON, version, strict field checks; any failure
is one ``InvalidPayload`` with a one-line reason) and ``to_bytes()`` (compact UTF-8 JSON, fields
that are ``None`` left out). Times are timezone-aware and travel as ISO-8601 UTC with a ``Z``.
Chunks are raw bytes, not payloads.
"""

from __future__ import annotations

import base64
import binascii
import json
from datetime import UTC, datetime
from typing import Annotated, ClassVar, Final, Literal, Self

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    ValidationError,
)

from cctv_common.clock import iso_utc
from cctv_common.wire.chunk_ranges import MAX_RANGES, InvalidRanges, Range, validate_ranges
from cctv_common.wire.topics import MAX_CHUNK_INDEX

PAYLOAD_VERSION: Final = 1
MAX_PAYLOAD_BYTES: Final = 256 * 1024
ED25519_SIGNATURE_BYTES: Final = 64
SHA256_PATTERN: Final = r"^[0-9a-f]{64}$"
# A reason names what is wrong, never echoes what was sent: bounded so that junk cannot flood logs.
MAX_REASON_CHARS: Final = 300
MAX_WHERE_CHARS: Final = 80
# Every whole number on the wire fits a signed 64-bit SQLite INTEGER.
MAX_STORED_INT: Final = 2**63 - 1


class InvalidPayload(ValueError):
    """Bytes that are not a valid payload of the expected model and version."""


def _utc(moment: datetime) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("time must carry a time zone (UTC, written with Z)")
    try:
        return moment.astimezone(UTC)
    except OverflowError as exc:  # e.g. 0001-01-01T00:00:00+01:00 is before year 1 in UTC
        raise ValueError("time is out of range once moved to UTC") from exc


UtcTime = Annotated[datetime, AfterValidator(_utc), PlainSerializer(iso_utc, return_type=str)]
Sha256 = Annotated[str, Field(pattern=SHA256_PATTERN, description="SHA-256, 64 lowercase hex")]
ClockOffset = Annotated[
    float,
    Field(
        ge=-366 * 86400,
        le=366 * 86400,
        allow_inf_nan=False,
        description="Camera (or agent) clock minus reference clock, in seconds",
    ),
]
Codec = Annotated[str, Field(min_length=1, max_length=20, description="e.g. h264, h265")]
Pixels = Annotated[int, Field(ge=1, le=16384)]
ChunkRange = Annotated[
    tuple[
        Annotated[int, Field(ge=0, le=MAX_CHUNK_INDEX)],
        Annotated[int, Field(ge=0, le=MAX_CHUNK_INDEX)],
    ],
    Field(description="Inclusive [first, last] chunk indexes"),
]


def _ranges(value: tuple[Range, ...]) -> tuple[Range, ...]:
    try:
        return tuple(validate_ranges(value))
    except InvalidRanges as exc:
        raise ValueError(str(exc)) from exc


ChunkRanges = Annotated[
    tuple[ChunkRange, ...], Field(max_length=MAX_RANGES), AfterValidator(_ranges)
]


def _short(text: str, limit: int) -> str:
    """One line of at most ``limit`` characters: a sender's junk must not flood a log line."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _one_line(model: str, exc: ValidationError) -> str:
    errors = exc.errors(include_url=False)
    first = errors[0]
    # A location part may be a key the sender chose (an extra field): keep it short.
    where = _short(".".join(str(part) for part in first["loc"]), MAX_WHERE_CHARS)
    message = _short(str(first["msg"]).removeprefix("Value error, "), MAX_REASON_CHARS)
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return f"{model} payload: {where + ': ' if where else ''}{message}{more}"


def ed25519_signature(value: str) -> str:
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError("signature is not base64") from exc
    if len(raw) != ED25519_SIGNATURE_BYTES:
        raise ValueError(f"signature is {len(raw)} bytes, not {ED25519_SIGNATURE_BYTES}")
    return value


class _DuplicateKey(ValueError):
    pass


def _unique_keys(pairs: list[tuple[str, object]]) -> dict[str, object]:
    # Two values for one key would let two readers see two different messages.
    result: dict[str, object] = {}
    for key, value in pairs:
        if key in result:
            raise _DuplicateKey(repr(key[:40]))
        result[key] = value
    return result


class PayloadPart(BaseModel):
    """A nested object inside a payload."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Payload(PayloadPart):
    """Base of every top-level payload: versioned, size-limited, parsed strictly."""

    MAX_BYTES: ClassVar[int] = MAX_PAYLOAD_BYTES

    v: Literal[1] = Field(default=1, description="Payload format version")

    @classmethod
    def parse(cls, data: bytes | bytearray) -> Self:
        name = cls.__name__
        if len(data) > cls.MAX_BYTES:
            raise InvalidPayload(f"{name} payload is {len(data)} bytes, over {cls.MAX_BYTES}")
        try:
            raw = json.loads(data.decode("utf-8"), object_pairs_hook=_unique_keys)
        except _DuplicateKey as exc:
            raise InvalidPayload(f"{name} payload has key {exc} twice") from exc
        except RecursionError as exc:
            raise InvalidPayload(f"{name} payload is nested too deeply") from exc
        except ValueError as exc:
            # JSONDecodeError, UnicodeDecodeError, or a number of more than 4300 digits.
            why = (
                "it has a number with too many digits"
                if "digits" in str(exc)
                else _short(str(exc), MAX_REASON_CHARS)
            )
            raise InvalidPayload(f"{name} payload is not UTF-8 JSON: {why}") from exc
        if not isinstance(raw, dict):
            raise InvalidPayload(f"{name} payload is not a JSON object")
        version = raw.get("v", PAYLOAD_VERSION)
        if version != PAYLOAD_VERSION or type(version) is not int:
            raise InvalidPayload(
                f"{name} payload version {_short(repr(version), 20)} is not supported"
                f" (this software reads {PAYLOAD_VERSION})"
            )
        try:
            # Strict JSON rules: no "5" for 5, no 5.0 for 5, no numbers for times.
            return cls.model_validate_json(data, strict=True)
        except ValidationError as exc:
            raise InvalidPayload(_one_line(name, exc)) from exc
        except (ValueError, ArithmeticError, RecursionError) as exc:
            # A validator tripped over something pydantic does not wrap; still the sender's fault.
            raise InvalidPayload(f"{name} payload: {_short(str(exc), MAX_REASON_CHARS)}") from exc

    def to_bytes(self) -> bytes:
        return self.model_dump_json(exclude_none=True).encode("utf-8")
