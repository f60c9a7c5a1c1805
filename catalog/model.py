"""The bibliographic record, its full-text chunks, and the import summary.

A record is identified by ``(library_id, id)``. Full text (digitized files) is held as chunks of
about 200 words, each with a location ("Chương 3", "tr. 12", "đoạn 4") so citations can point at it.
"""

from __future__ import annotations

from pydantic import BaseModel, Field, field_validator

RECORD_TYPES = ("book", "serial", "article", "thesis", "map", "music", "video", "document", "other")


def record_key(library_id: str, record_id: str) -> str:
    """The global key of a record, used by indexes: ``library_id/id``."""
    return f"{library_id}/{record_id}"


class Record(BaseModel):
    id: str = Field(min_length=1, max_length=200)
    library_id: str = Field(min_length=1, max_length=100)
    title: str = Field(min_length=1)
    authors: list[str] = Field(default_factory=list)
    publisher: str | None = None
    year: int | None = Field(default=None, ge=0, le=2100)
    language: str | None = Field(default=None, description="ISO 639-1 code, e.g. 'vi', 'en'")
    isbn: list[str] = Field(default_factory=list)
    ddc: str | None = None
    subjects: list[str] = Field(default_factory=list, description="Headings, subdivisions joined by ' -- '")
    type: str = "book"
    summary: str | None = None
    notes: list[str] = Field(default_factory=list)
    edition: str | None = None
    series: list[str] = Field(default_factory=list)
    extent: str | None = Field(default=None, description="Physical description, e.g. '320 tr. ; 21 cm'")
    holdings: int = Field(default=1, ge=0, description="Number of copies")
    available: int = Field(default=1, ge=0, description="Copies on the shelf now")

    @field_validator("type")
    @classmethod
    def _known_type(cls, v: str) -> str:
        if v not in RECORD_TYPES:
            raise ValueError(f"unknown type {v!r}; expected one of {', '.join(RECORD_TYPES)}")
        return v

    @property
    def key(self) -> str:
        return record_key(self.library_id, self.id)


class Chunk(BaseModel):
    """A passage of a record's full text."""

    chunk_id: str = Field(description="'<library_id>/<record_id>#<seq>'")
    record_id: str
    library_id: str
    seq: int = Field(ge=0)
    text: str
    location: str | None = Field(default=None, description="Chapter, page or paragraph reference")

    @property
    def record_key(self) -> str:
        return record_key(self.library_id, self.record_id)


class ImportProblem(BaseModel):
    """One record or line that could not be imported, and why."""

    file: str
    position: str = Field(description="'record 12', 'line 40', 'page 3' …")
    reason: str


class ImportSummary(BaseModel):
    imported: int = 0
    updated: int = 0
    skipped: int = 0
    errors: list[ImportProblem] = Field(default_factory=list)

    def merge(self, other: ImportSummary) -> None:
        self.imported += other.imported
        self.updated += other.updated
        self.skipped += other.skipped
        self.errors.extend(other.errors)
