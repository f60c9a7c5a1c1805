"""What a search returns (pydantic, shared by the service and its client)."""

from __future__ import annotations

from pydantic import BaseModel, Field

from search.facets import Facets

__all__ = ["Passage", "Hit", "SearchResult", "QueryInput"]


class Passage(BaseModel):
    chunk_id: str
    text: str = Field(description="the passage, plain text")
    snippet: str = Field("", description="best window, HTML-escaped, query terms in <mark>")
    score: float
    location: str | None = None


class Hit(BaseModel):
    id: str = Field(description="record id within its library")
    record_id: str = Field(description="same as id")
    record_key: str
    library_id: str
    title: str
    authors: list[str] = Field(default_factory=list)
    year: int | None = None
    language: str | None = None
    type: str = "book"
    subjects: list[str] = Field(default_factory=list)
    score: float
    snippet: str = Field("", description="HTML-escaped, query terms in <mark>")
    passages: list[Passage] = Field(default_factory=list)


class SearchResult(BaseModel):
    total: int = Field(description="matched records (after filters)")
    offset: int = 0
    hits: list[Hit] = Field(default_factory=list)
    facets: Facets = Field(default_factory=Facets)


class QueryInput(BaseModel):
    """The fields of ``nlp.analyze.QueryAnalysis`` that search reads (extra fields are ignored)."""

    original: str = ""
    normalized: str = ""
    folded: str = ""
    has_diacritics: bool = True
    language: str | None = None
    restored: str | None = None
    tokens: list[str] = Field(default_factory=list)
