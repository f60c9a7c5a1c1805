"""Request and response models of the recommender API, shared by the service and the gateway."""

from __future__ import annotations

from pydantic import BaseModel, Field

from recommender.loans_store import Loan


class HistoryItem(BaseModel):
    record_id: str = Field(min_length=1, max_length=200)
    library_id: str = Field(min_length=1, max_length=100)


class RecommendRequest(BaseModel):
    history: list[HistoryItem] = Field(default_factory=list, max_length=2000)
    k: int = Field(10, ge=1, le=100)
    library_id: str | None = None
    available_only: bool = False


class RecItem(BaseModel):
    record_id: str
    library_id: str
    title: str
    score: float
    reason: str


class RecResponse(BaseModel):
    items: list[RecItem]
    model: str
    warnings: list[str] = Field(default_factory=list)


class LoansRequest(BaseModel):
    loans: list[Loan] = Field(min_length=1, max_length=10_000)
