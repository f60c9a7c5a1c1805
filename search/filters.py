"""Search filters, turned into a boolean mask over document slots *before* ranking.

``subject`` matches a heading exactly or any of its leading parts before " -- "
("Việt Nam -- Lịch sử" matches the filter "Việt Nam" and "Việt Nam -- Lịch sử").
An unknown value raises :class:`UnknownFilterValue` so a service can answer 4xx.
"""

from __future__ import annotations

from pydantic import BaseModel, Field, model_validator

from catalog.model import RECORD_TYPES

__all__ = ["Filters", "UnknownFilterValue", "FILTER_FIELDS", "subject_keys", "norm_value"]

FILTER_FIELDS = ("library_id", "language", "type", "subject", "year")


class UnknownFilterValue(ValueError):
    """A filter names a value the index does not know (e.g. a library that does not exist)."""

    def __init__(self, field: str, value: str, known: list[str] | None = None) -> None:
        self.field = field
        self.value = value
        self.known = known or []
        hint = f"; known values: {', '.join(self.known[:20])}" if self.known else ""
        super().__init__(f"unknown value {value!r} for filter {field!r}{hint}")


class Filters(BaseModel):
    library_id: str | list[str] | None = Field(default=None, description="one library or a list")
    language: str | None = Field(default=None, max_length=20)
    year_from: int | None = Field(default=None, ge=0, le=2100)
    year_to: int | None = Field(default=None, ge=0, le=2100)
    type: str | None = None
    subject: str | None = Field(default=None, max_length=500)

    @model_validator(mode="after")
    def _check(self) -> Filters:
        if self.year_from is not None and self.year_to is not None and self.year_from > self.year_to:
            raise ValueError(f"year_from ({self.year_from}) is after year_to ({self.year_to})")
        if self.type is not None and self.type not in RECORD_TYPES:
            raise ValueError(f"unknown type {self.type!r}; expected one of {', '.join(RECORD_TYPES)}")
        return self

    def libraries(self) -> list[str]:
        if self.library_id is None:
            return []
        return [self.library_id] if isinstance(self.library_id, str) else list(self.library_id)

    def is_empty(self) -> bool:
        return not any(
            v is not None
            for v in (self.library_id, self.language, self.year_from, self.year_to, self.type, self.subject)
        )


def norm_value(value: str) -> str:
    """Case- and whitespace-insensitive comparison form of a filter value (NFC + tone placement)."""
    from nlp.normalize import normalize

    return " ".join(normalize(value).casefold().split())


def subject_keys(heading: str) -> list[str]:
    """The heading and each leading part before " -- ", in comparison form."""
    parts = [p.strip() for p in heading.split("--")]
    parts = [p for p in parts if p]
    return [norm_value(" -- ".join(parts[: i + 1])) for i in range(len(parts))]
