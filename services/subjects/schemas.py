"""Request and response bodies of the subjects service (pydantic at the edge)."""

from __future__ import annotations

from pydantic import BaseModel, Field, model_validator


class TextInput(BaseModel):
    text: str | None = Field(None, description="Full text, or title + summary + table of contents.")
    title: str | None = None
    summary: str | None = None
    toc: str | None = None

    def joined(self) -> str:
        if self.text and self.text.strip():
            return self.text
        return "\n".join(p for p in (self.title, self.summary, self.toc) if p and p.strip())


class SuggestRequest(TextInput):
    vocab: str = Field(..., description="Project id, or the id of a vocabulary that a project uses.")
    limit: int = Field(10, ge=0, le=1000)
    threshold: float = Field(0.0, ge=0.0, le=1.0)
    lang: str | None = Field(None, description="Language of the labels (vi or en).")


class SuggestionOut(BaseModel):
    uri: str
    label: str
    score: float
    sources: list[str] = []
    notation: str | None = None


class SuggestResponse(BaseModel):
    project: str
    vocab: str
    results: list[SuggestionOut]
    warnings: list[str] = []


class BatchDocument(TextInput):
    id: str | None = None


class SuggestBatchRequest(BaseModel):
    vocab: str
    documents: list[BatchDocument] = Field(..., min_length=1, max_length=100)
    limit: int = Field(10, ge=0, le=1000)
    threshold: float = Field(0.0, ge=0.0, le=1.0)
    lang: str | None = None


class BatchItem(BaseModel):
    id: str | None = None
    results: list[SuggestionOut]
    warnings: list[str] = []


class SuggestBatchResponse(BaseModel):
    project: str
    vocab: str
    results: list[BatchItem]


class LearnRequest(TextInput):
    vocab: str
    accepted: list[str] = Field(default_factory=list, description="URIs the cataloguer accepted or added.")
    rejected: list[str] = Field(default_factory=list, description="URIs the cataloguer rejected.")

    @model_validator(mode="after")
    def _something(self) -> LearnRequest:
        if not self.accepted and not self.rejected:
            raise ValueError("give at least one accepted or rejected subject")
        return self


class LearnResponse(BaseModel):
    project: str
    accepted: int
    rejected: int
