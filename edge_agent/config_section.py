"""The base of every agent config section (unknown keys refused, values frozen once loaded)
and the id type its sections share."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from cctv_common.wire.ids import ID_PATTERN

CameraId = Annotated[
    str,
    Field(
        pattern=ID_PATTERN,
        description="Camera id: letters, digits, _ and -, at most 64; used in topics and paths",
    ),
]


class ConfigSection(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
