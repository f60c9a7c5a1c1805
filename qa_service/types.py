"""The shapes that cross the QA pipeline's edges."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

Mode = Literal["extractive", "generative"]
QuestionType = Literal["person", "time", "place", "number", "definition", "yesno", "other"]

REFUSAL_VI = "Thư viện chưa có tài liệu trả lời câu hỏi này"
REFUSAL_EN = "The library has no document that answers this question yet"


class Passage(BaseModel):
    """A retrieved passage of a record (a full-text chunk or the record's metadata text)."""

    chunk_id: str
    record_id: str
    library_id: str
    title: str = ""
    text: str
    score: float = 0.0
    location: str | None = None
    authors: list[str] = Field(default_factory=list, description="the record's authors (catalogue metadata)")
    year: int | None = None
    kind: Literal["chunk", "record"] = Field(
        "chunk", description="'record': the record's catalogue entry (title, authors, year), not text to quote"
    )


class Citation(BaseModel):
    record_id: str
    library_id: str
    chunk_id: str
    title: str
    quote: str
    location: str | None = None


class ClosestRecord(BaseModel):
    record_id: str
    library_id: str
    title: str
    chunk_id: str | None = None


class Turn(BaseModel):
    role: Literal["user", "assistant"] = "user"
    content: str = Field(max_length=4000)


class AskResult(BaseModel):
    answer: str
    short_answer: str | None = None
    refused: bool = False
    confidence: float = 0.0
    citations: list[Citation] = Field(default_factory=list)
    passages: list[Passage] = Field(default_factory=list)
    closest_records: list[ClosestRecord] = Field(default_factory=list)
    mode: Mode = "extractive"
    question_type: QuestionType = "other"
    standalone_query: str = ""
    fallback_reason: str | None = Field(None, description="why a generative request was answered extractively")
    dropped_sentences: int = Field(0, description="generated sentences removed for lacking a valid citation")
