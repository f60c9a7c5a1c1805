"""Request shape of the QA API (responses are ``qa_service.types.AskResult``)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

MAX_QUESTION_CHARS = 2000
MAX_K = 20
MODES = ("extractive", "generative")


class AskRequest(BaseModel):
    question: Any = Field(None, description="the reader's question (1–2,000 characters)")
    history: list[dict[str, Any]] = Field(
        default_factory=list, description="earlier turns {role, content}, last 6 used"
    )
    library_id: str | None = Field(None, max_length=100)
    k: int = Field(5, ge=1, le=MAX_K, description="citations and passages returned")
    mode: Any = Field("extractive", description="'extractive' (default) or 'generative'")
