"""The hub's ``[exhibits]`` settings (issue 12): how exhibit references are made."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator

from hub.domain.exhibit_numbers import DEFAULT_PATTERN, PatternError, check_pattern


class ExhibitSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    reference_pattern: str = Field(
        default=DEFAULT_PATTERN,
        min_length=1,
        max_length=64,
        description="Exhibit reference given at release: {initials} (of the releasing"
        " supervisor), {seq} (their own sequence, required), {request}, {year}, {username}",
    )

    @field_validator("reference_pattern")
    @classmethod
    def _pattern(cls, value: str) -> str:
        try:
            return check_pattern(value)
        except PatternError as exc:
            raise ValueError(str(exc)) from exc
