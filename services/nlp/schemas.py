"""Request and response bodies of the nlp service (the domain models live in ``nlp``)."""

from __future__ import annotations

import re

from pydantic import BaseModel, Field

from nlp.langid import LanguageGuess

MAX_TEXT_CHARS = 10_000
MAX_TEXTS = 10_000
# C0 and C1 control characters other than tab, line feed and carriage return.
CONTROL_RE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


class AnalyzeRequest(BaseModel):
    q: str = Field(description="the search query, Vietnamese with or without diacritics, or English")
    segment: bool = Field(True, description="also segment words (underthesea; about a millisecond)")


class TextsRequest(BaseModel):
    texts: list[str] = Field(description=f"1 to {MAX_TEXTS} texts of at most {MAX_TEXT_CHARS} characters")


class LearnRequest(TextsRequest):
    save: bool = Field(True, description="write the restorer to its file afterwards (when it has one)")


class RestoreRequest(BaseModel):
    q: str


class NormalizeResponse(BaseModel):
    normalized: list[str]
    folded: list[str]


class SegmentResponse(BaseModel):
    words: list[list[str]] = Field(description="per text: lower-case words, syllables joined by '_'")


class SentencesResponse(BaseModel):
    sentences: list[list[str]]


class LangidResponse(BaseModel):
    guesses: list[LanguageGuess]


class RestoreResponse(BaseModel):
    q: str
    restored: str = Field(description="the query with diacritics restored where the collection knows how")
    suggestion: str | None = Field(None, description="the 'did you mean' text, None when nothing to suggest")


class RestorerStats(BaseModel):
    syllables: int
    tokens: int
    bigrams: int
    trigrams: int
    lines_learnt: int
    lines_skipped: int
    saved: bool = False
    path: str | None = None
